import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/protocol/errors.js';
import { SpectralSubtractor } from '../../src/dsp/spectral-subtraction.js';
import {
  chunks, db, energy, gaussian, maxAbsDiff, randomSizes, readF32, runStream,
} from './helpers.js';

/** AN4 "five five three five" (~1.9 s, 16 kHz), shared with the fbank fixtures. */
const speech = readF32('fbank/speech.wav.f32');

/** Pink noise (Paul Kellet's economy filter over seeded white noise), unit-ish variance. */
function pink(n: number, seed: number): Float32Array {
  const w = gaussian(n, seed);
  const out = new Float32Array(n);
  let b0 = 0, b1 = 0, b2 = 0;
  for (let i = 0; i < n; i++) {
    b0 = 0.99765 * b0 + w[i]! * 0.099046;
    b1 = 0.963 * b1 + w[i]! * 0.2965164;
    b2 = 0.57 * b2 + w[i]! * 1.0526913;
    out[i] = b0 + b1 + b2 + w[i]! * 0.1848;
  }
  return out;
}

/** clean + noise scaled to `snrDb` over the whole clip; returns [mixture, scaled noise]. */
function mix(clean: Float32Array, noise: Float32Array, snrDb: number): [Float32Array, Float32Array] {
  const k = Math.sqrt(energy(clean) / energy(noise) / 10 ** (snrDb / 10));
  const scaled = noise.map((v) => v * k);
  return [clean.map((v, i) => v + scaled[i]!), scaled];
}

function snrOf(clean: Float32Array, estimate: Float32Array): number {
  let e = 0;
  for (let i = 0; i < clean.length; i++) e += (estimate[i]! - clean[i]!) ** 2;
  return db(energy(clean) / e);
}

