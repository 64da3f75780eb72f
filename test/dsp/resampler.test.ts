import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/protocol/errors.js';
import { MAX_EXACT_PHASES, Resampler, polyphaseBank, type PolyphaseBank } from '../../src/dsp/resampler.js';
import { chunks, gaussian, randomSizes, runStream, sine } from './helpers.js';

const RATES = [8000, 11025, 22050, 24000, 32000, 44100, 48000];
/** Rates nearly coprime with 16 kHz (L = 16000): their banks are interpolated (`tablePhases` > 0). */
const ODD_RATES = [8001, 15999, 44099, 47999];

/** Least-squares fit of a sine at `freqHz` over out[from, to); returns [fitted power, residual power]. */
function fitSine(y: Float32Array, freqHz: number, rateHz: number, from: number, to: number): [number, number] {
  let ss = 0, cc = 0, sc = 0, ys = 0, yc = 0;
  for (let n = from; n < to; n++) {
    const w = (2 * Math.PI * freqHz * n) / rateHz;
    const s = Math.sin(w), c = Math.cos(w);
    ss += s * s; cc += c * c; sc += s * c; ys += y[n]! * s; yc += y[n]! * c;
  }
  const det = ss * cc - sc * sc;
  const a = (ys * cc - yc * sc) / det, b = (yc * ss - ys * sc) / det;
  let fit = 0, res = 0;
  for (let n = from; n < to; n++) {
    const w = (2 * Math.PI * freqHz * n) / rateHz;
    const f = a * Math.sin(w) + b * Math.cos(w);
    fit += f * f;
    res += (y[n]! - f) ** 2;
  }
  return [fit / (to - from), res / (to - from)];
}

function power(y: Float32Array, from: number, to: number): number {
  let e = 0;
  for (let n = from; n < to; n++) e += y[n]! * y[n]!;
  return e / (to - from);
}

const db = (r: number): number => 10 * Math.log10(r);

/** Branch phi's 2J taps as the bank defines them: an exact row, or the blend of the two rows around phi / L. */
function branchTaps(b: PolyphaseBank, phi: number): Float64Array {
  const width = 2 * b.halfTaps;
  const out = new Float64Array(width);
  const scaled = b.tablePhases === 0 ? phi : phi * b.tablePhases;
  const r = b.tablePhases === 0 ? phi : Math.floor(scaled / b.up);
  const w = b.tablePhases === 0 ? 0 : (scaled - r * b.up) / b.up;
  for (let j = 0; j < width; j++) {
    const lo = b.taps[r * width + j]!;
    out[j] = w === 0 ? lo : lo + w * (b.taps[(r + 1) * width + j]! - lo);
  }
  return out;
}

/** Every branch's taps, row after row, built once per bank (the response is read at 121 frequencies per rate). */
const BRANCHES = new WeakMap<PolyphaseBank, Float64Array>();
function allBranchTaps(b: PolyphaseBank): Float64Array {
  let all = BRANCHES.get(b);
  if (all === undefined) {
    const width = 2 * b.halfTaps;
    all = new Float64Array(b.up * width);
    for (let phi = 0; phi < b.up; phi++) all.set(branchTaps(b, phi), phi * width);
    BRANCHES.set(b, all);
  }
  return all;
}

/**
 * Attenuation (dB, positive) of the bank's prototype at `freqHz`, relative to DC: the taps of all L branches
 * interleaved are the prototype sampled at L x Fin (branch phi, tap j sits at t = j - (J - 1) - phi / L inputs).
 */
function attenuationDb(rate: number, freqHz: number): number {
  const b = polyphaseBank(rate, 16000);
  const width = 2 * b.halfTaps;
  const w = (2 * Math.PI * freqHz) / rate;
  const branches = allBranchTaps(b);
  let re = 0, im = 0;
  for (let phi = 0; phi < b.up; phi++) {
    const h = branches.subarray(phi * width, (phi + 1) * width);
    // e^{-i w t} by recurrence along the row: one sin/cos pair per branch.
    const t0 = -(b.halfTaps - 1) - phi / b.up;
    let cr = Math.cos(w * t0), ci = -Math.sin(w * t0);
    const sr = Math.cos(w), si = -Math.sin(w);
    for (let j = 0; j < width; j++) {
      re += h[j]! * cr;
      im += h[j]! * ci;
      const nr = cr * sr - ci * si;
      ci = cr * si + ci * sr;
      cr = nr;
    }
  }
  return -10 * Math.log10((re * re + im * im) / (b.up * b.up));
}

