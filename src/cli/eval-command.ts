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
import { formatEvalSummary, oracleHypothesis, scoreCorpus, werReport, type EvalResult } from './eval-report.js';
import { handleInterrupts } from './interrupts.js';
import { startFieldsFor, streamWav } from './stream-wav.js';
import {
  alternativesFlag, IN_PROCESS_HELP, loadInProcessEngine, numberFlag, SESSION_HELP, startExtras, targetFlags,
  type InProcessFlags, type SessionFlags,
} from './transcribe-command.js';
import { readWavHeader } from './wav.js';

export const EVAL_HELP = `Usage: voxgate eval MANIFEST.tsv [options]

MANIFEST.tsv lines: set<TAB>path<TAB>reference (path relative to the manifest; blank lines and
lines whose first non-blank character is # are skipped).
Every file is streamed through the full pipeline; prints WER per set and overall (corpus WER: edits / words).
Before the first is, every file's WAV header is checked: a file that cannot be read or sent stops the run at once,
named by its line.

Options:
  --out FILE             write path<TAB>hypothesis per file
  --json FILE            write the WER report as JSON ({sets: {SET: {files, words, errors, wer}}, overall})
  --url URL              transcribe through a server instead of in-process
  --api-key KEY          API key for --url
  --concurrency N        sessions at a time (1-256, default 4)
  --alternatives N       ask for N-best lists (session.start alternatives) and add the oracle WER: each file's
                         hypothesis built from the reading of each final that best matches the reference
${SESSION_HELP}${IN_PROCESS_HELP}  -h, --help             this help

Ctrl-C (SIGINT) or SIGTERM stops the run: no further file starts, the files being sent end with the audio sent so
far (their sessions end cleanly) and are left out, the WER of the files done is printed after a line
"interrupted by SIGINT: K of N files done", --out and --json are not written (an earlier file stays as it was), and
the command exits 130 (SIGINT) or 143 (SIGTERM). A second signal exits at once with that code.

Exit codes: 0 done, 1 an error (the first file that fails stops the run), 2 a usage error, 130 / 143 interrupted.
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
  // Lines end in LF, CRLF or CR alone (Excel for Mac's tab-delimited text): split on LF only, a CR file was one line,
  // its entries glued into the first one's reference.
  text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/).forEach((line, i) => {
    // an indented `#` (a note aligned under the columns) was taken as an entry and refused for lacking them
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
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

/**
 * A file that is missing, or is no WAV the CLI can send (24-bit, a bad header, not RIFF at all), is found before the
 * run, not when its turn comes (maybe hours in), and named by its line. Only the chunk headers are read.
 */
