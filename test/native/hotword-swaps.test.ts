/**
 * Hotword lists replaced mid-utterance (session.update), natively and in the TypeScript reference: at any chunk
 * boundary, often, while beams are inside a match (lists cut from the best hypothesis so far), to nested phrases of
 * different boosts, to [] and back, across utterances. Both engines must agree exactly on tokens and frames, within
 * 1e-4 on scores, and n-best lists alike. Random posteriors and real ones (the shipped model's, of a speech clip:
 * test/fixtures/model).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  CtcDecoder, type CtcDecodeResult, type CtcDecoderOptions, type Hotword,
} from '../../src/inference/ctc-decoder.js';
import { CtcPrefixBeamSearch } from '../../src/inference/ctc-prefix-beam-search.js';
import { hotwordsFromPhrases } from '../../src/inference/hotword-tokens.js';
import { TOKENS, V, peakyLogProbs, randomLogProbs, rng, shippedTokenLm } from './ctc-fixtures.js';

function expectSame(a: CtcDecodeResult, b: CtcDecodeResult, what: string): void {
  expect([...a.tokens], what).toEqual([...b.tokens]);
  expect([...a.frames], what).toEqual([...b.frames]);
  expect(a.stablePrefixLength, what).toBe(b.stablePrefixLength);
  expect(a.trailingBlankFrames, what).toBe(b.trailingBlankFrames);
  expect(Math.abs(a.score - b.score), what).toBeLessThanOrEqual(1e-4);
  a.probs.forEach((p, i) => expect(Math.abs(p - b.probs[i]!), what).toBeLessThanOrEqual(1e-6));
}

/** A list cut from `best` (the hypothesis so far, so live beams sit inside its phrases): its tail, the tail plus a
 * token not yet heard, a shorter and a longer phrase sharing a start at other boosts; sometimes [] or random ids. */
function listFrom(best: readonly number[], rand: () => number): Hotword[] {
  const r = rand();
  if (r < 0.15) return [];
  const randomIds = (n: number): number[] => Array.from({ length: n }, () => 1 + Math.floor(rand() * (V - 1)));
  if (r < 0.3 || best.length < 2) return [{ tokenIds: randomIds(2 + Math.floor(rand() * 3)), boost: 4 * rand() }];
  const from = Math.floor(rand() * (best.length - 1));
  const tail = best.slice(from);
  const list: Hotword[] = [
    { tokenIds: tail, boost: 20 * rand() },
    { tokenIds: [...tail, ...randomIds(1 + Math.floor(rand() * 2))], boost: 20 * rand() },
    { tokenIds: tail.slice(0, 1 + Math.floor(rand() * tail.length)), boost: 5 * rand() },
  ];
  const keys = new Set<string>();
  return list.filter((h) => !keys.has(Array.from(h.tokenIds).join()) && keys.add(Array.from(h.tokenIds).join()));
}

function run(logProbs: Float32Array, frames: number, seed: number, opts: Partial<CtcDecoderOptions>): void {
  const rand = rng(seed);
  const native = new CtcDecoder({ vocabSize: V, ...opts });
  const ref = new CtcPrefixBeamSearch({ vocabSize: V, ...opts });
  for (let utterance = 0; utterance < 2; utterance++) {
    let at = 0;
    while (at < frames) {
      const n = Math.min(frames - at, Math.floor(rand() * 7));
      const chunk = logProbs.subarray(at * V, (at + n) * V);
      at += n;
      const got = native.decodeChunk(chunk, n);
      expectSame(got, ref.decodeChunk(chunk, n), `seed ${seed} utterance ${utterance} frame ${at}`);
      if (rand() < 0.5) {
        const list = listFrom([...got.tokens], rand);
        native.setHotwords(list);
        ref.setHotwords(list);
        expectSame(native.current(), ref.current(), `seed ${seed} swap at frame ${at}`);
      }
    }
    const alts = native.finalAlternatives();
    const refAlts = ref.finalAlternatives();
    expect(alts.map((x) => [...x.tokens]), `seed ${seed}`).toEqual(refAlts.map((x) => [...x.tokens]));
    alts.forEach((x, i) => expect(Math.abs(x.score - refAlts[i]!.score)).toBeLessThanOrEqual(1e-4));
    expectSame(native.finalize(), ref.finalize(), `seed ${seed} final ${utterance}`);
  }
}

const CASES: Array<[string, Partial<CtcDecoderOptions>]> = [
  ['beam 8', {}],
  ['beam 4, token LM', { beamSize: 4, lm: shippedTokenLm() }],
  ['beam 16, no pruning', { beamSize: 16, tokenThreshold: Infinity }],
];

describe('hotwords replaced mid-utterance: native == TypeScript reference', () => {
  it.each(CASES)('random posteriors (%s)', (_n, opts) => {
    for (let seed = 1; seed <= 30; seed++) {
      const frames = 40;
      const rand = rng(seed * 31);
      const { logProbs } = seed % 2 ? peakyLogProbs(frames, rand, 0.3) : { logProbs: randomLogProbs(frames, rand, 3) };
      run(logProbs, frames, seed, opts);
    }
  });

  it.each(CASES)("the shipped model's posteriors of a speech clip (%s)", (_n, opts) => {
    const bytes = readFileSync(join(process.cwd(), 'test/fixtures/model/logp_c4.bin'));
    const clip = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    for (let seed = 1; seed <= 6; seed++) run(clip, clip.length / V, 100 + seed, opts);
  });
});

describe("hotwords on the shipped model's posteriors of 'layla wants have some biscuit'", () => {
  const bytes = readFileSync(join(process.cwd(), 'test/fixtures/model/logp_c4.bin'));
  const clip = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const frames = clip.length / V;
  const decode = (phrases: Array<{ phrase: string; boost?: number }>) => {
    const d = new CtcDecoder({ vocabSize: V, lm: shippedTokenLm() });
    d.setHotwords(hotwordsFromPhrases(phrases, TOKENS));
    d.decodeChunk(clip, frames);
    const r = d.finalize();
    // every token's probability is the model's posterior on the frames its path held it: at least the first's, at
    // most the best of them (held until the next token at the latest)
    r.tokens.forEach((tok, i) => {
      const held = Array.from({ length: (r.frames[i + 1] ?? frames) - r.frames[i]! },
        (_, k) => Math.exp(clip[(r.frames[i]! + k) * V + tok]!));
      expect(r.probs[i]).toBeGreaterThanOrEqual(held[0]! - 1e-6);
      expect(r.probs[i]).toBeLessThanOrEqual(Math.max(...held) + 1e-6);
    });
    return { text: d.text(r, TOKENS), words: d.words(r, TOKENS) };
  };

  it('a boosted word keeps its acoustic timing and confidence (the bonus is not a posterior)', () => {
    const plain = decode([]);
    expect(plain.text).toBe('he wants have some baskets');
    const biased = decode([{ phrase: 'biscuit', boost: 2 }]);
    expect(biased.text).toBe('he wants have some biscuit');
    const [was, is] = [plain.words.at(-1)!, biased.words.at(-1)!];
    expect(is.confidence).toBeGreaterThan(0);
    expect(is.confidence).toBeLessThan(was.confidence); // the model heard "baskets" better: no boost inside
    expect(is.startMs).toBe(was.startMs);
    expect(Math.abs(is.endMs - was.endMs)).toBeLessThanOrEqual(80);
    expect(biased.words.slice(0, -1)).toEqual(plain.words.slice(0, -1)); // the other words are untouched
  });
});
