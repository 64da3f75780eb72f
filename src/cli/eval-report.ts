/**
 * The report of a `voxgate eval` run: corpus WER per set and overall, the oracle WER of n-best lists, as the table it
 * prints and as the JSON of `--json`.
 */
import type { TranscriptFinalMessage } from '../protocol/messages.js';
import { normaliseTranscript, WerAccumulator, wordEdits } from './wer.js';

export interface EvalResult {
  perSet: Map<string, WerAccumulator>;
  overall: WerAccumulator;
  /** Only with alternatives > 1: the same over the oracle hypotheses. */
  oraclePerSet?: Map<string, WerAccumulator>;
  oracleOverall?: WerAccumulator;
  hypotheses: { path: string; hypothesis: string }[];
  /** Only when a signal stopped the run before every file was done: all of the above is of the `done` files. */
  interrupted?: { done: number; files: number };
}

/** Corpus WER per set and overall of one hypothesis per entry. */
export function scoreCorpus(entries: readonly { set: string; reference: string }[], hyps: readonly string[]):
  { perSet: Map<string, WerAccumulator>; overall: WerAccumulator } {
  const perSet = new Map<string, WerAccumulator>();
  const overall = new WerAccumulator();
  entries.forEach((e, i) => {
    if (!perSet.has(e.set)) perSet.set(e.set, new WerAccumulator());
    perSet.get(e.set)!.add(e.reference, hyps[i]!);
    overall.add(e.reference, hyps[i]!);
  });
  return { perSet, overall };
}

/**
 * The file's hypothesis with each final replaced by the reading of its n-best list that fits the reference best:
 * one pass over the finals in order, each choosing the reading that minimises the whole file's word errors given
 * the choices so far and the others' first readings (exact for the usual one final per file; a close upper bound
 * on the true oracle otherwise, which would try every combination).
 */
export function oracleHypothesis(reference: string, finals: readonly TranscriptFinalMessage[]): string {
  const ref = normaliseTranscript(reference);
  const readings = finals.map((f) => (f.alternatives ?? [{ text: f.text }]).map((a) => a.text));
  const chosen = readings.map((r) => r[0] ?? '');
  const errors = (): number => wordEdits(ref, normaliseTranscript(chosen.join(' '))).errors;
  readings.forEach((options, u) => {
    let best = options[0] ?? '', bestErrors = Infinity;
    for (const text of options) {
      chosen[u] = text;
      const e = errors();
      if (e < bestErrors) [best, bestErrors] = [text, e];
    }
    chosen[u] = best;
  });
  return chosen.filter((t) => t !== '').join(' ');
}

/**
 * The WER table as data (WER as a fraction; null for errors against no reference words, which JSON cannot carry as
 * Infinity); with n-best lists each entry also has `oracle_wer`.
 */
export function werReport(result: EvalResult): { sets: Record<string, WerFigures>; overall: WerFigures } {
  const rate = (a: WerAccumulator): number | null => (Number.isFinite(a.wer) ? a.wer : null);
  const figures = (a: WerAccumulator, oracle: WerAccumulator | undefined): WerFigures =>
    ({ files: a.files, words: a.referenceWords, errors: a.errors, wer: rate(a),
      ...(oracle === undefined ? {} : { oracle_wer: rate(oracle) }) });
  const sets = Object.fromEntries([...result.perSet.entries()].sort(([a], [b]) => a.localeCompare(b))
    .map(([set, acc]) => [set, figures(acc, result.oraclePerSet?.get(set))]));
  return { sets, overall: figures(result.overall, result.oracleOverall) };
}

export interface WerFigures { files: number; words: number; errors: number; wer: number | null; oracle_wer?: number | null }

export function formatWerTable(result: EvalResult): string {
  const rows = [...result.perSet.entries()].sort(([a], [b]) => a.localeCompare(b))
    .map(([set, acc]) => [set, acc, result.oraclePerSet?.get(set)]) as [string, WerAccumulator, WerAccumulator?][];
  rows.push(['overall', result.overall, result.oracleOverall]);
  const width = Math.max(8, ...rows.map(([s]) => s.length));
  const percent = (a: WerAccumulator): string =>
    (Number.isFinite(a.wer) ? `${(a.wer * 100).toFixed(1).padStart(5)}%` : '   inf');
  const lines = [`${'set'.padEnd(width)}  files  words   WER${result.oracleOverall ? '   oracle' : ''}`];
  for (const [set, acc, oracle] of rows) {
    lines.push(`${set.padEnd(width)}  ${String(acc.files).padStart(5)}  ${String(acc.referenceWords).padStart(5)}  `
      + `${percent(acc)}${oracle ? `   ${percent(oracle)}` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * What `voxgate eval` prints: the WER table; after a signal, first a line that says the table covers only the files
 * done (none: no table, whose 0 words would read as a perfect score).
 */
export function formatEvalSummary(result: EvalResult, signal: string): string {
  if (result.interrupted === undefined) return formatWerTable(result);
  const { done, files } = result.interrupted;
  const head = `interrupted by ${signal}: ${done} of ${files} files done`;
  return done === 0 ? `${head}\n` : `${head}, the WER is of those only\n${formatWerTable(result)}`;
}
