/**
 * `voxgate eval MANIFEST.tsv`: transcribes every file of a manifest (`set<TAB>path<TAB>reference`, paths relative to
 * the manifest) through the full pipeline, in-process by default (one shared encoder pool, `--concurrency` sessions
 * at a time, batched by the pool) or against a server (`--url`), and prints the corpus WER per set and overall.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GatewayError } from '../protocol/errors.js';
import type { SessionServices } from '../server/session-pipeline-port.js';
import { openLocalChannel, openRemoteChannel } from './channel.js';
import { startFieldsFor, streamWav } from './stream-wav.js';
import {
  IN_PROCESS_HELP, loadInProcessEngine, SESSION_HELP, startExtras, type InProcessFlags, type SessionFlags,
} from './transcribe-command.js';
import { readWavFile } from './wav.js';
import { WerAccumulator } from './wer.js';

export const EVAL_HELP = `Usage: voxgate eval MANIFEST.tsv [options]

MANIFEST.tsv lines: set<TAB>path<TAB>reference (path relative to the manifest; lines starting with # are skipped).
Every file is streamed through the full pipeline; prints WER per set and overall (corpus WER: edits / words).

Options:
  --out FILE             write path<TAB>hypothesis per file
  --json FILE            write the WER report as JSON ({sets: {SET: {files, words, errors, wer}}, overall})
  --url URL              transcribe through a server instead of in-process
  --api-key KEY          API key for --url
  --concurrency N        sessions at a time (default 4)
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
}

export interface EvalResult {
  perSet: Map<string, WerAccumulator>;
  overall: WerAccumulator;
  hypotheses: { path: string; hypothesis: string }[];
}

/** Transcribes every entry (in manifest order in the result) on `services` or `url`. */
export async function evaluate(entries: readonly ManifestEntry[], target: { services?: SessionServices; url?: string;
  apiKey?: string }, options: { concurrency: number; extras: ReturnType<typeof startExtras> }): Promise<EvalResult> {
  const hyps: string[] = new Array<string>(entries.length).fill('');
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < entries.length) {
      const i = next++;
      const entry = entries[i]!;
      const wav = await readWavFile(entry.file);
      const start = startFieldsFor(wav, options.extras);
      const channel = target.url !== undefined ? await openRemoteChannel(target.url, start, target.apiKey)
        : await openLocalChannel(target.services!, start);
      const result = await streamWav(channel, wav);
      if (result.ended.reason !== 'client_end') {
        throw new GatewayError(result.ended.error_code ?? 'GW_ERR_INTERNAL', `${entry.path}: session ended with an error`);
      }
      hyps[i] = result.text;
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, entries.length) }, worker));
  const perSet = new Map<string, WerAccumulator>();
  const overall = new WerAccumulator();
  entries.forEach((e, i) => {
    if (!perSet.has(e.set)) perSet.set(e.set, new WerAccumulator());
    perSet.get(e.set)!.add(e.reference, hyps[i]!);
    overall.add(e.reference, hyps[i]!);
  });
  return { perSet, overall, hypotheses: entries.map((e, i) => ({ path: e.path, hypothesis: hyps[i]! })) };
}

/** The WER table as data (WER as a fraction). */
export function werReport(result: EvalResult): { sets: Record<string, WerFigures>; overall: WerFigures } {
  const figures = (a: WerAccumulator): WerFigures =>
    ({ files: a.files, words: a.referenceWords, errors: a.errors, wer: a.wer });
  const sets = Object.fromEntries([...result.perSet.entries()].sort(([a], [b]) => a.localeCompare(b))
    .map(([set, acc]) => [set, figures(acc)]));
  return { sets, overall: figures(result.overall) };
}

export interface WerFigures { files: number; words: number; errors: number; wer: number }

export function formatWerTable(result: EvalResult): string {
  const rows = [...result.perSet.entries()].sort(([a], [b]) => a.localeCompare(b))
    .map(([set, acc]) => [set, acc]) as [string, WerAccumulator][];
  rows.push(['overall', result.overall]);
  const width = Math.max(8, ...rows.map(([s]) => s.length));
  const lines = [`${'set'.padEnd(width)}  files  words   WER`];
  for (const [set, acc] of rows) {
    lines.push(`${set.padEnd(width)}  ${String(acc.files).padStart(5)}  ${String(acc.referenceWords).padStart(5)}  `
      + `${(acc.wer * 100).toFixed(1).padStart(5)}%`);
  }
  return `${lines.join('\n')}\n`;
}

export async function runEval(manifestPath: string, flags: EvalFlags): Promise<number> {
  const concurrency = flags.concurrency === undefined ? 4 : Number(flags.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `--concurrency must be an integer in [1, 256], got "${flags.concurrency}"`);
  }
  const extras = startExtras(flags);
  const entries = parseManifest(await readFile(manifestPath, 'utf8'), manifestPath);
  let result: EvalResult;
  if (flags.url !== undefined) {
    result = await evaluate(entries, { url: flags.url, ...(flags['api-key'] === undefined ? {} : { apiKey: flags['api-key'] }) },
      { concurrency, extras });
  } else {
    const engine = await loadInProcessEngine(flags);
    try {
      result = await evaluate(entries, { services: engine }, { concurrency, extras });
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
