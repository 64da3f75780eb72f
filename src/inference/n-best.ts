/**
 * A final's n-best list of distinct texts, from the live hypotheses of a CTC beam (`CtcSearch.finalAlternatives`).
 *
 * Why texts and not hypotheses: distinct token sequences often spell the same text (a trailing word separator, a
 * separator doubled), so the raw beam repeats itself; a client choosing between readings wants each reading once.
 * Order: by the score of the best hypothesis that spells the text, the score `finalize()` ranks by, so the first
 * text is always the final's. Confidence: the beam's posterior share of the text, exp(logsumexp of its hypotheses'
 * scores - logsumexp of all scores); the scores include hotword and LM terms, so this is the decoder's belief,
 * not a calibrated probability. Grouping can lift a later text's share above an earlier one's.
 */
import { ctcText, logAddExp, type CtcAlternative } from './ctc-decoder.js';

export interface NBestText {
  text: string;
  /** In [0, 1]; the list sums to at most 1. */
  confidence: number;
}

/** Up to `count` distinct texts of `alternatives` (best first, as finalAlternatives returns them); none for count < 1. */
export function nBestTexts(alternatives: readonly CtcAlternative[], count: number, tokens: readonly string[],
  separatorId: number): NBestText[] {
  let total = -Infinity;
  const byText = new Map<string, number>(); // insertion order = best hypothesis first
  for (const a of alternatives) {
    total = logAddExp(total, a.score);
    const text = ctcText(a.tokens, tokens, separatorId);
    const seen = byText.get(text);
    byText.set(text, seen === undefined ? a.score : logAddExp(seen, a.score));
  }
  // slice(0, -1) would keep all but the last text
  return [...byText].slice(0, Math.max(0, count)).map(([text, score]) => ({
    text,
    confidence: Number.isFinite(total) ? Math.min(1, Math.exp(score - total)) : 0,
  }));
}