describe('Resampler quality', () => {
  it('filter response: >= 60 dB everywhere from the stopband edge (min(in, out) / 2) to 2x beyond it', () => {
    const row: string[] = [];
    // Of the odd rates, the lowest and the highest (L = 16000 branches each, the slowest to sum).
    for (const rate of [...RATES, 8001, 47999]) {
      const edge = Math.min(rate, 16000) / 2;
      let worst = Infinity;
      for (let k = 0; k <= 120; k++) {
        const f = edge * (1 + (k < 100 ? k * 0.002 : (k - 99) * 0.05)); // dense near the edge, then coarse to 2x
        worst = Math.min(worst, attenuationDb(rate, f));
      }
      row.push(`${rate}: ${worst.toFixed(1)} dB`);
      expect(worst).toBeGreaterThanOrEqual(60);
    }
    console.info(`resampler minimum stopband attenuation: ${row.join(', ')}`);
  });

  for (const rate of [...RATES, ...ODD_RATES]) {
    it(`${rate} -> 16000: stopband >= 60 dB, images/aliases >= 60 dB down, passband flat`, () => {
      const n = Math.round(rate * 0.2);
      const edge = Math.min(rate, 16000) / 2;
      const skip = 160; // 10 ms of output at each end (start-up and flush transients)
      let worstStop = -Infinity;
      // Sines above the output Nyquist (downsampling only): nothing may come out.
      if (rate > 16000) {
        for (let k = 0; k < 16; k++) {
          const f = 8000 + (k * (rate / 2 - 8000)) / 16;
          const y = runStream(new Resampler({ inputRateHz: rate }), [sine(n, f, rate, 0.5, 0.3)]);
          worstStop = Math.max(worstStop, db(power(y, skip, y.length - skip) / 0.125));
        }
      }
      // Passband sines: the residual after fitting the tone is the images / aliases (upsampling) or ripple-free
      // leakage; the fitted amplitude measures the passband gain.
      let worstResidual = -Infinity, worstGainDb = 0;
      for (const frac of [0.05, 0.3, 0.6, 0.8, 0.9]) {
        const f = frac * edge;
        const y = runStream(new Resampler({ inputRateHz: rate }), [sine(n, f, rate, 0.5, 0.3)]);
        const [fit, res] = fitSine(y, f, 16000, skip, y.length - skip);
        worstResidual = Math.max(worstResidual, db(res / fit));
        worstGainDb = Math.max(worstGainDb, Math.abs(db(fit / 0.125)));
      }
      console.info(
        `resampler ${rate} -> 16000: stopband ${rate > 16000 ? `${(-worstStop).toFixed(1)} dB` : 'n/a'}, ` +
          `image/alias rejection ${(-worstResidual).toFixed(1)} dB, passband ripple ${worstGainDb.toFixed(4)} dB`,
      );
      expect(worstStop).toBeLessThanOrEqual(-60);
      expect(worstResidual).toBeLessThanOrEqual(-60);
      expect(worstGainDb).toBeLessThan(0.01);
    });
  }
});

