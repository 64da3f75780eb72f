import { describe, expect, it } from 'vitest';

import { CtcDecoder, type CtcDecodeResult, type CtcDecoderOptions, type Hotword } from '../../src/inference/ctc-decoder.js';
import { CtcGreedyDecoder } from '../../src/inference/ctc-greedy-decoder.js';
import { CtcPrefixBeamSearch } from '../../src/inference/ctc-prefix-beam-search.js';
import { V, greedy, peakyLogProbs, randomLogProbs, rng, shippedTokenLm } from './ctc-fixtures.js';

type Opts = Partial<CtcDecoderOptions>;

function expectSame(a: CtcDecodeResult, b: CtcDecodeResult, scoreTol: number): void {
  expect([...a.tokens]).toEqual([...b.tokens]);
  expect([...a.frames]).toEqual([...b.frames]);
  expect(a.stablePrefixLength).toBe(b.stablePrefixLength);
  expect(a.trailingBlankFrames).toBe(b.trailingBlankFrames);
  expect(a.framesDecoded).toBe(b.framesDecoded);
  expect(a.isFinal).toBe(b.isFinal);
  expect(Math.abs(a.score - b.score)).toBeLessThanOrEqual(scoreTol);
  a.probs.forEach((p, i) => expect(Math.abs(p - b.probs[i]!)).toBeLessThanOrEqual(1e-6));
}

/** Random chunk sizes (0 allowed) covering `frames`. */
function chunking(frames: number, rand: () => number): number[] {
  const sizes: number[] = [];
  for (let left = frames; left > 0; ) {
    const n = Math.min(left, Math.floor(rand() * 9));
    sizes.push(n);
    left -= n;
  }
  return sizes;
}

/** Hotwords: pieces of the argmax transcript (so matches happen, complete and partial) plus random ones. */
function randomHotwords(path: number[], rand: () => number, count: number): Hotword[] {
  const truth = path.filter((t, i) => t !== 0 && t !== path[i - 1]);
  return Array.from({ length: count }, () => {
    const len = 2 + Math.floor(rand() * 4);
    let ids: number[];
    if (rand() < 0.6 && truth.length > len) {
      const at = Math.floor(rand() * (truth.length - len));
      ids = truth.slice(at, at + len);
      if (rand() < 0.3) ids[len - 1] = 1 + Math.floor(rand() * (V - 1)); // a near miss
    } else {
      ids = Array.from({ length: len }, () => 1 + Math.floor(rand() * (V - 1)));
    }
    return { tokenIds: ids, boost: 0.5 + rand() * 2.5 };
  });
}

function posteriors(seed: number, frames: number): { logProbs: Float32Array; path: number[] } {
  const rand = rng(seed);
  return seed % 2 === 0 ? { logProbs: randomLogProbs(frames, rand, 3), path: [] } : peakyLogProbs(frames, rand, 0.3);
}

const CASES: Array<[string, Opts]> = [
  ['beam 8', {}],
  ['beam 3, no token pruning', { beamSize: 3, tokenThreshold: Infinity }],
  ['beam 16, tight pruning', { beamSize: 16, tokenThreshold: 3 }],
  ['beam 8, shipped token LM', { lm: shippedTokenLm() }],
  ['beam 4, token LM weight 1.3, bonus -0.5', { beamSize: 4, lm: shippedTokenLm(), lmWeight: 1.3, lmTokenBonus: -0.5 }],
];

describe('native == TypeScript reference', () => {
  it.each(CASES)('on random posteriors, chunk by chunk (%s)', (_n, opts) => {
    for (let seed = 1; seed <= 12; seed++) {
      const frames = 48;
      const { logProbs, path } = posteriors(seed, frames);
      const rand = rng(seed * 7919);
      const native = new CtcDecoder({ vocabSize: V, ...opts });
      const ref = new CtcPrefixBeamSearch({ vocabSize: V, ...opts });
      if (seed % 3 !== 0) {
        const hot = randomHotwords(path.length ? path : greedy(logProbs, frames), rand, seed % 3 === 1 ? 8 : 50);
        native.setHotwords(hot);
        ref.setHotwords(hot);
      }
      let at = 0;
      for (const n of chunking(frames, rand)) {
        const chunk = logProbs.subarray(at * V, (at + n) * V);
        at += n;
        expectSame(native.decodeChunk(chunk, n), ref.decodeChunk(chunk, n), 1e-4);
        if (seed === 5 && at > frames / 2 && at - n <= frames / 2) {
          // Replace the hotwords mid-utterance: both rescore live beams the same way.
          const hot = randomHotwords(path, rand, 5);
          native.setHotwords(hot);
          ref.setHotwords(hot);
          expectSame(native.current(), ref.current(), 1e-4);
        }
      }
      // The n-best list: the same hypotheses in the same order, and its head is what finalize() returns.
      const alts = native.finalAlternatives();
      const refAlts = ref.finalAlternatives();
      expect(alts.map((x) => [...x.tokens])).toEqual(refAlts.map((x) => [...x.tokens]));
      alts.forEach((x, i) => expect(Math.abs(x.score - refAlts[i]!.score)).toBeLessThanOrEqual(1e-4));
      for (let i = 1; i < alts.length; i++) expect(alts[i]!.score).toBeLessThanOrEqual(alts[i - 1]!.score);
      const best = native.finalize();
      expectSame(best, ref.finalize(), 1e-4);
      expect([...alts[0]!.tokens]).toEqual([...best.tokens]);
      expect(alts[0]!.score).toBe(best.score);
      expect(native.finalAlternatives().map((x) => x.tokens.length)).toEqual([0]); // reset: the empty prefix only
    }
  });
});

