/**
 * What a hotword list is worth to a hypothesis, checked against a brute-force count instead of the automaton
 * (whole-word-bonus.ts): the text is forced (one token per frame at log-prob 0, every other token at -1000), so a
 * decoder's score is its hotword bonus. docs/protocol.md: a phrase's `boost` is its "bonus per matched token", so
 * - a phrase matches whole words only: with the word separator before and after it (the utterance starts and ends
 *   at a word boundary; the separators add nothing); without a separator id (-1), anywhere in the text;
 * - a final (and every n-best entry) holds, for every place a phrase completes in the text, that phrase's own boost
 *   times its length: overlapping phrases, a phrase inside another, a phrase repeated in the text all count;
 * - a hypothesis that ends inside a phrase, or leaves it, keeps nothing of the unfinished match at the final;
 * - while the match is open (partials, ranking), the prefix matched so far holds its tokens' boosts (the largest of
 *   the phrases sharing that prefix, so the longer phrase is not handicapped by a shorter one), the phrase's last
 *   token included before the separator that closes it is read;
 * - session.update's new list rescores the utterance as if it had applied from its start.
 */
import { describe, expect, it } from 'vitest';

import { CtcDecoder, type CtcSearch, type Hotword } from '../../src/inference/ctc-decoder.js';
import { CtcPrefixBeamSearch } from '../../src/inference/ctc-prefix-beam-search.js';
import { V, idsOf, rng } from './ctc-fixtures.js';
import { completedBonus, partialBonus } from './whole-word-bonus.js';

const engines: Array<[string, number, () => CtcSearch]> = [
  ['native, whole words', 1, () => new CtcDecoder({ vocabSize: V })],
  ['reference, whole words', 1, () => new CtcPrefixBeamSearch({ vocabSize: V })],
  ['native, no separator', -1, () => new CtcDecoder({ vocabSize: V, separatorId: -1 })],
  ['reference, no separator', -1, () => new CtcPrefixBeamSearch({ vocabSize: V, separatorId: -1 })],
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

/** Phrases over a 3-letter alphabet and the separator, so that they overlap, nest and repeat in the text (and
 * sometimes begin or end with a separator, or are one). */
function randomCase(rand: () => number): { text: number[]; hot: Hotword[] } {
  const alphabet = idsOf('ab c');
  const pick = (): number => alphabet[Math.floor(rand() * alphabet.length)]!;
  const text = Array.from({ length: 4 + Math.floor(rand() * 20) }, pick);
  const seen = new Set<string>();
  const hot: Hotword[] = [];
  for (let i = 0, n = 1 + Math.floor(rand() * 6); i < n; i++) {
    const ids = Array.from({ length: 1 + Math.floor(rand() * 4) }, pick);
    // the protocol refuses duplicates; whole words make " a" and "a" the same phrase
    const key = ids.join().replace(/^(1,)+|(,1)+$/g, '');
    if (seen.has(key)) continue;
    seen.add(key);
    hot.push({ tokenIds: ids, boost: Math.round(rand() * 40) / 8 });
  }
  return { text, hot };
}

describe.each(engines)('hotword bonus == brute-force count (%s)', (_name, sep, make) => {
  it('a phrase that is the start of a longer one keeps its own boost once complete', () => {
    // "john" boost 1 and "johnson" boost 8, said "john smith": "john" is worth 4, as without "johnson".
    const hot = [{ tokenIds: idsOf('john'), boost: 1 }, { tokenIds: idsOf('johnson'), boost: 8 }];
    const d = make();
    d.setHotwords(hot);
    d.decodeChunk(forced(idsOf('john smith')), 20);
    expect(d.finalize().score).toBeCloseTo(4, 6);
  });

  it('a phrase inside a longer word counts only without a separator id; two words in a row both count', () => {
    const hot = [{ tokenIds: idsOf('john'), boost: 1 }, { tokenIds: idsOf('son'), boost: 2 }];
    const inside = make();
    inside.setHotwords(hot);
    inside.decodeChunk(forced(idsOf('johnson')), 14);
    // whole words: "j" opened "john", "s" left it; without, "son" is complete and still open (6 more until left)
    expect(inside.current().score).toBeCloseTo(sep < 0 ? 4 + 6 + 6 : 0, 6);
    expect(inside.finalize().score).toBeCloseTo(sep < 0 ? 4 + 6 : 0, 6);
    const apart = make();
    apart.setHotwords(hot);
    apart.decodeChunk(forced(idsOf('john son')), 16);
    expect(apart.current().score).toBeCloseTo(sep < 0 ? 4 + 6 + 6 : 4 + 6, 6); // whole words: "son" open, holds 6
    expect(apart.finalize().score).toBeCloseTo(4 + 6, 6);
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
        expect(r.score, `seed ${seed} partial ${i}`).toBeCloseTo(partialBonus(sofar, hot, sep), 6);
      }
      const alts = d.finalAlternatives();
      const want = completedBonus(text, hot, sep, true);
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
            .toBeCloseTo(partialBonus(sofar, list, sep), 6);
        }
        d.decodeChunk(m.subarray(2 * i * V, (2 * i + 2) * V), 2);
      }
      expect(d.finalize().score, `seed ${seed} final`).toBeCloseTo(completedBonus(text, list, sep, true), 6);
      // the next utterance starts from the root of the list in effect
      d.decodeChunk(m, 2 * text.length);
      expect(d.finalize().score, `seed ${seed} next utterance`).toBeCloseTo(completedBonus(text, list, sep, true), 6);
    }
  });
});
