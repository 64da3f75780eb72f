/**
 * Hotwords match whole words (docs/protocol.md, hotwords): a phrase is matched with the word separator before and
 * after it, so it neither completes inside a longer word ("baskin" in "baskints") nor opens a match inside one (a
 * hotword nobody said once pushed the said word out of the beam). Real posteriors of the shipped model, then random
 * posteriors where every n-best entry's score must be its exact CTC log-probability plus the brute-force whole-word
 * bonus (whole-word-bonus.ts), natively and in the TypeScript reference alike.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { CtcDecoder, type CtcDecoderOptions, type CtcSearch, type Hotword } from '../../src/inference/ctc-decoder.js';
import { CtcPrefixBeamSearch } from '../../src/inference/ctc-prefix-beam-search.js';
import { hotwordsFromPhrases } from '../../src/inference/hotword-tokens.js';
import { TOKENS, V, idsOf, rng, shippedTokenLm } from './ctc-fixtures.js';
import { completedBonus, ctcLogProb, partialBonus } from './whole-word-bonus.js';

type Make = (o?: Partial<CtcDecoderOptions>) => CtcSearch;
const engines: Array<[string, Make]> = [
  ['native', (o = {}) => new CtcDecoder({ vocabSize: V, ...o })],
  ['reference', (o = {}) => new CtcPrefixBeamSearch({ vocabSize: V, ...o })],
];

const text = (ids: ArrayLike<number>): string =>
  new CtcDecoder({ vocabSize: V }).text({ tokens: Int32Array.from(ids) }, TOKENS);

describe.each(engines)("the shipped model's posteriors of 'layla wants have some biscuit' (%s)", (_name, make) => {
  const bytes = readFileSync(join(process.cwd(), 'test/fixtures/model/logp_c4.bin'));
  const clip = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const frames = clip.length / V;
  const decode = (phrase: string, boost: number, separatorId = 1): string => {
    const d = make({ lm: shippedTokenLm(), separatorId });
    if (phrase !== '') d.setHotwords(hotwordsFromPhrases([{ phrase, boost }], TOKENS));
    d.decodeChunk(clip, frames);
    return text(d.finalize().tokens);
  };
  /** Whether `phrase` occurs in `final` only as whole words. */
  const wholeWordsOnly = (final: string, phrase: string): boolean =>
    ` ${final} `.split(phrase).length === ` ${final} `.split(` ${phrase} `).length;

  it.each([['baskin', 2], ['some basil', 2], ['somerset', 6]] as const)(
    '%s at boost %d completes only as whole words, never inside a longer word', (phrase, boost) => {
      const final = decode(phrase, boost);
      expect(wholeWordsOnly(final, phrase), final).toBe(true);
    });

  it('a hotword nobody said ("samantha" at 3) leaves the final as it was', () => {
    expect(decode('', 0)).toBe('he wants have some baskets');
    expect(decode('samantha', 3)).toBe('he wants have some baskets');
  });

  it('without a separator id (-1) a phrase still matches inside words, as before', () => {
    expect(decode('baskin', 2, -1)).toBe('he wants have some baskints');
  });
});

/** Posteriors over blank, the separator, "a" and "b" only (the rest at -1000, below the token threshold), so that a
 * beam of 1024 keeps every prefix of 6 frames and each one's score is its exact CTC probability. */
function smallAlphabet(rand: () => number, frames: number): Float32Array {
  const live = [0, ...idsOf(' ab')];
  const m = new Float32Array(frames * V).fill(-1000);
  for (let f = 0; f < frames; f++) {
    const logits = live.map(() => (rand() * 2 - 1) * 3);
    const lse = Math.log(logits.reduce((s, x) => s + Math.exp(x), 0));
    live.forEach((id, k) => (m[f * V + id] = logits[k]! - lse));
  }
  return m;
}

function smallPhrases(rand: () => number): Hotword[] {
  const words = ['a', 'b', 'ab', 'ba', 'aa', 'a b', 'ab a', ' a', 'b ', ' b '];
  const seen = new Set<string>(); // the protocol refuses duplicates; whole words make " a" and "a" the same phrase
  const picked = words.filter((w) => rand() < 0.35 && !seen.has(w.trim()) && seen.add(w.trim()));
  return picked.map((w) => ({ tokenIds: idsOf(w), boost: 0.5 + Math.round(rand() * 24) / 8 }));
}

describe.each(engines)('on random posteriors: score == exact CTC log-prob + whole-word bonus (%s)', (_name, make) => {
  it.each([[1], [-1]])('every n-best entry and the partial (separator id %d)', (sep) => {
    const frames = 6;
    for (let seed = 1; seed <= 60; seed++) {
      const rand = rng(seed);
      const hot = smallPhrases(rand);
      const m = smallAlphabet(rand, frames);
      const d = make({ beamSize: 1024, separatorId: sep });
      d.setHotwords(hot);
      const partial = d.decodeChunk(m, frames);
      const want = (t: number[], final: boolean): number => ctcLogProb(m, frames, V, t)
        + (final ? completedBonus(t, hot, sep, true) : partialBonus(t, hot, sep));
      expect(partial.score, `seed ${seed} partial`).toBeCloseTo(want([...partial.tokens], false), 6);
      const alts = d.finalAlternatives();
      expect(alts.length, `seed ${seed}`).toBeGreaterThan(100);
      for (const a of alts) {
        expect(a.score, `seed ${seed} "${text(a.tokens)}"`).toBeCloseTo(want([...a.tokens], true), 6);
      }
      expect(d.finalize().score).toBe(alts[0]!.score);
    }
  });
});

describe('whole-word hotwords on random posteriors: native == TypeScript reference', () => {
  it('finals, n-best lists and partials, chunk by chunk, with the list replaced mid-utterance', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rand = rng(500 + seed);
      const opts = { beamSize: 4 + (seed % 3) * 6, ...(seed % 4 === 0 ? { lm: shippedTokenLm() } : {}) };
      const native = new CtcDecoder({ vocabSize: V, ...opts });
      const ref = new CtcPrefixBeamSearch({ vocabSize: V, ...opts });
      const frames = 24;
      const m = smallAlphabet(rand, frames);
      for (const d of [native, ref]) d.setHotwords(smallPhrases(rng(seed)));
      let at = 0;
      while (at < frames) {
        const n = Math.min(frames - at, 1 + Math.floor(rand() * 5));
        const chunk = m.subarray(at * V, (at + n) * V);
        at += n;
        const [a, b] = [native.decodeChunk(chunk, n), ref.decodeChunk(chunk, n)];
        expect([...a.tokens], `seed ${seed} frame ${at}`).toEqual([...b.tokens]);
        expect(Math.abs(a.score - b.score), `seed ${seed} frame ${at}`).toBeLessThanOrEqual(1e-4);
        if (rand() < 0.2) {
          const list = smallPhrases(rand);
          native.setHotwords(list);
          ref.setHotwords(list);
          expect(Math.abs(native.current().score - ref.current().score)).toBeLessThanOrEqual(1e-4);
        }
      }
      const [x, y] = [native.finalAlternatives(), ref.finalAlternatives()];
      expect(x.map((e) => [...e.tokens]), `seed ${seed}`).toEqual(y.map((e) => [...e.tokens]));
      x.forEach((e, i) => expect(Math.abs(e.score - y[i]!.score)).toBeLessThanOrEqual(1e-4));
      expect([...native.finalize().tokens]).toEqual([...ref.finalize().tokens]);
    }
  });
});
