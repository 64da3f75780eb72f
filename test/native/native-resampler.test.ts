/**
 * The native resampler (native/src/polyphase-resampler.cc, what the gateway's resample stage runs) against its
 * TypeScript reference (src/dsp/resampler.ts `Resampler`), given the same bank: equal output sample for sample, at
 * the same pushes, for every rate the protocol accepts and every code path (doubling, integer decimation, general
 * L/M), any chunking; and coded errors for arguments that do not fit.
 */
import { describe, expect, it } from 'vitest';
import { Resampler, polyphaseBank } from '../../src/dsp/resampler.js';
import { createNativeResampler, loadNativeAddon } from '../../src/inference/native-addon.js';
import { chunks, concat, gaussian, pushAll, randomSizes, rng, sine } from '../dsp/helpers.js';


function signal(n: number, rateHz: number, seed: number): Float32Array {
  const tone = sine(n, 0.31 * rateHz, rateHz, 0.4);
  const noise = gaussian(n, seed, 0.05);
  return tone.map((v, i) => v + noise[i]! + (i % 997 === 0 ? 0.5 : 0));
}

// Every input rate the protocol accepts to the model's 16 kHz (doubling at 8 kHz, decimation at 32 / 48 kHz, the
// general path elsewhere), plus the general path upwards and between two odd rates.
const PAIRS: [number, number][] = [
  [8000, 16000], [11025, 16000], [12000, 16000], [22050, 16000], [24000, 16000], [32000, 16000], [44100, 16000],
  [48000, 16000], [16000, 48000], [44100, 48000], [24000, 48000],
  // Rates nearly coprime with the output: interpolated banks (tablePhases > 0).
  [8001, 16000], [47999, 16000], [16000, 47999],
];

describe('native resampler equals dsp/resampler.ts (property: any signal, any chunking)', () => {
  const r = rng(77);
  for (const [inHz, outHz] of PAIRS) {
    it(`${inHz} -> ${outHz} Hz`, () => {
      const x = signal(Math.round(inHz * 1.3), inHz, inHz);
      const nat = createNativeResampler(inHz, outHz);
      for (let trial = 0; trial < 4; trial++) {
        // Frames of 20 ms as telephony sends them, then random sizes with empty pushes.
        const sizes = trial === 0 ? [Math.round(inHz / 50)] : randomSizes(Math.floor(r() * 1e9), 11, 3000);
        const parts = chunks(x, sizes);
        const want = pushAll(new Resampler({ inputRateHz: inHz, outputRateHz: outHz }), parts);
        const got = pushAll(nat, parts); // the same instance: flush resets it for the next stream
        expect(got.map((o) => o.length)).toEqual(want.map((o) => o.length));
        got.forEach((o, i) => expect(o).toEqual(want[i]));
      }
    });
  }

  it('samples the decoder stage never lets through (NaN, +-Infinity, 3.4e38): equal to dsp/resampler.ts, and only '
    + 'the outputs within the filter (J input samples) of one change', () => {
    for (const [inHz, outHz] of [[8000, 16000], [44100, 16000], [48000, 16000], [47999, 16000]] as const) {
      const clean = signal(inHz, inHz, 5);
      const bad = [[1000, Number.NaN], [3000, Infinity], [3001, -Infinity], [6000, 3.4e38]] as const;
      const x = clean.slice();
      for (const [at, v] of bad) x[at] = v;
      const parts = chunks(x, [Math.round(inHz / 50)]);
      const got = concat(pushAll(createNativeResampler(inHz, outHz), parts));
      expect(got).toEqual(concat(pushAll(new Resampler({ inputRateHz: inHz, outputRateHz: outHz }), parts)));
      const want = concat(pushAll(createNativeResampler(inHz, outHz), [clean]));
      const J = polyphaseBank(inHz, outHz).halfTaps;
      const near = (k: number) => bad.some(([at]) => Math.abs((k * inHz) / outHz - at) <= J);
      const far = Array.from(got.keys()).filter((k) => !near(k));
      expect(far.length).toBeGreaterThan(got.length / 2);
      expect(far.map((k) => got[k])).toEqual(far.map((k) => want[k]));
    }
  });

  it('short streams (0 .. 50 samples) and a reset mid-stream', () => {
    for (const [inHz, outHz] of PAIRS) {
      for (const n of [0, 1, 2, 7, 50]) {
        const x = signal(n, inHz, n + 1);
        const want = pushAll(new Resampler({ inputRateHz: inHz, outputRateHz: outHz }), [x]);
        expect(pushAll(createNativeResampler(inHz, outHz), [x])).toEqual(want);
      }
      const nat = createNativeResampler(inHz, outHz);
      nat.push(signal(999, inHz, 3));
      nat.reset();
      const x = signal(2000, inHz, 4);
      expect(pushAll(nat, [x])).toEqual(pushAll(new Resampler({ inputRateHz: inHz, outputRateHz: outHz }), [x]));
    }
  });
});

