/**
 * Word error rate: word-level Levenshtein distance (substitutions + deletions + insertions) over the number of
 * reference words, after the normalisation the model's output follows (docs/protocol.md "Transcript semantics":
 * lower-case a-z and `'`, single spaces).
 */

/** Lower-case, keep letters (with their combining marks), digits and apostrophes inside words, collapse whitespace. */
export function normaliseTranscript(text: string): string[] {
  return text
    .normalize('NFKC')
    .toLowerCase()
    // The model writes only ASCII `'`; references from typeset text use the typographic ones (NFKC keeps them).
    .replace(/[\u2018\u2019\u02bc]/gu, "'")
    .replace(/[^\p{L}\p{M}\p{N}'\s]+/gu, ' ')
    .split(/\s+/u)
    .map((w) => w.replace(/^'+|'+$/g, ''))
    .filter((w) => w !== '');
}

export interface WordEdits {
  substitutions: number;
  deletions: number;
  insertions: number;
  /** substitutions + deletions + insertions. */
  errors: number;
  referenceWords: number;
}

/** Minimum word edits turning `reference` into `hypothesis` (both already split into words). O(n m) time, O(m) memory. */
export function wordEdits(reference: readonly string[], hypothesis: readonly string[]): WordEdits {
  const m = hypothesis.length;
  // Each cell: [cost, subs, dels, ins]; ties broken towards fewer edits of any kind (cost decides).
  let prev: [number, number, number, number][] = Array.from({ length: m + 1 }, (_, j) => [j, 0, 0, j]);
  for (let i = 1; i <= reference.length; i++) {
    const cur: [number, number, number, number][] = [[i, 0, i, 0]];
    for (let j = 1; j <= m; j++) {
      const same = reference[i - 1] === hypothesis[j - 1];
      const diag = prev[j - 1]!;
      const up = prev[j]!;
      const left = cur[j - 1]!;
      let best: [number, number, number, number] = same ? [diag[0], diag[1], diag[2], diag[3]]
        : [diag[0] + 1, diag[1] + 1, diag[2], diag[3]];
      if (up[0] + 1 < best[0]) best = [up[0] + 1, up[1], up[2] + 1, up[3]];
      if (left[0] + 1 < best[0]) best = [left[0] + 1, left[1], left[2], left[3] + 1];
      cur.push(best);
    }
    prev = cur;
  }
  const [errors, substitutions, deletions, insertions] = prev[m]!;
  return { substitutions, deletions, insertions, errors, referenceWords: reference.length };
}

/**
 * Errors over reference words; with no reference words, 0 without errors and Infinity with some (never a 0 that
 * hides them).
 */
function errorRate(errors: number, referenceWords: number): number {
  if (referenceWords === 0) return errors === 0 ? 0 : Infinity;
  return errors / referenceWords;
}

/** WER of one pair of texts (normalised), as {@link errorRate}. */
export function wer(reference: string, hypothesis: string): number {
  const e = wordEdits(normaliseTranscript(reference), normaliseTranscript(hypothesis));
  return errorRate(e.errors, e.referenceWords);
}

/** Corpus WER: total edits over total reference words (not a mean of per-file WERs). */
export class WerAccumulator {
  errors = 0;
  referenceWords = 0;
  files = 0;

  add(reference: string, hypothesis: string): WordEdits {
    const e = wordEdits(normaliseTranscript(reference), normaliseTranscript(hypothesis));
    this.errors += e.errors;
    this.referenceWords += e.referenceWords;
    this.files++;
    return e;
  }

  /** The corpus figure, as {@link errorRate}. */
  get wer(): number {
    return errorRate(this.errors, this.referenceWords);
  }
}
