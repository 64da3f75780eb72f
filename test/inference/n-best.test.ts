/**
 * nBestTexts (src/inference/n-best.ts): hypotheses that spell one text count once, with their scores pooled; the
 * order is that of each text's best hypothesis; shares are of the whole beam.
 */
import { describe, expect, it } from 'vitest';
import type { CtcAlternative } from '../../src/inference/ctc-decoder.js';
import { nBestTexts } from '../../src/inference/n-best.js';

const TOKENS = ['<blk>', '▁', "'", ...'abcdefghijklmnopqrstuvwxyz'];
const SEP = 1;
/** Token ids of `text`, a space as the separator. */
const ids = (text: string): Int32Array => Int32Array.from([...text].map((c) => (c === ' ' ? SEP : TOKENS.indexOf(c))));
const alt = (text: string, score: number): CtcAlternative => ({ tokens: ids(text), score });

describe('nBestTexts', () => {
  it('pools hypotheses of one text, keeps the best-first order, and cuts at count', () => {
    const beam = [alt('no', -1), alt('no ', -1.5), alt('know', -2), alt('now', -2.2), alt(' no', -2.4), alt('new', -3)];
    const total = Math.log(beam.reduce((s, a) => s + Math.exp(a.score), 0));
    const out = nBestTexts(beam, 3, TOKENS, SEP);
    expect(out.map((a) => a.text)).toEqual(['no', 'know', 'now']);
    const share = (...scores: number[]) => scores.reduce((s, x) => s + Math.exp(x - total), 0);
    expect(out[0]!.confidence).toBeCloseTo(share(-1, -1.5, -2.4), 12);
    expect(out[1]!.confidence).toBeCloseTo(share(-2), 12);
    expect(out[2]!.confidence).toBeCloseTo(share(-2.2), 12);
    expect(nBestTexts(beam, 10, TOKENS, SEP).reduce((s, a) => s + a.confidence, 0)).toBeCloseTo(1, 12);
  });

  it('orders by the best hypothesis, not the pooled share: the first text is always the final one', () => {
    const out = nBestTexts([alt('cat', -1), alt('cap', -1.1), alt('cap ', -1.2), alt(' cap', -1.3)], 2, TOKENS, SEP);
    expect(out.map((a) => a.text)).toEqual(['cat', 'cap']);
    expect(out[1]!.confidence).toBeGreaterThan(out[0]!.confidence);
  });

  it('handles an empty hypothesis, a beam of one, and scores that are all -Infinity', () => {
    expect(nBestTexts([alt('', -0.5)], 5, TOKENS, SEP)).toEqual([{ text: '', confidence: 1 }]);
    expect(nBestTexts([alt('a', -Infinity), alt('b', -Infinity)], 5, TOKENS, SEP))
      .toEqual([{ text: 'a', confidence: 0 }, { text: 'b', confidence: 0 }]);
    const large = nBestTexts([alt('a', 800), alt('b', 799)], 2, TOKENS, SEP); // no overflow in the normaliser
    expect(large[0]!.confidence).toBeCloseTo(1 / (1 + Math.exp(-1)), 12);
  });

  it('an empty beam or a count below 1 gives no texts; "up to count" never means "all but the last"', () => {
    const beam = [alt('no', -1), alt('now', -2), alt('new', -3)];
    expect(nBestTexts([], 3, TOKENS, SEP)).toEqual([]);
    expect(nBestTexts(beam, 0, TOKENS, SEP)).toEqual([]);
    expect(nBestTexts(beam, -1, TOKENS, SEP)).toEqual([]);
  });

  it('texts of equal score keep the beam order (the native tie-break by prefix key)', () => {
    const out = nBestTexts([alt('b', -1), alt('a', -1), alt('c', -1)], 3, TOKENS, SEP);
    expect(out.map((a) => a.text)).toEqual(['b', 'a', 'c']);
    for (const a of out) expect(a.confidence).toBeCloseTo(1 / 3, 12);
  });
});
