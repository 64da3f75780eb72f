/**
 * Hotword phrases -> token ids for the CTC decoder's biasing automaton (`CtcSearch.setHotwords`).
 *
 * Why its own step: the protocol speaks phrases and the decoder token ids; the split must follow the model's token
 * list exactly (characters here, BPE pieces with a word-initial `▁` in other models), or a phrase never matches.
 */
import { GatewayError } from '../protocol/errors.js';
import { DEFAULT_CTC_DECODER_OPTIONS, type Hotword } from './ctc-decoder.js';

/** Per-token bonus (nats) used by `hotwordsFromPhrases` when a phrase gives none (sherpa-onnx's default). */
export const DEFAULT_HOTWORD_BOOST = 1.5;

/** Typographic apostrophes (phones and word processors type them for `'`): spelled with `'` when they have no token. */
const APOSTROPHES = /[\u2018\u2019\u02bc]/g;

/**
 * Turns phrases into hotwords: lowercased, whitespace collapsed, words joined by `separatorId`, each word split into
 * the longest matching token pieces (a leading `▁` piece is tried first at a word start, for BPE vocabularies);
 * `’` `‘` `ʼ` are spelled as `'` unless the vocabulary has them.
 * Throws GW_ERR_BAD_HOTWORD quoting the phrase when a character has no token or a phrase is empty.
 */
export function hotwordsFromPhrases(
  phrases: ReadonlyArray<string | { phrase: string; boost?: number }>,
  tokens: readonly string[],
  options: { separatorId?: number; blankId?: number; boost?: number } = {},
): Hotword[] {
  const separatorId = options.separatorId ?? DEFAULT_CTC_DECODER_OPTIONS.separatorId;
  const blankId = options.blankId ?? DEFAULT_CTC_DECODER_OPTIONS.blankId;
  const ids = new Map<string, number>();
  let longest = 1;
  tokens.forEach((t, id) => {
    if (id === blankId || id === separatorId || t === '' || ids.has(t)) return;
    ids.set(t, id);
    longest = Math.max(longest, t.length);
  });
  return phrases.map((p) => {
    const phrase = typeof p === 'string' ? p : p.phrase;
    const boost = (typeof p === 'string' ? undefined : p.boost) ?? options.boost ?? DEFAULT_HOTWORD_BOOST;
    const words = phrase.toLowerCase().trim().split(/\s+/).filter((w) => w !== '');
    if (words.length === 0) throw new GatewayError('GW_ERR_BAD_HOTWORD', `hotword ${JSON.stringify(phrase)} is empty`);
    if (!Number.isFinite(boost)) {
      throw new GatewayError('GW_ERR_BAD_HOTWORD', `hotword ${JSON.stringify(phrase)} has a bad boost ${boost}`);
    }
    const out: number[] = [];
    words.forEach((typed, w) => {
      if (w > 0 && separatorId >= 0) out.push(separatorId);
      const word = typed.replace(APOSTROPHES, (c) => (ids.has(c) ? c : "'"));
      let i = 0;
      while (i < word.length) {
        let match = -1;
        let used = 0;
        for (let len = Math.min(longest, word.length - i); len >= 1 && match < 0; len--) {
          const sub = word.slice(i, i + len);
          const id = (i === 0 ? ids.get('▁' + sub) : undefined) ?? ids.get(sub);
          if (id !== undefined) [match, used] = [id, len];
        }
        if (match < 0) {
          throw new GatewayError(
            'GW_ERR_BAD_HOTWORD',
            `hotword ${JSON.stringify(phrase)} contains ${JSON.stringify(String.fromCodePoint(word.codePointAt(i)!))}, `
              + 'which is not in the token list',
          );
        }
        out.push(match);
        i += used;
      }
    });
    return { tokenIds: out, boost };
  });
}
