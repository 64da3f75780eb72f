/**
 * An open hotword match must not crowd the beam (docs/protocol.md, hotwords). While a match is open its hypotheses
 * carry the bonus of the tokens matched so far, so variants of one open match (the same word after different
 * readings of the words before it) could fill every beam slot and push out every reading that does not match; when
 * the match then failed the bonus was taken back, and the final could only choose among the leftovers: a hotword cut
 * short. Real posteriors: held-out LJSpeech 00322 ("... courts of conscience to hear ..."), which the model hears as
 * "consions"; the matrix is what the in-process gateway's decoder was fed (205 frames x 29 tokens, float32; written
 * by test/fixtures/gen-hotword-fixtures.ts), decoded as the gateway decodes (shipped token LM, its default weights).
 * With "conscience" and "councilmen" at boost 2 the final was "... courts of conscien to her ...".
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { CtcDecoder, ctcText, type CtcDecoderOptions, type CtcSearch } from '../../src/inference/ctc-decoder.js';
import { CtcPrefixBeamSearch } from '../../src/inference/ctc-prefix-beam-search.js';
import { hotwordsFromPhrases } from '../../src/inference/hotword-tokens.js';
import { TOKENS, V, shippedTokenLm } from './ctc-fixtures.js';

type Make = (o: Partial<CtcDecoderOptions>) => CtcSearch;
const engines: Array<[string, Make]> = [
  ['native', (o) => new CtcDecoder({ vocabSize: V, ...o })],
  ['reference', (o) => new CtcPrefixBeamSearch({ vocabSize: V, ...o })],
];

const bytes = readFileSync(join(process.cwd(), 'test/fixtures/hotwords/ljspeech_subset-00322-logp.bin'));
const clip = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
const frames = clip.length / V;
const HOTWORDS = ['councilmen', 'conscience'];

describe.each(engines)('held-out "courts of conscience", heard as "consions" (%s)', (_name, make) => {
  const decode = (boost: number, beamSize: number): string => {
    const d = make({ beamSize, separatorId: 1, lm: shippedTokenLm() });
    if (boost > 0) d.setHotwords(hotwordsFromPhrases(HOTWORDS.map((phrase) => ({ phrase, boost })), TOKENS));
    d.decodeChunk(clip, frames);
    return ctcText(d.finalize().tokens, TOKENS, 1);
  };

  it.each([[8], [16]])('no final word is a listed hotword cut short, at boosts 1 to 4 (beam %d)', (beamSize) => {
    for (const boost of [1, 2, 3, 4]) {
      const final = decode(boost, beamSize);
      const cut = final.split(' ').filter((w) => HOTWORDS.some((h) => h !== w && h.startsWith(w) && w.length > 3));
      expect(cut, `boost ${boost}: ${final}`).toEqual([]);
      // the hotword that was said clearly is still won
      expect(final.split(' '), `boost ${boost}: ${final}`).toContain('councilmen');
    }
  });

  it('without hotwords the final is the plain reading', () => {
    expect(decode(0, 16)).toBe('and four common councel men to hold courts of requests or courts of consions to hear '
      + 'and e terman all couses of debt');
  });
});