async function checkFiles(entries: readonly ManifestEntry[]): Promise<void> {
  for (const e of entries) {
    try {
      if (!(await stat(e.file)).isFile()) throw new Error('not a file');
      await access(e.file, constants.R_OK);
    } catch (err) {
      throw new GatewayError('GW_ERR_BAD_CONFIG', `${e.at ?? e.path}: cannot read ${JSON.stringify(e.path)}: `
        + `${(err as Error).message}`, { cause: err });
    }
    try {
      await readWavHeader(e.file, JSON.stringify(e.path));
    } catch (err) {
      const bad = toGatewayError(err);
      throw new GatewayError(bad.code, `${e.at ?? e.path}: ${bad.message}`, { cause: err });
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
  // "" passed the check below (its temporary sibling lands in the working directory) and failed only at the rename,
  // after the whole manifest was transcribed
  if (filePath === '') throw new GatewayError('GW_ERR_BAD_CONFIG', `${flag} must name a file, got ""`);
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

/**
 * --out / --json must be neither the manifest nor each other: the run replaced the manifest with its hypotheses (or
 * one report with the other), and only at its end.
 */
function distinctOutputs(manifestPath: string, out: string | undefined, json: string | undefined): void {
  const manifest = path.resolve(manifestPath);
  for (const [flag, file] of [['--out', out], ['--json', json]] as const) {
    if (file !== undefined && path.resolve(file) === manifest) {
      throw new GatewayError('GW_ERR_BAD_CONFIG', `${flag} ${JSON.stringify(file)} is the manifest`);
    }
  }
  if (out !== undefined && json !== undefined && path.resolve(out) === path.resolve(json)) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `--out and --json are the same file, ${JSON.stringify(json)}`);
  }
}

export interface EvalFlags extends InProcessFlags, SessionFlags {
  out?: string | undefined;
  json?: string | undefined;
  url?: string | undefined;
  'api-key'?: string | undefined;
  concurrency?: string | undefined;
  alternatives?: string | undefined;
}

/**
 * Transcribes every entry (in manifest order in the result) on `services` or `url`. The first entry that fails stops
 * the run: no further entry starts, the open sessions are abandoned, and once every worker has stopped (the caller
 * may then close `services`) it rejects with that entry's error, prefixed with the entry's `at` (else its path).
 * Once `signal` aborts (Ctrl-C) no further entry starts either, but the open sessions end as at the end of their
 * audio (the server sees a clean end, not a dropped socket) and the result leaves out every entry not sent whole:
 * the finals of part of a file scored against its whole reference would count the rest as deleted words.
 */
export async function evaluate(entries: readonly ManifestEntry[], target: { services?: SessionServices; url?: string;
  apiKey?: string }, options: { concurrency: number; extras: ReturnType<typeof startExtras>; alternatives?: number;
  signal?: AbortSignal },
): Promise<EvalResult> {
  const hyps: string[] = new Array<string>(entries.length).fill('');
  const oracles: string[] = new Array<string>(entries.length).fill('');
  const nBest = (options.alternatives ?? 1) > 1;
  let next = 0;
  let failure: GatewayError | null = null;
  const done: boolean[] = new Array<boolean>(entries.length).fill(false);
  const stopped = (): boolean => failure !== null || options.signal?.aborted === true;
  const streaming = new Set<TranscriptionChannel>();
  const transcribe = async (i: number): Promise<void> => {
    const entry = entries[i]!;
    const wav = await readWavHeader(entry.file);
    if (stopped()) return;
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
      result = await streamWav(channel, wav, options.signal === undefined ? {} : { signal: options.signal });
    } finally {
      streaming.delete(channel);
    }
    if (result.ended.reason !== 'client_end') {
      throw new GatewayError(result.ended.error_code ?? 'GW_ERR_INTERNAL', `${entry.path}: session ended with an error`);
    }
    if (result.interrupted) return;
    hyps[i] = result.text;
    if (nBest) oracles[i] = oracleHypothesis(entry.reference, result.finals);
    done[i] = true;
  };
  // After the first failure no worker starts another entry and the open sessions are abandoned: a run that failed
  // has no WER to report, and in-process the engine must not close under sessions still streaming.
  const worker = async (): Promise<void> => {
    while (next < entries.length && !stopped()) {
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
  const kept = entries.flatMap((_, i) => (done[i] ? [i] : []));
  const keptEntries = kept.map((i) => entries[i]!);
  const result: EvalResult = { ...scoreCorpus(keptEntries, kept.map((i) => hyps[i]!)),
    hypotheses: kept.map((i) => ({ path: entries[i]!.path, hypothesis: hyps[i]! })),
    ...(kept.length < entries.length ? { interrupted: { done: kept.length, files: entries.length } } : {}) };
  if (!nBest) return result;
  const oracle = scoreCorpus(keptEntries, kept.map((i) => oracles[i]!));
  return { ...result, oraclePerSet: oracle.perSet, oracleOverall: oracle.overall };
}

async function readManifest(manifestPath: string): Promise<ManifestEntry[]> {
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
  return entries;
}

export async function runEval(manifestPath: string, flags: EvalFlags): Promise<number> {
  const concurrency = numberFlag('concurrency', flags.concurrency, 'integer', 1, 256) ?? 4;
  targetFlags(flags);
  const extras = startExtras(flags);
  const { alternatives } = alternativesFlag(flags.alternatives);
  const options = { concurrency, extras, ...(alternatives === undefined ? {} : { alternatives }) };
  // From here on a signal stops the run cleanly: also while the manifest is read (`eval <(...)` waits on the writer
  // of the pipe) and the model loads (seconds); Node's default action ended the process by the signal, without the
  // summary and the exit code of a later one. On a terminal the notice starts a line of its own: the echoed ^C is on
  // the current one.
  const interrupt = handleInterrupts((signal) => process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}voxgate: `
    + `${signal}: stopping: no further file starts, the files being sent end with the audio sent so far and are left `
    + 'out (again to exit at once)\n'));
  let result: EvalResult;
  let writeOut: ((text: string) => Promise<void>) | undefined;
  let writeJson: ((text: string) => Promise<void>) | undefined;
  try {
    const entries = await readManifest(manifestPath);
    await checkFiles(entries);
    writeOut = await outputFile('--out', flags.out);
    writeJson = await outputFile('--json', flags.json);
    distinctOutputs(manifestPath, flags.out, flags.json);
    const run = { ...options, signal: interrupt.signal };
    if (flags.url !== undefined) {
      result = await evaluate(entries, { url: flags.url,
        ...(flags['api-key'] === undefined ? {} : { apiKey: flags['api-key'] }) }, run);
    } else if (interrupt.signal.aborted) {
      result = await evaluate(entries, {}, run); // stopped already: no entry starts, no model to load for nothing
    } else {
      const engine = await loadInProcessEngine(flags);
      try {
        result = await evaluate(entries, { services: engine }, run);
      } finally {
        await engine.close();
      }
    }
  } finally {
    interrupt.dispose();
  }
  process.stdout.write(formatEvalSummary(result, String(interrupt.signal.reason)));
  if (result.interrupted !== undefined) {
    // written, they would read as the report of the whole manifest
    const unwritten = [flags.out === undefined ? '' : '--out', flags.json === undefined ? '' : '--json'].filter(Boolean);
    if (unwritten.length > 0) {
      process.stderr.write(`voxgate: ${unwritten.join(' and ')} not written: the run was interrupted\n`);
    }
    return interrupt.exitCode()!;
  }
  await writeOut?.(result.hypotheses.map((h) => `${h.path}\t${h.hypothesis}\n`).join(''));
  await writeJson?.(`${JSON.stringify(werReport(result), null, 2)}\n`);
  return interrupt.exitCode() ?? 0;
}
