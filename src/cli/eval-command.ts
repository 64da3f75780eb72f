/**
 * `voxgate eval MANIFEST.tsv`: transcribes every file of a manifest (`set<TAB>path<TAB>reference`, paths relative to
 * the manifest) through the full pipeline, in-process by default (one shared encoder pool, `--concurrency` sessions
 * at a time, batched by the pool) or against a server (`--url`), and prints the corpus WER per set and overall.
 * With `--alternatives N` it also prints the oracle WER of the finals' n-best lists: how far a client that picks the
 * right reading among N (an intent matcher) could get, which says whether the lists are worth asking for.
 */
import { constants, access, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GatewayError, toGatewayError } from '../protocol/errors.js';
import type { SessionServices } from '../server/session-pipeline-port.js';
import { openLocalChannel, openRemoteChannel, type TranscriptionChannel } from './channel.js';
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
  /** `MANIFEST:LINE`, which errors about the entry name; absent for entries built in code (they name `path`). */
  at?: string;
}

export function parseManifest(text: string, manifestPath: string): ManifestEntry[] {
  const dir = path.dirname(manifestPath);
  const out: ManifestEntry[] = [];
  // Windows editors start UTF-8 files with a byte order mark: it made the first line's set (or comment) another one.
  text.replace(/^\uFEFF/, '').split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const cols = line.split('\t');
    if (cols.length < 3) {
      throw new GatewayError('GW_ERR_BAD_CONFIG', `${manifestPath}:${i + 1}: expected set<TAB>path<TAB>reference, `
        + `got ${JSON.stringify(line.slice(0, 80))}`);
    }
    out.push({ set: cols[0]!, path: cols[1]!, file: path.resolve(dir, cols[1]!), reference: cols.slice(2).join(' '),
      at: `${manifestPath}:${i + 1}` });
  });
  return out;
}

/** A missing file is found before the run, not when its turn comes (maybe hours in), and named by its line. */
async function checkFiles(entries: readonly ManifestEntry[]): Promise<void> {
  for (const e of entries) {
    try {
      if (!(await stat(e.file)).isFile()) throw new Error('not a file');
      await access(e.file, constants.R_OK);
    } catch (err) {
      throw new GatewayError('GW_ERR_BAD_CONFIG', `${e.at ?? e.path}: cannot read ${JSON.stringify(e.path)}: `
        + `${(err as Error).message}`, { cause: err });
    }
  }
}

/**
 * `--out` / `--json`: checked before the run (a temporary sibling is created and removed, so an interrupted run
 * leaves nothing behind), not found unwritable after the whole manifest was transcribed. The writer it returns makes
 * the file appear whole or not at all (the sibling renamed over it): a failed run leaves an earlier report as it was.
 */
async function outputFile(flag: string, filePath: string | undefined):
  Promise<((text: string) => Promise<void>) | undefined> {
  if (filePath === undefined) return undefined;
  const tmpPath = `${filePath}.${process.pid}.tmp`;
  try {
    // the final rename would fail on a directory
    if ((await stat(filePath).catch(() => null))?.isDirectory() === true) throw new Error('EISDIR: is a directory');
    await (await open(tmpPath, 'w')).close();
    await rm(tmpPath);
  } catch (e) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `${flag} ${JSON.stringify(filePath)} cannot be written: `
      + `${(e as Error).message}`, { cause: e });
  }
  return async (text) => {
    try {
      await writeFile(tmpPath, text);
      await rename(tmpPath, filePath);
    } catch (e) {
      await rm(tmpPath, { force: true });
      throw e;
    }
  };
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

/**
 * Transcribes every entry (in manifest order in the result) on `services` or `url`. The first entry that fails stops
 * the run: no further entry starts, the open sessions are abandoned, and once every worker has stopped (the caller
 * may then close `services`) it rejects with that entry's error, prefixed with the entry's `at` (else its path).
 */
export async function evaluate(entries: readonly ManifestEntry[], target: { services?: SessionServices; url?: string;
  apiKey?: string }, options: { concurrency: number; extras: ReturnType<typeof startExtras>; alternatives?: number },
): Promise<EvalResult> {
  const hyps: string[] = new Array<string>(entries.length).fill('');
  const oracles: string[] = new Array<string>(entries.length).fill('');
  const nBest = (options.alternatives ?? 1) > 1;
  let next = 0;
  let failure: GatewayError | null = null;
  const streaming = new Set<TranscriptionChannel>();
  const transcribe = async (i: number): Promise<void> => {
    const entry = entries[i]!;
    const wav = await readWavFile(entry.file);
    if (failure !== null) return;
    const start = { ...startFieldsFor(wav, options.extras), ...(nBest ? { alternatives: options.alternatives } : {}) };
    const channel = target.url !== undefined ? await openRemoteChannel(target.url, start, target.apiKey)
      : await openLocalChannel(target.services!, start);
    if (failure !== null) {
      channel.close();
      return;
    }
    streaming.add(channel);
    let result: Awaited<ReturnType<typeof streamWav>>;
    try {
      result = await streamWav(channel, wav);
    } finally {
      streaming.delete(channel);
    }
    if (result.ended.reason !== 'client_end') {
      throw new GatewayError(result.ended.error_code ?? 'GW_ERR_INTERNAL', `${entry.path}: session ended with an error`);
    }
    hyps[i] = result.text;
    if (nBest) oracles[i] = oracleHypothesis(entry.reference, result.finals);
  };
  // After the first failure no worker starts another entry and the open sessions are abandoned: a run that failed
  // has no WER to report, and in-process the engine must not close under sessions still streaming.
  const worker = async (): Promise<void> => {
    while (next < entries.length && failure === null) {
      const i = next++;
      try {
        await transcribe(i);
      } catch (e) {
        if (failure !== null) return; // abandoned below by the first failure
        const err = toGatewayError(e);
        failure = new GatewayError(err.code, `${entries[i]!.at ?? entries[i]!.path}: ${err.message}`, { cause: e });
        for (const channel of streaming) channel.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, entries.length) }, worker));
  if (failure !== null) throw failure;
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
  // a manifest with no entries (an empty or wrong file) has no WER: 0.0% would read as a perfect score
  if (entries.length === 0) throw new GatewayError('GW_ERR_BAD_CONFIG', `${manifestPath}: no entries`);
  await checkFiles(entries);
  const writeOut = await outputFile('--out', flags.out);
  const writeJson = await outputFile('--json', flags.json);
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
  await writeOut?.(result.hypotheses.map((h) => `${h.path}\t${h.hypothesis}\n`).join(''));
  await writeJson?.(`${JSON.stringify(werReport(result), null, 2)}\n`);
  return 0;
}