describe('Resampler streaming', () => {
  for (const rate of [...RATES, 8001, 47999]) {
    it(`${rate}: chunking never changes the output; length is ceil(N * out / in)`, () => {
      const x = gaussian(rate, rate, 0.2); // 1 s
      const whole = runStream(new Resampler({ inputRateHz: rate }), [x]);
      expect(whole.length).toBe(Math.ceil((x.length * 16000) / rate));
      const r = new Resampler({ inputRateHz: rate });
      expect(runStream(r, chunks(x, [Math.round(rate / 20)]))).toEqual(whole); // 20 x 50 ms
      expect(runStream(r, chunks(x, randomSizes(rate, 300, 97)))).toEqual(whole); // reused after flush
      for (const len of [0, 1, 2, 3, 440, 441, 442, 1001]) {
        expect(runStream(r, chunks(x.subarray(0, len), [7])).length).toBe(Math.ceil((len * 16000) / rate));
      }
    });

    it(`${rate}: output arrives before the end of stream (only the filter lookahead is held back)`, () => {
      const r = new Resampler({ inputRateHz: rate });
      const pushed = Math.round(rate * 0.2);
      const got = r.push(gaussian(pushed, 1, 0.1)).length;
      const lookaheadOut = Math.ceil(((r.lookaheadSamples + 1) * 16000) / rate);
      expect(got).toBeGreaterThanOrEqual(3200 - lookaheadOut);
      expect(got).toBeLessThanOrEqual(3200);
    });
  }

  it.each([...[...RATES, ...ODD_RATES].map((r) => [r, 16000]), [24000, 48000]])(
    '%i -> %i equals the polyphase sum computed directly (folded paths, interpolated banks)', (inRate, outRate) => {
      const x = gaussian(3001, 9, 0.3);
      const y = runStream(new Resampler({ inputRateHz: inRate, outputRateHz: outRate }), chunks(x, [333]));
      const bank = polyphaseBank(inRate, outRate);
      const { up, down, halfTaps } = bank;
      const width = 2 * halfTaps;
      let worst = 0;
      for (let k = 0; k < y.length; k++) {
        const n0 = Math.floor((k * down) / up), phi = (k * down) % up;
        const h = branchTaps(bank, phi);
        let sum = 0;
        for (let j = 0; j < width; j++) {
          const n = n0 - (halfTaps - 1) + j;
          if (n >= 0 && n < x.length) sum += h[j]! * x[n]!;
        }
        worst = Math.max(worst, Math.abs(sum - y[k]!));
      }
      expect(worst).toBeLessThan(1e-5);
    });

  it('equal rates are the identity', () => {
    const x = gaussian(1234, 5, 0.3);
    const r = new Resampler({ inputRateHz: 16000 });
    expect(runStream(r, chunks(x, [100]))).toEqual(x);
  });

  it('is time-aligned (zero phase): a 48 kHz impulse lands on the matching 16 kHz sample', () => {
    const x = new Float32Array(4800);
    x[3000] = 1;
    const y = runStream(new Resampler({ inputRateHz: 48000 }), [x]);
    let best = 0;
    for (let i = 0; i < y.length; i++) if (Math.abs(y[i]!) > Math.abs(y[best]!)) best = i;
    expect(best).toBe(1000);
  });

  it('caches one filter bank per rate pair; 11025 -> 16000 is 640/441', () => {
    expect(polyphaseBank(11025, 16000)).toBe(polyphaseBank(11025, 16000));
    expect(polyphaseBank(11025, 16000).up).toBe(640);
    expect(polyphaseBank(11025, 16000).down).toBe(441);
  });

  it('designs exact branches up to L = 640 and an interpolated table beyond (47999 -> 16000: 0.5 MB, not 15.9 MB)', () => {
    const exact = polyphaseBank(11025, 16000);
    expect(exact.tablePhases).toBe(0);
    expect(exact.taps.length).toBe(640 * 2 * exact.halfTaps);
    const odd = polyphaseBank(47999, 16000);
    expect([odd.up, odd.down]).toEqual([16000, 47999]);
    expect(odd.tablePhases).toBeGreaterThan(0);
    expect(odd.tablePhases).toBeLessThanOrEqual(MAX_EXACT_PHASES);
    expect(odd.taps.length).toBe((odd.tablePhases + 1) * 2 * odd.halfTaps);
    expect(odd.taps.byteLength).toBeLessThan(600 * 1024);
  });

  it('validates rates, quoting the bad value', () => {
    for (const bad of [7999, 48001, 16000.5, Number.NaN]) {
      expect(() => new Resampler({ inputRateHz: bad })).toThrow(GatewayError);
      expect(() => new Resampler({ inputRateHz: bad })).toThrow(String(bad));
    }
    try {
      new Resampler({ inputRateHz: 96000 });
    } catch (e) {
      expect((e as GatewayError).code).toBe('GW_ERR_BAD_CONFIG');
    }
  });
});