describe('native resampler binding', () => {
  const b = polyphaseBank(8000, 16000);
  const make = (...args: unknown[]): unknown =>
    new (loadNativeAddon().Resampler)(...(args as [number, number, number, number, Float32Array]));
  const odd = polyphaseBank(47999, 16000);
  const codeOf = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(Error);
      return (e as { code?: string }).code;
    }
    return undefined;
  };

  it('rejects a bank whose parts do not fit, and non-numbers, with GW_ERR_INTERNAL', () => {
    expect(codeOf(() => make(b.up, b.down, b.halfTaps, 0, b.taps))).toBeUndefined();
    expect(codeOf(() => make(odd.up, odd.down, odd.halfTaps, odd.tablePhases, odd.taps))).toBeUndefined();
    const bad: unknown[][] = [
      [0, 1, b.halfTaps, 0, b.taps],
      [1, 1, b.halfTaps, 0, b.taps],
      [b.up, b.down, b.halfTaps + 1, 0, b.taps],
      [b.up, b.down, 0, 0, new Float32Array(0)],
      [b.up, b.down, b.halfTaps, 0, b.taps.subarray(1)],
      [b.up, b.down, b.halfTaps, 0, new Float64Array(b.taps)],
      [b.up, 1.5, b.halfTaps, 0, b.taps],
      ['2', b.down, b.halfTaps, 0, b.taps],
      [b.up, b.down, b.halfTaps, 0],
      [2 ** 40, b.down, b.halfTaps, 0, b.taps],
      // An interpolated bank's row count is tablePhases + 1, whatever L is.
      [odd.up, odd.down, odd.halfTaps, 0, odd.taps],
      [odd.up, odd.down, odd.halfTaps, odd.tablePhases + 1, odd.taps],
      [odd.up, odd.down, odd.halfTaps, -1, odd.taps],
      [odd.up, odd.down, odd.halfTaps, 1e6, odd.taps],
      [odd.up, odd.down, odd.halfTaps, 0.5, odd.taps],
    ];
    for (const args of bad) expect(codeOf(() => make(...args)), JSON.stringify(args.slice(0, 4))).toBe('GW_ERR_INTERNAL');
  });

  it('rejects a push of anything but a Float32Array and keeps its stream intact', () => {
    const nat = createNativeResampler(8000, 16000);
    const x = signal(4000, 8000, 9);
    const first = nat.push(x.subarray(0, 1600));
    for (const v of [undefined, 3, [0.1], new Float64Array(8), new Int16Array(8)]) {
      expect(codeOf(() => nat.push(v as unknown as Float32Array))).toBe('GW_ERR_INTERNAL');
    }
    const rest = pushAll(nat, [x.subarray(1600)]);
    expect([first, ...rest]).toEqual(pushAll(new Resampler({ inputRateHz: 8000 }), [x.subarray(0, 1600), x.subarray(1600)]));
  });
});
