/**
 * `voxgate eval MANIFEST.tsv`: transcribes every file of a manifest (`set<TAB>path<TAB>reference`, paths relative to
 * the manifest) through the full pipeline, in-process by default (one shared encoder pool, `--concurrency` sessions
 * at a time, batched by the pool) or against a server (`--url`), and prints the corpus WER per set and overall.
 * With `--alternatives N` it also prints the oracle WER of the finals' n-best lists: how far a client that picks the
 * right reading among N (an intent matcher) could get, which says whether the lists are worth asking for.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GatewayError } from '../protocol/errors.js';
import type { SessionServices } from '../server/session-pipeline-port.js';
import { openLocalChannel, openRemoteChannel } from './channel.js';
import { startFieldsFor, streamWav } from './stream-wav.js';
import {
  alternativesFlag, IN_PROCESS_HELP, loadInProcessEngine, numberFlag, SESSION_HELP, startExtras, urlFlag,
  type InProcessFlags, type SessionFlags,
} from './transcribe-command.js';
import type { TranscriptFinalMessage } from '../protocol/messages.js';
import { readWavFile } from './wav.js';
import { normaliseTranscript, WerAccumulator, wordEdits } from './wer.js';

export const EVAL_HELP = `Usage: voxgate eval MANIFEST.tsv [options]

MANIFEST.tsv lines: set<TAB>path<TAB>reference (path relative to the manifest; lines starting with # are skipped).
Every file is streamed through the full pipeline; prints WER per set and overall (corpus WER: edits / words).

Options:
  --out FILE             write path<TAB>hypothesis per file
  --json FILE            write the WER report as JSON ({sets: {SET: {files, words, errors, wer}}, overall})
  --url URL              transcribe through a server instead of in-process
  --api-key KEY          API key for --url
  --concurrency N        sessions at a time (default 4)
  --alternatives N       ask for N-best lists (session.start alternatives) and add the oracle WER: each file's
                         hypothesis built from the reading of each final that best matches the reference
${SESSION_HELP}${IN_PROCESS_HELP}  -h, --help             this help
`;

export interface ManifestEntry {
  set: string;
  /** As written in the manifest. */
  path: string;
  /** Resolved against the manifest's directory. */
  file: string;
  reference: string;
}

export function parseManifest(text: string, manifestPath: string): ManifestEntry[] {
  const dir = path.dirname(manifestPath);
  const out: ManifestEntry[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const cols = line.split('\t');
    if (cols.length < 3) {
      throw new GatewayError('GW_ERR_BAD_CONFIG', `${manifestPath}:${i + 1}: expected set<TAB>path<TAB>reference, `
        + `got ${JSON.stringify(line.slice(0, 80))}`);
    }
    out.push({ set: cols[0]!, path: cols[1]!, file: path.resolve(dir, cols[1]!), reference: cols.slice(2).join(' ') });
  });
  return out;
}

export interface EvalFlags extends InProcessFlags, SessionFlags {
  out?: string | undefined;
  json?: string | undefined;
  url?: string | undefined;
  'api-key'?: string | undefined;
  concurrency?: string | undefined;
  alternatives?: string | undefined;
}

export interface EvalResult {
  perSet: Map<string, WerAccumulator>;
  overall: WerAccumulator;
  /** Only with alternatives > 1: the same over the oracle hypotheses. */
  oraclePerSet?: Map<string, WerAccumulator>;
  oracleOverall?: WerAccumulator;
  hypotheses: { path: string; hypothesis: string }[];
}

