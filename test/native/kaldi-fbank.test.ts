/**
 * The native fbank extractor (native/src/kaldi-fbank.cc, what the gateway's fbank stage runs) against its
 * TypeScript reference (src/dsp/fbank.ts) and against torchaudio's kaldi.fbank fixtures: same output, same frame
 * timing, any chunking, and coded errors for bad arguments.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FbankExtractor, fbankFrameCount } from '../../src/dsp/fbank.js';
import { loadNativeAddon, type NativeFbankExtractor } from '../../src/inference/native-addon.js';
import {
  FIXTURES, chunks, concat, gaussian, maxAbsDiff, pushAll, randomSizes, readF32, rng, runStream, sine,
} from '../dsp/helpers.js';

const native = (): NativeFbankExtractor => new (loadNativeAddon().FbankExtractor)();

interface FixtureIndex {
  signals: { name: string; frames: number; wav: string; fbank64: string }[];
}
const index = JSON.parse(readFileSync(new URL('fbank/index.json', FIXTURES), 'utf8')) as FixtureIndex;

/** Output of `stage` for the `parts`, plus the frame count each push (and the flush) returned. */
function feed(stage: NativeFbankExtractor | FbankExtractor, parts: Float32Array[]): { out: Float32Array; counts: number[] } {
  const outs = pushAll(stage, parts);
  return { out: concat(outs), counts: outs.map((o) => o.length / 80) };
}

describe('native fbank against torchaudio.compliance.kaldi.fbank and dsp/fbank.ts', () => {
  for (const sig of index.signals) {
    it(`${sig.name}: within 1e-3 of torchaudio (float64) and equal to the TypeScript extractor`, () => {
      const wav = readF32(`fbank/${sig.wav}`);
      const out = runStream(native(), [wav]);
      expect(out.length).toBe(sig.frames * 80);
      expect(maxAbsDiff(out, readF32(`fbank/${sig.fbank64}`))).toBeLessThanOrEqual(1e-3);
      expect(out).toEqual(runStream(new FbankExtractor(), [wav]));
    });
  }
});

describe('native fbank streaming (property: equal to the reference for any signal and chunking)', () => {
  const speech = readF32('fbank/speech.wav.f32');
  const r = rng(2026);
  const signals: [string, Float32Array][] = [
    ['speech', speech],
    ['noise', gaussian(12345, 7, 0.1)],
    ['tone', sine(9000, 440, 16000, 0.8)],
    ['silence', new Float32Array(4000)],
    ['full scale', new Float32Array(3000).map((_, i) => (i % 2 === 0 ? 1 : -1))],
  ];
  for (const n of [0, 1, 79, 80, 239, 240, 279, 280, 281, 399, 400, 401, 559, 560]) {
    signals.push([`${n} samples`, speech.subarray(5000, 5000 + n)]);
  }
  for (const [name, x] of signals) {
    it(`${name}: same frames as dsp/fbank.ts at the same pushes, whole and in random chunks`, () => {
      const ref = feed(new FbankExtractor(), [x]);
      expect(ref.out.length / 80).toBe(fbankFrameCount(x.length));
      const fx = native();
      for (let trial = 0; trial < 4; trial++) {
        const parts = chunks(x, randomSizes(Math.floor(r() * 1e9), 9, trial === 0 ? 1000 : 400));
        const a = feed(new FbankExtractor(), parts);
        const b = feed(fx, parts); // the same instance: flush resets it for the next stream
        expect(b.counts).toEqual(a.counts);
        expect(b.out).toEqual(ref.out);
        expect(fx.framesEmitted).toBe(0);
      }
    });
  }

  it('samples the decoder stage never lets through (NaN, +-Infinity, 3.4e38): equal to dsp/fbank.ts, finite, and '
    + 'only the frames whose window holds one change', () => {
    const bad = [[3000, Number.NaN], [6100, Infinity], [6101, -Infinity], [9000, 3.4e38]] as const;
    const x = speech.slice(0, 14000);
    for (const [at, v] of bad) x[at] = v;
    const out = runStream(native(), chunks(x, [320]));
    expect(out).toEqual(runStream(new FbankExtractor(), [x]));
    expect(out.every(Number.isFinite)).toBe(true);
    const clean = runStream(native(), [speech.subarray(0, 14000)]);
    // frame i reads samples [160 i - 120, 160 i + 280)
    const touched = (i: number) => bad.some(([at]) => at >= 160 * i - 120 && at < 160 * i + 280);
    for (let i = 0; i < out.length / 80; i++) {
      const row = (f: Float32Array) => f.subarray(80 * i, 80 * i + 80);
      if (!touched(i)) expect(row(out), `frame ${i}`).toEqual(row(clean));
    }
  });

  it('framesEmitted counts frames; reset starts a new stream at once', () => {
    const fx = native();
    expect(fx.push(speech.subarray(0, 3200)).length / 80).toBe(19); // frames 0 .. 18 need samples up to 3160
    expect(fx.framesEmitted).toBe(19);
    fx.reset();
    expect(fx.framesEmitted).toBe(0);
    expect(runStream(fx, [speech.subarray(0, 8000)])).toEqual(runStream(new FbankExtractor(), [speech.subarray(0, 8000)]));
  });

  it('reads an offset view of a larger buffer from its own start', () => {
    const backing = new Float32Array(speech.length + 7);
    backing.set(speech, 7);
    expect(runStream(native(), [backing.subarray(7)])).toEqual(runStream(native(), [speech]));
  });
});

describe('native fbank binding', () => {
  it('rejects anything but a Float32Array with GW_ERR_INTERNAL and keeps its stream intact', () => {
    const fx = native();
    const x = sine(4000, 300, 16000);
    const first = fx.push(x.subarray(0, 2000));
    for (const bad of [undefined, null, 7, 'abc', [0.1, 0.2], new Float64Array(10), new Int16Array(10), new ArrayBuffer(8)]) {
      let err: unknown;
      try {
        fx.push(bad as unknown as Float32Array);
      } catch (e) {
        err = e;
      }
      expect(err, String(bad)).toBeInstanceOf(Error);
      expect((err as { code?: string }).code).toBe('GW_ERR_INTERNAL');
    }
    const rest = feed(fx, [x.subarray(2000)]).out;
    const all = new Float32Array(first.length + rest.length);
    all.set(first);
    all.set(rest, first.length);
    expect(all).toEqual(runStream(new FbankExtractor(), [x]));
  });
});