function correlation(a: Float32Array, b: Float32Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

describe('SpectralSubtractor', () => {
  it('reconstructs the input exactly (time-aligned) when the noise estimate is zero', () => {
    // 200 ms of digital silence first: the learnt noise is exactly 0, no frame is a pause afterwards
    // (its SNR is infinite), so every gain is 1 and the output is the windowed overlap-add of the input.
    const x = gaussian(8000, 3, 0.3);
    x.fill(0, 0, 3584); // frames 0 .. 12 (initNoiseMs 200 -> 13 frames) end at 13 * 256
    const y = runStream(new SpectralSubtractor(), chunks(x, [300]));
    expect(y.length).toBe(x.length);
    let err = 0;
    for (let i = 0; i < x.length; i++) err = Math.max(err, Math.abs(y[i]! - x[i]!));
    expect(err).toBeLessThan(1e-6);
  });

  it('chunking never changes the output (20 x 50 ms, random sizes)', () => {
    const [x] = mix(speech, gaussian(speech.length, 11), 5);
    const whole = runStream(new SpectralSubtractor(), [x]);
    expect(whole.length).toBe(x.length);
    const ss = new SpectralSubtractor();
    expect(runStream(ss, chunks(x.subarray(0, 16000), [800]))).toEqual(
      runStream(new SpectralSubtractor(), [x.subarray(0, 16000)]),
    );
    expect(runStream(ss, chunks(x, randomSizes(5, 400, 900)))).toEqual(whole);
    expect(runStream(ss, chunks(x, [1, 255, 257, 3]))).toEqual(whole);
  });

  it('emits output before the end of stream, one hop (16 ms) behind', () => {
    const ss = new SpectralSubtractor();
    expect(ss.latencyMs).toBe(16);
    const x = gaussian(16000, 4, 0.1);
    let out = 0;
    for (let t = 800; t <= 16000; t += 800) {
      out += ss.push(x.subarray(t - 800, t)).length;
      expect(out).toBe(Math.floor(t / 256) * 256 - 256);
    }
    expect(out + ss.flush().length).toBe(16000);
  });

  // The defaults are gentle (over-subtraction 2, floor 0.3: at most ~5 dB less noise) because that is what the
  // acoustic model transcribes best (training/voxgate_train/tune_denoise.py and the model card); the algorithm's
  // reach is tested at Berouti's classic setting.
  const STRONG = { overSubtraction: 4, spectralFloor: 0.02 };
  for (const [name, noise, strongDb, defaultDb] of [
    ['white', gaussian(speech.length, 21), 5, 2],
    ['pink', pink(speech.length, 22), 3, 1.5],
  ] as const) {
    it(`improves SNR of speech in ${name} noise at 5 dB`, () => {
      const [x] = mix(speech, noise, 5);
      const before = snrOf(speech, x);
      const strong = snrOf(speech, runStream(new SpectralSubtractor(STRONG), chunks(x, [320])));
      const gentle = snrOf(speech, runStream(new SpectralSubtractor(), chunks(x, [320])));
      console.info(`spectral subtraction, ${name} noise: SNR ${before.toFixed(2)} dB -> ${strong.toFixed(2)} dB `
        + `(defaults: ${gentle.toFixed(2)} dB)`);
      expect(strong - before).toBeGreaterThanOrEqual(strongDb);
      expect(gentle - before).toBeGreaterThanOrEqual(defaultDb);
    });
  }

  it('pure noise loses >= 10 dB of energy (>= 3.5 dB with the defaults); noise level changes are tracked', () => {
    const n = gaussian(32000, 31, 0.05);
    const learnt = 13 * 256; // from the end of the frames that learn the first estimate (nothing is subtracted there)
    expect(db(energy(n, learnt) / energy(runStream(new SpectralSubtractor(), [n]), learnt))).toBeGreaterThanOrEqual(3.5);
    const y = runStream(new SpectralSubtractor(STRONG), [n]);
    const drop = db(energy(n, learnt) / energy(y, learnt));
    // Noise that gets 10 dB louder after 1 s is re-learnt once the 1 s minimum window holds only the new noise.
    const loud = gaussian(56000, 32, 0.05).map((v, i) => (i >= 16000 ? v * Math.sqrt(10) : v));
    const z = runStream(new SpectralSubtractor(STRONG), [loud]);
    const lateDrop = db(energy(loud, 40000) / energy(z, 40000));
    console.info(`spectral subtraction, pure noise: -${drop.toFixed(1)} dB; after a +10 dB step: -${lateDrop.toFixed(1)} dB`);
    expect(drop).toBeGreaterThanOrEqual(10);
    expect(lateDrop).toBeGreaterThanOrEqual(10);
  });

  it('keeps clean speech intact (correlation with the input >= 0.95)', () => {
    const y = runStream(new SpectralSubtractor(), [speech]);
    const c = correlation(speech, y);
    console.info(`spectral subtraction, clean speech: correlation ${c.toFixed(4)}, SNR ${snrOf(speech, y).toFixed(1)} dB`);
    expect(c).toBeGreaterThanOrEqual(0.95);
  });

  it('subtracts nothing while the first noise estimate is learnt: a stream that opens on speech keeps its start',
    () => {
      // a session opened as the caller starts talking (push-to-talk): its first 200 ms are speech, not the room
      let onset = 0;
      while (Math.abs(speech[onset]!) < 0.1) onset++;
      const x = speech.subarray(Math.max(0, onset - 800));
      const y = runStream(new SpectralSubtractor(), [x]);
      // frames 0-12 (round(200 / 16)) learn the estimate; samples before frame 12's end are theirs alone
      expect(maxAbsDiff(y.subarray(0, 12 * 256), x.subarray(0, 12 * 256))).toBeLessThan(1e-6);
    });

  it('flushSegment emits what flush does; the next segment keeps the noise estimate, so speech at its start is not '
    + 'taken for noise', () => {
    const [x] = mix(speech, gaussian(speech.length, 41), 10);
    const cut = 50 * 160; // room noise before, the first digit right after
    const a = new SpectralSubtractor(), b = new SpectralSubtractor();
    a.push(x.subarray(0, cut));
    b.push(x.subarray(0, cut));
    expect(b.flushSegment()).toEqual(a.flush());
    const kept = runStream(b, [x.subarray(cut)]);
    const fresh = runStream(new SpectralSubtractor(), [x.subarray(cut)]);
    expect(kept.length).toBe(x.length - cut);
    const clean = speech.subarray(cut);
    const keptDb = snrOf(clean, kept), freshDb = snrOf(clean, fresh);
    console.info(`spectral subtraction after a segment cut: SNR ${keptDb.toFixed(2)} dB (noise estimate kept), `
      + `${freshDb.toFixed(2)} dB (new stream)`);
    expect(keptDb).toBeGreaterThan(freshDb + 1);
  });

  it('the segment after flushSegment starts from the audio before the cut, not from zeros: a converter\'s DC offset '
    + 'gives no click there', () => {
    // The room through a biased converter: an offset of 0.3 (hostile-audio.test.ts feeds 0.6) on quiet noise. Zeros
    // before the next segment's first sample made a step up to the offset, which the noise estimate (learnt on the
    // steady offset) did not cover: a 30 ms burst at -26 dBFS, 34 dB above the denoised room, that the VAD takes for
    // speech after every session.finalize.
    const x = gaussian(16000, 5, 1e-3).map((v) => v + 0.3);
    const cut = 11277; // inside a hop, after 0.7 s of learning
    const s = new SpectralSubtractor();
    s.push(x.subarray(0, cut));
    s.flushSegment();
    const y = runStream(s, [x.subarray(cut)]);
    const steady = y.subarray(1600, 4000);
    const mean = steady.reduce((sum, v) => sum + v, 0) / steady.length;
    const rms = (z: Float32Array): number => Math.sqrt(z.reduce((sum, v) => sum + (v - mean) ** 2, 0) / z.length);
    const head = [0, 1, 2].map((k) => rms(y.subarray(160 * k, 160 * k + 160)));
    expect(head.map((r) => r / rms(steady)).every((ratio) => ratio < 2), `10 ms frames after the cut: ${head} vs `
      + `${rms(steady)}`).toBe(true);
  });

  it('validates options, quoting the bad value', () => {
    expect(() => new SpectralSubtractor({ sampleRateHz: 8000 })).toThrow(/got 8000/);
    expect(() => new SpectralSubtractor({ spectralFloor: 2 })).toThrow(GatewayError);
    expect(() => new SpectralSubtractor({ gainSmoothing: 1 })).toThrow(/gainSmoothing must be in \[0, 1\), got 1/);
  });
});

describe('SpectralSubtractor parity with the numpy mirror (training/voxgate_train/spectral_subtraction.py)', () => {
  it('matches the mirror fixture to 1e-4, whole and chunked', () => {
    const noisy = readF32('spectral-subtraction/noisy.f32');
    const ref = readF32('spectral-subtraction/denoised.f32');
    const whole = runStream(new SpectralSubtractor(), [noisy]);
    const chunked = runStream(new SpectralSubtractor(), chunks(noisy, [800]));
    expect(whole.length).toBe(ref.length);
    const d = maxAbsDiff(whole, ref);
    console.info(`spectral subtraction vs numpy mirror: max abs diff ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-4);
    expect(chunked).toEqual(whole);
  });
});