/** Transcribes every entry (in manifest order in the result) on `services` or `url`. */
export async function evaluate(entries: readonly ManifestEntry[], target: { services?: SessionServices; url?: string;
  apiKey?: string }, options: { concurrency: number; extras: ReturnType<typeof startExtras>; alternatives?: number },
): Promise<EvalResult> {
  const hyps: string[] = new Array<string>(entries.length).fill('');
  const oracles: string[] = new Array<string>(entries.length).fill('');
  const nBest = (options.alternatives ?? 1) > 1;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < entries.length) {
      const i = next++;
      const entry = entries[i]!;
      const wav = await readWavFile(entry.file);
      const start = { ...startFieldsFor(wav, options.extras), ...(nBest ? { alternatives: options.alternatives } : {}) };
      const channel = target.url !== undefined ? await openRemoteChannel(target.url, start, target.apiKey)
        : await openLocalChannel(target.services!, start);
      const result = await streamWav(channel, wav);
      if (result.ended.reason !== 'client_end') {
        throw new GatewayError(result.ended.error_code ?? 'GW_ERR_INTERNAL', `${entry.path}: session ended with an error`);
      }
      hyps[i] = result.text;
      if (nBest) oracles[i] = oracleHypothesis(entry.reference, result.finals);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, entries.length) }, worker));
  const hypotheses = entries.map((e, i) => ({ path: e.path, hypothesis: hyps[i]! }));
  const { perSet, overall } = scoreCorpus(entries, hyps);
  if (!nBest) return { perSet, overall, hypotheses };
  const oracle = scoreCorpus(entries, oracles);
  return { perSet, overall, hypotheses, oraclePerSet: oracle.perSet, oracleOverall: oracle.overall };
}

/** Corpus WER per set and overall of one hypothesis per entry. */
function scoreCorpus(entries: readonly ManifestEntry[], hyps: readonly string[]):
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

/** The WER table as data (WER as a fraction); with n-best lists each entry also has `oracle_wer`. */
export function werReport(result: EvalResult): { sets: Record<string, WerFigures>; overall: WerFigures } {
  const figures = (a: WerAccumulator, oracle: WerAccumulator | undefined): WerFigures =>
    ({ files: a.files, words: a.referenceWords, errors: a.errors, wer: a.wer,
      ...(oracle === undefined ? {} : { oracle_wer: oracle.wer }) });
  const sets = Object.fromEntries([...result.perSet.entries()].sort(([a], [b]) => a.localeCompare(b))
    .map(([set, acc]) => [set, figures(acc, result.oraclePerSet?.get(set))]));
  return { sets, overall: figures(result.overall, result.oracleOverall) };
}

export interface WerFigures { files: number; words: number; errors: number; wer: number; oracle_wer?: number }

export function formatWerTable(result: EvalResult): string {
  const rows = [...result.perSet.entries()].sort(([a], [b]) => a.localeCompare(b))
    .map(([set, acc]) => [set, acc, result.oraclePerSet?.get(set)]) as [string, WerAccumulator, WerAccumulator?][];
  rows.push(['overall', result.overall, result.oracleOverall]);
  const width = Math.max(8, ...rows.map(([s]) => s.length));
  const percent = (a: WerAccumulator): string => `${(a.wer * 100).toFixed(1).padStart(5)}%`;
  const lines = [`${'set'.padEnd(width)}  files  words   WER${result.oracleOverall ? '   oracle' : ''}`];
  for (const [set, acc, oracle] of rows) {
    lines.push(`${set.padEnd(width)}  ${String(acc.files).padStart(5)}  ${String(acc.referenceWords).padStart(5)}  `
      + `${percent(acc)}${oracle ? `   ${percent(oracle)}` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function runEval(manifestPath: string, flags: EvalFlags): Promise<number> {
  const concurrency = numberFlag('concurrency', flags.concurrency, 'integer', 1, 256) ?? 4;
  urlFlag(flags.url);
  const extras = startExtras(flags);
  const { alternatives } = alternativesFlag(flags.alternatives);
  const options = { concurrency, extras, ...(alternatives === undefined ? {} : { alternatives }) };
  let manifest: string;
  try {
    manifest = await readFile(manifestPath, 'utf8');
  } catch (e) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `cannot read manifest ${JSON.stringify(manifestPath)}: ${(e as Error).message}`,
      { cause: e });
  }
  const entries = parseManifest(manifest, manifestPath);
  let result: EvalResult;
  if (flags.url !== undefined) {
    result = await evaluate(entries, { url: flags.url, ...(flags['api-key'] === undefined ? {} : { apiKey: flags['api-key'] }) },
      options);
  } else {
    const engine = await loadInProcessEngine(flags);
    try {
      result = await evaluate(entries, { services: engine }, options);
    } finally {
      await engine.close();
    }
  }
  process.stdout.write(formatWerTable(result));
  if (flags.out !== undefined) {
    await writeFile(flags.out, result.hypotheses.map((h) => `${h.path}\t${h.hypothesis}\n`).join(''));
  }
  if (flags.json !== undefined) await writeFile(flags.json, `${JSON.stringify(werReport(result), null, 2)}\n`);
  return 0;
}
