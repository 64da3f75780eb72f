/**
 * Regressions found by the libFuzzer harnesses (native/fuzz/, `npm run fuzz:native`), replayed through the binding.
 * Each was an out-of-range read or a broken promise of a native core that the seeded tests did not reach; the
 * harness's own reproducer lies under native/fuzz/regressions/ and run.sh replays it. Run these under
 * `npm run test:sanitize -- test/native/fuzz-regressions.test.ts` too: a read past an array that happens not to crash
 * only fails there.
 */
import { describe, expect, it } from 'vitest';

import { loadNativeAddon, type NativeCtcDecoder } from '../../src/inference/native-addon.js';

/** Decodes `frames` rows of `lp`, then reads the n-best scores (a beam of `beamSize`) and finalizes: no score is NaN. */
function expectNoNaNScore(decoder: NativeCtcDecoder, lp: Float32Array, frames: number, v: number, beamSize: number): void {
  const scalars = new Float64Array(4);
  decoder.decodeChunk(lp, frames, v, scalars);
  expect(Number.isNaN(scalars[0])).toBe(false);
  const scores = new Float64Array(beamSize);
  decoder.finalAlternatives(scores);
  expect(Array.from(scores).some(Number.isNaN)).toBe(false);
  decoder.finalize(scalars);
  expect(Number.isNaN(scalars[0])).toBe(false);
}

describe('native cores: libFuzzer findings', () => {
  it('TokenLm rejects an arc_start that overshoots the arcs before reading any arc', () => {
    // arc_start starts at 0 and ends at the arc count, but state 0 claims 2^30 arcs: the constructor used to walk
    // state 0's arcs before it saw the decrease at state 1, reading far past arcToken.
    const make = (): unknown => new (loadNativeAddon().TokenLm)(
      { vocabSize: 3, blankId: 0, startState: 0 },
      Int32Array.of(0, 2 ** 30, 2), Int32Array.of(-1, 0), Float32Array.of(0, 0), Float32Array.of(-1, -1),
      Int32Array.of(1, 2), Int32Array.of(0, 0), Float32Array.of(-1, -1),
    );
    expect(make).toThrow(/arc_start decreases at state 1/);
  });

  it('a huge but finite hotword boost never makes a score NaN', () => {
    // The binding accepts any finite boost. Two tokens of 1e308 overflow the phrase's running bonus to Infinity,
    // and a mismatch after a full match subtracted Infinity from Infinity: a NaN context score, which the beam's
    // sort cannot order. Boosts are now clamped where no sum of them can overflow.
    const addon = loadNativeAddon();
    const v = 4;
    const decoder = new addon.CtcDecoder({ vocabSize: v, blankId: 0, beamSize: 4, tokenThreshold: Infinity });
    decoder.setHotwords(Int32Array.of(1, 1, 1), Int32Array.of(3), Float64Array.of(1e308));
    // "1 1 1 1 2": blank between the 1s so each is a new token.
    const peaks = [1, 0, 1, 0, 1, 0, 1, 2];
    const lp = new Float32Array(peaks.length * v).fill(Math.log(0.05));
    peaks.forEach((t, f) => { lp[f * v + t] = Math.log(0.85); });
    expectNoNaNScore(decoder, lp, peaks.length, v, 4);
  });

  it('an LM token bonus large enough to overflow is rejected, a large one decodes without NaN', () => {
    // lmTokenBonus only had to be finite: 1e308 per token is +Infinity after two tokens, and a candidate whose
    // acoustic score is -Infinity (allowed with tokenThreshold Infinity) then scored -Infinity + Infinity = NaN.
    const addon = loadNativeAddon();
    const v = 3;
    const lm = new addon.TokenLm(
      { vocabSize: v, blankId: 0, startState: 0 },
      Int32Array.of(0, 2), Int32Array.of(-1), Float32Array.of(0), Float32Array.of(-1),
      Int32Array.of(1, 2), Int32Array.of(0, 0), Float32Array.of(-0.5, -1),
    );
    const lp = Float32Array.of(-1, -0.5, -Infinity, -1, -Infinity, -0.5, -1, -0.5, -Infinity, -0.1, -Infinity, -3);
    for (const lmTokenBonus of [1e308, 1e6]) {
      const options = { vocabSize: v, blankId: 0, beamSize: 20, tokenThreshold: Infinity, lm, lmWeight: 0, lmTokenBonus };
      let decoder;
      try {
        decoder = new addon.CtcDecoder(options);
      } catch (e) {
        expect(lmTokenBonus).toBeGreaterThan(1e6);
        expect((e as Error).message).toMatch(/lmTokenBonus/);
        continue;
      }
      expectNoNaNScore(decoder, lp, 4, v, 20);
    }
  });
});
