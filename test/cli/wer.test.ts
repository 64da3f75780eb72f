/**
 * WER scoring of `voxgate eval`: the normalisation must read a reference the way the model writes (lower-case
 * words with ASCII apostrophes), and a corpus figure must never hide errors.
 */
import { describe, expect, it } from 'vitest';
import { formatWerTable, werReport, type EvalResult } from '../../src/cli/eval-report.js';
import { normaliseTranscript, wer, WerAccumulator } from '../../src/cli/wer.js';

describe('transcript normalisation', () => {
  it('reads typographic apostrophes as the ASCII one the model writes', () => {
    // References copied from typeset text carry U+2019 (and U+2018 / U+02BC); split there, "don’t" cost two errors.
    expect(normaliseTranscript('I don’t know, it‘s ‘fine’ donʼt')).toEqual(['i', "don't", 'know', "it's", 'fine', "don't"]);
    expect(wer('I don’t know', "i don't know")).toBe(0);
  });

  it('keeps combining marks inside their word', () => {
    // Devanagari vowel signs and viramas are \p{M}: NFKC has no precomposed form to fold them into.
    expect(normaliseTranscript('नमस्ते दुनिया')).toEqual(['नमस्ते', 'दुनिया']);
    expect(normaliseTranscript('e\u0331 x')).toEqual(['e\u0331', 'x']);
  });
});

describe('corpus WER', () => {
  it('errors against no reference words are not 0% but infinite, as wer() says, in the table and the JSON', () => {
    const silence = new WerAccumulator();
    silence.add('', 'hello there'); // a noise-only clip the model hallucinated on
    expect(silence.wer).toBe(wer('', 'hello there'));
    expect(silence.wer).toBe(Infinity);
    const clean = new WerAccumulator();
    clean.add('', '');
    expect(clean.wer).toBe(0);
    const overall = new WerAccumulator();
    overall.add('', 'hello there');
    overall.add('a b c d', 'a b c d');
    expect(overall.wer).toBe(0.5);
    const result: EvalResult = { perSet: new Map([['noise', silence], ['speech', clean]]), overall, hypotheses: [] };
    expect(formatWerTable(result)).toMatch(/^noise\s+1\s+0\s+inf$/m);
    expect(formatWerTable(result)).toMatch(/^speech\s+1\s+0\s+0\.0%$/m);
    const report = werReport(result);
    expect(report.sets.noise).toEqual({ files: 1, words: 0, errors: 2, wer: null });
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });
});
