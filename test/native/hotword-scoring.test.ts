/**
 * What a hotword list is worth to a hypothesis, checked against a brute-force count instead of the automaton: the
 * text is forced (one token per frame at log-prob 0, every other token at -1000), so a decoder's score is its
 * hotword bonus. docs/protocol.md: a phrase's `boost` is its "bonus per matched token", so
 * - a final (and every n-best entry) holds, for every place a phrase ends in the text, that phrase's own boost times
 *   its length: overlapping phrases, a phrase inside another, a phrase repeated in the text all count;
 * - a hypothesis that ends inside a phrase, or leaves it, keeps nothing of the unfinished match at the final;
 * - while the match is open (partials, ranking), the prefix matched so far holds its tokens' boosts (the largest of
 *   the phrases sharing that prefix, so the longer phrase is not handicapped by a shorter one);
 * - session.update's new list rescores the utterance as if it had applied from its start.
 */
import { describe, expect, it } from 'vitest';

import { CtcDecoder, type CtcSearch, type Hotword } from '../../src/inference/ctc-decoder.js';
import { CtcPrefixBeamSearch } from '../../src/inference/ctc-prefix-beam-search.js';
import { V, idsOf, rng } from './ctc-fixtures.js';

const engines: Array<[string, () => CtcSearch]> = [
  ['native', () => new CtcDecoder({ vocabSize: V })],
  ['reference', () => new CtcPrefixBeamSearch({ vocabSize: V })],
];

/** Frames that spell `ids` with nothing else possible: each token, then a blank (so repeats are separate tokens). */
function forced(ids: readonly number[]): Float32Array {
  const m = new Float32Array(2 * ids.length * V).fill(-1000);
  ids.forEach((id, i) => {
    m[2 * i * V + id] = 0;
    m[(2 * i + 1) * V] = 0;
  });
  return m;
}

const endsWith = (text: readonly number[], end: number, p: readonly number[]): boolean =>
  end >= p.length && p.every((t, k) => text[end - p.length + k] === t);

/** Sum over every end position in `text` of every phrase ending there: that phrase's boost x its length. */
function completedBonus(text: readonly number[], hot: readonly Hotword[]): number {
  let sum = 0;
  for (let end = 1; end <= text.length; end++) {
    for (const h of hot) if (endsWith(text, end, Array.from(h.tokenIds))) sum += h.boost * h.tokenIds.length;
  }
  return sum;
}

/** The open match: the longest suffix of `text` that begins some phrase, each of its tokens at the largest boost of
 * the phrases that begin with the suffix up to that token. */
function openBonus(text: readonly number[], hot: readonly Hotword[]): number {
  for (let len = text.length; len > 0; len--) {
    const s = text.slice(text.length - len);
    const starts = (p: readonly number[], n: number): boolean =>
      p.length >= n && s.slice(0, n).every((t, k) => p[k] === t);
    if (!hot.some((h) => starts(Array.from(h.tokenIds), len))) continue;
    let sum = 0;
    for (let n = 1; n <= len; n++) {
      sum += Math.max(...hot.filter((h) => starts(Array.from(h.tokenIds), n)).map((h) => h.boost));
    }
    return sum;
  }
  return 0;
}

/** Phrases over a 3-letter alphabet and the separator, so that they overlap, nest and repeat in the text. */
function randomCase(rand: () => number): { text: number[]; hot: Hotword[] } {
  const alphabet = idsOf('ab c');
  const pick = (): number => alphabet[Math.floor(rand() * alphabet.length)]!;
  const text = Array.from({ length: 4 + Math.floor(rand() * 20) }, pick);
  const seen = new Set<string>();
  const hot: Hotword[] = [];
  for (let i = 0, n = 1 + Math.floor(rand() * 6); i < n; i++) {
    const ids = Array.from({ length: 1 + Math.floor(rand() * 4) }, pick);
    if (seen.has(ids.join())) continue; // the protocol refuses duplicates
    seen.add(ids.join());
    hot.push({ tokenIds: ids, boost: Math.round(rand() * 40) / 8 });
  }
  return { text, hot };
}

describe.each(engines)('hotword bonus == brute-force count (%s)', (_name, make) => {
  it('a phrase that is the start of a longer one keeps its own boost once complete', () => {
    // "john" boost 1 and "johnson" boost 8, said "john smith": "john" is worth 4, as without "johnson".
    const hot = [{ tokenIds: idsOf('john'), boost: 1 }, { tokenIds: idsOf('johnson'), boost: 8 }];
    const d = make();
    d.setHotwords(hot);
    d.decodeChunk(forced(idsOf('john smith')), 20);
    expect(d.finalize().score).toBeCloseTo(4, 6);
  });

  it('on random texts and overlapping phrases: partials and finals', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const { text, hot } = randomCase(rng(seed));
      const d = make();
      d.setHotwords(hot);
      const m = forced(text);
      for (let i = 0; i < text.length; i++) {
        const r = d.decodeChunk(m.subarray(2 * i * V, (2 * i + 2) * V), 2);
        const sofar = text.slice(0, i + 1);
        expect([...r.tokens], `seed ${seed}`).toEqual(sofar);
        expect(r.score, `seed ${seed} partial ${i}`).toBeCloseTo(completedBonus(sofar, hot) + openBonus(sofar, hot), 6);
      }
      const alts = d.finalAlternatives();
      const want = completedBonus(text, hot);
      expect(alts[0]!.score, `seed ${seed} n-best`).toBeCloseTo(want, 6);
      const r = d.finalize();
      expect([...r.tokens], `seed ${seed}`).toEqual(text);
      expect(r.score, `seed ${seed} final`).toBeCloseTo(want, 6);
    }
  });

  it('a new list mid-utterance rescores it as if it had applied from the start, and across utterances', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const rand = rng(1000 + seed);
      const { text, hot } = randomCase(rand);
      const lists = [hot, randomCase(rand).hot, [], randomCase(rand).hot];
      const d = make();
      let list = lists[0]!;
      d.setHotwords(list);
      const m = forced(text);
      for (let i = 0; i < text.length; i++) {
        if (rand() < 0.4) {
          list = lists[Math.floor(rand() * lists.length)]!;
          d.setHotwords(list);
          const sofar = text.slice(0, i);
          expect(d.current().score, `seed ${seed} swap at ${i}`)
            .toBeCloseTo(completedBonus(sofar, list) + openBonus(sofar, list), 6);
        }
        d.decodeChunk(m.subarray(2 * i * V, (2 * i + 2) * V), 2);
      }
      expect(d.finalize().score, `seed ${seed} final`).toBeCloseTo(completedBonus(text, list), 6);
      // the next utterance starts from the root of the list in effect
      d.decodeChunk(m, 2 * text.length);
      expect(d.finalize().score, `seed ${seed} next utterance`).toBeCloseTo(completedBonus(text, list), 6);
    }
  });
});
