/**
 * hotwordsFromPhrases (src/inference/hotword-tokens.ts) with the shipped model's token list: phrases the model can
 * spell become token ids; anything else is GW_ERR_BAD_HOTWORD quoting the phrase and the character.
 */
import { describe, expect, it } from 'vitest';

import { hotwordsFromPhrases } from '../../src/inference/hotword-tokens.js';
import { readTokens } from '../../src/inference/nemo-ctc-model.js';
import { MODEL_DIR } from './helpers.js';

const TOKENS = readTokens(`${MODEL_DIR}/tokens.txt`);
const ids = (text: string): number[] => [...text].map((ch) => (ch === ' ' ? 1 : TOKENS.indexOf(ch)));

describe('hotwordsFromPhrases (shipped tokens.txt)', () => {
  // Phones and word processors type a typographic apostrophe; the model spells the word with its ASCII one.
  it.each(['mcdonald’s', 'mcdonald‘s', 'mcdonaldʼs'])('spells %j with the apostrophe token', (phrase) => {
    expect(hotwordsFromPhrases([phrase], TOKENS)[0]!.tokenIds).toEqual(ids("mcdonald's"));
  });

  it('quotes a character outside the BMP whole, not half a surrogate pair', () => {
    expect(() => hotwordsFromPhrases(['call 📞 now'], TOKENS))
      .toThrow(expect.objectContaining({ code: 'GW_ERR_BAD_HOTWORD', message: expect.stringContaining('"📞"') }));
  });

  it('rejects a phrase that is empty after normalisation and a non-finite boost, quoting the phrase', () => {
    expect(() => hotwordsFromPhrases([' \t\n '], TOKENS)).toThrow(expect.objectContaining({ code: 'GW_ERR_BAD_HOTWORD' }));
    for (const boost of [Number.NaN, Infinity, -Infinity]) {
      expect(() => hotwordsFromPhrases([{ phrase: 'balance', boost }], TOKENS))
        .toThrow(expect.objectContaining({ code: 'GW_ERR_BAD_HOTWORD', message: expect.stringContaining('"balance"') }));
    }
  });

  it('keeps the boost limits and duplicates as given (the protocol layer bounds and deduplicates them)', () => {
    const out = hotwordsFromPhrases([{ phrase: 'a', boost: 0 }, { phrase: 'A', boost: 20 }, 'a'], TOKENS);
    expect(out.map((h) => h.boost)).toEqual([0, 20, 1.5]);
    expect(out.map((h) => h.tokenIds)).toEqual([ids('a'), ids('a'), ids('a')]);
  });
});