describe('chunking never changes the result', () => {
  it.each([
    ['native', (o: Opts) => new CtcDecoder({ vocabSize: V, ...o })],
    ['reference', (o: Opts) => new CtcPrefixBeamSearch({ vocabSize: V, ...o })],
  ] as const)('%s: random chunkings == whole matrix, exactly', (_n, make) => {
    for (let seed = 100; seed < 110; seed++) {
      const frames = 60;
      const { logProbs, path } = posteriors(seed, frames);
      const rand = rng(seed);
      const hot = seed % 2 ? randomHotwords(path, rand, 10) : [];
      const opts: Opts = seed % 3 === 0 ? { lm: shippedTokenLm() } : {};
      const whole = make(opts);
      whole.setHotwords(hot);
      const wholePartial = whole.decodeChunk(logProbs, frames);
      const chunked = make(opts);
      chunked.setHotwords(hot);
      let at = 0;
      let last = chunked.current();
      for (const n of chunking(frames, rand)) {
        last = chunked.decodeChunk(logProbs.subarray(at * V, (at + n) * V), n);
        at += n;
      }
      expectSame(last, wholePartial, 0);
      expectSame(chunked.finalize(), whole.finalize(), 0);
    }
  });
});

describe('beam size 1 == greedy CTC on peaky posteriors', () => {
  // Prefix search sums paths, so on flat posteriors beam 1 may keep a prefix that greedy leaves (e.g. blank .35 +
  // repeat .25 of the last token beat a new token at .4). With one token >= .7 per frame (the CTC regime) they agree.
  it.each([
    ['native', () => new CtcDecoder({ vocabSize: V, beamSize: 1 })],
    ['reference', () => new CtcPrefixBeamSearch({ vocabSize: V, beamSize: 1 })],
  ] as const)('%s', (_n, make) => {
    for (let seed = 1; seed <= 40; seed++) {
      const frames = 80;
      const { logProbs } = peakyLogProbs(frames, rng(seed), 0.7);
      const d = make();
      d.decodeChunk(logProbs, frames);
      expect([...d.finalize().tokens]).toEqual(greedy(logProbs, frames));
    }
  });
});

describe('word timings and confidences follow the emitting path', () => {
  // On peaky posteriors (one token >= .5 per frame) the beam spells greedy's tokens; each token's frame must then be
  // the first frame of greedy's run of it and its posterior the run's max. Before, a prefix first reached by a faint
  // path kept that path's frame (and posterior) when the real emission merged into it later: 30% of these
  // utterances had a token timed early.
  it.each([
    ['native', () => new CtcDecoder({ vocabSize: V })],
    ['reference', () => new CtcPrefixBeamSearch({ vocabSize: V })],
  ] as const)('%s: frames and probs == greedy on peaky posteriors', (_n, make) => {
    for (let seed = 1; seed <= 60; seed++) {
      const frames = 80;
      const { logProbs } = peakyLogProbs(frames, rng(seed), seed % 2 ? 0.7 : 0.5);
      const g = new CtcGreedyDecoder({ vocabSize: V, blankId: 0 });
      g.decodeChunk(logProbs, frames);
      const want = g.finalize();
      const d = make();
      d.decodeChunk(logProbs, frames);
      const got = d.finalize();
      expect([...got.tokens], `seed ${seed}`).toEqual([...want.tokens]);
      expect([...got.frames], `seed ${seed}`).toEqual([...want.frames]);
      got.probs.forEach((p, i) => expect(Math.abs(p - want.probs[i]!), `seed ${seed}`).toBeLessThanOrEqual(1e-6));
    }
  });
});
