/**
 * Hotword benchmark: does a session's hotword list help when its words are said, and stay harmless when they are not?
 * Held-out utterances of the open-vocabulary sets (training/cache/heldout/MANIFEST.tsv, which the training recipe's
 * prepare step makes; not in git) go through the real in-process engine as `voxgate eval` runs it (loadSpeechEngine,
 * the CLI's in-process channel, unpaced, the engine's settings from the environment), once per condition: no hotwords
 * ("none"); the utterance's 2 longest reference words ("true@B") at each boost B; 3 words of 4+ letters from other
 * utterances' references, absent from this one ("distract@B"). Prints the corpus WER per condition, how many listed
 * words the hypotheses hold (true: words won; distract: words put where nobody said them) and how many utterances'
 * hypotheses the list changed from "none" (a distractor list should change few).
 *
 * Utterances (a seeded sample, kept in manifest order, when --utterances is below the sets' size), true words and
 * distractors follow from the flags alone, so two builds compare on the same lists: VOXGATE_NATIVE_PATH runs another
 * build of the native addon (the decoder that applies the hotwords).
 *
 * usage: npm run bench:hotwords -- [--manifest training/cache/heldout/MANIFEST.tsv] [--utterances 150]
 *        [--sets asterisk,speechocean762,ljspeech_subset,dctts_own_recordings,commonvoice_en_small] [--boosts 2,4]
 *        [--seed 20240607] [--concurrency 4] [--json FILE]
 *        (or npx tsx bench/hotword-eval.ts ...)
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROTOCOL_LIMITS } from '../src/protocol/messages.js';
import { openLocalChannel } from '../src/cli/channel.js';
import { parseManifest, type ManifestEntry } from '../src/cli/eval-command.js';
import { startFieldsFor, streamWav } from '../src/cli/stream-wav.js';
import { loadInProcessEngine } from '../src/cli/transcribe-command.js';
import { readWavHeader } from '../src/cli/wav.js';
import { normaliseTranscript, WerAccumulator } from '../src/cli/wer.js';
import { rng } from './bench-random.js';
import { argValue, checkBenchArgs, table } from './bench-stats.js';

const DEFAULT_MANIFEST = 'training/cache/heldout/MANIFEST.tsv';
/** Sets whose references are open-vocabulary sentences (the others are digits, commands and wake words). */
const OPEN_SETS = 'asterisk,speechocean762,ljspeech_subset,dctts_own_recordings,commonvoice_en_small';
const FLAGS = { manifest: 'text', utterances: 'number', sets: 'text', boosts: 'numbers', seed: 'number',
  concurrency: 'number', json: 'text' } as const;

/** One usage error: a line naming it, exit 2 (as checkBenchArgs). */
function usageError(message: string): never {
  console.error(`hotword-eval: ${message}`);
  process.exit(2);
}

/** Words the model can spell (a hotword it cannot spell ends the session with GW_ERR_BAD_HOTWORD). */
const wordsOf = (e: ManifestEntry): string[] => normaliseTranscript(e.reference).filter((w) => /^[a-z']+$/.test(w));

interface Lists { truth: string[]; distract: string[] }

/** `n` entries of `all` drawn by `rand` (all of them when n >= their number), in manifest order. */
function sample(all: readonly ManifestEntry[], n: number, rand: () => number): ManifestEntry[] {
  const idx = all.map((_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) { // Fisher-Yates
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, n).sort((a, b) => a - b).map((i) => all[i]!);
}

/** Per entry: its 2 longest words (first said first on a tie) and 3 distinct distractors from the others' words. */
function hotwordLists(entries: readonly ManifestEntry[], rand: () => number): Lists[] {
  const pool = [...new Set(entries.flatMap(wordsOf).filter((w) => w.length >= 4))].sort();
  return entries.map((e) => {
    const own = [...new Set(wordsOf(e))];
    const truth = [...own].sort((a, b) => b.length - a.length || own.indexOf(a) - own.indexOf(b)).slice(0, 2);
    const others = pool.filter((w) => !own.includes(w));
    const distract: string[] = [];
    while (distract.length < Math.min(3, others.length)) {
      const w = others[Math.floor(rand() * others.length)]!;
      if (!distract.includes(w)) distract.push(w);
    }
    return { truth, distract };
  });
}

interface Condition { name: string; list: (l: Lists) => string[]; boost: number }

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  checkBenchArgs(argv, FLAGS);
  // the repository root, from bench/ (tsx) or dist/bench/
  const root = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '..' : '../..', import.meta.url));
  const manifestPath = argValue(argv, 'manifest') ?? join(root, DEFAULT_MANIFEST);
  const shown = relative(process.cwd(), manifestPath) || manifestPath;
  const n = Number(argValue(argv, 'utterances') ?? 150);
  const sets = (argValue(argv, 'sets') ?? OPEN_SETS).split(',').map((s) => s.trim()).filter(Boolean);
  const boosts = (argValue(argv, 'boosts') ?? '2,4').split(',').map(Number);
  const seed = Number(argValue(argv, 'seed') ?? 20240607);
  const concurrency = Number(argValue(argv, 'concurrency') ?? 4);
  const jsonPath = argValue(argv, 'json');
  if (!Number.isInteger(n) || n < 1) usageError(`--utterances must be an integer >= 1, got ${n}`);
  if (!Number.isInteger(seed)) usageError(`--seed must be an integer, got ${seed}`);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    usageError(`--concurrency must be an integer in [1, 64], got ${concurrency}`);
  }
  const { minHotwordBoost: lo, maxHotwordBoost: hi } = PROTOCOL_LIMITS;
  if (boosts.some((b) => b <= lo || b > hi)) usageError(`--boosts must lie in (${lo}, ${hi}], got ${boosts.join(',')}`);
  if (!existsSync(manifestPath)) {
    usageError(`${shown} not found (training/cache is not in git: the training recipe's prepare step makes the `
      + 'held-out manifest, `cd training && /usr/bin/python3 -m voxgate_train.prepare`, training/README.md)');
  }
  const all = parseManifest(readFileSync(manifestPath, 'utf8'), manifestPath).filter((e) => sets.includes(e.set));
  const missing = sets.filter((s) => !all.some((e) => e.set === s));
  if (missing.length > 0) usageError(`${shown} has no utterances of set ${missing.join(', ')}`);

  const rand = rng(seed);
  const entries = sample(all, n, rand);
  const lists = hotwordLists(entries, rand);
  const conditions: Condition[] = [{ name: 'none', list: () => [], boost: 0 },
    ...boosts.map((boost) => ({ name: `true@${boost}`, list: (l: Lists) => l.truth, boost })),
    ...boosts.map((boost) => ({ name: `distract@${boost}`, list: (l: Lists) => l.distract, boost }))];

  const engine = await loadInProcessEngine({});
  const hyps = conditions.map(() => new Array<string>(entries.length).fill(''));
  // utterance-major, so the sessions running at once are mostly one utterance's conditions (similar lengths)
  const jobs = entries.flatMap((_, i) => conditions.map((_c, c) => [i, c] as const));
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const [i, c] = jobs[next++]!;
      const { name, list, boost } = conditions[c]!;
      const wav = await readWavHeader(entries[i]!.file);
      const hotwords = list(lists[i]!).map((phrase) => ({ phrase, boost }));
      const channel = await openLocalChannel(engine, startFieldsFor(wav, hotwords.length > 0 ? { hotwords } : {}));
      const r = await streamWav(channel, wav);
      if (r.ended.reason !== 'client_end') {
        throw new Error(`${entries[i]!.path} (${name}): session ended ${r.ended.reason} ${r.ended.error_code ?? ''}`);
      }
      hyps[c]![i] = r.text;
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await engine.close();
  }
  const seconds = (performance.now() - t0) / 1000;

  const report = conditions.map(({ name, list }, c) => {
    const acc = new WerAccumulator();
    let listed = 0, inHyp = 0, changed = 0;
    entries.forEach((e, i) => {
      acc.add(e.reference, hyps[c]![i]!);
      const said = new Set(normaliseTranscript(hyps[c]![i]!));
      const words = list(lists[i]!);
      listed += words.length;
      inHyp += words.filter((w) => said.has(w)).length;
      if (hyps[c]![i] !== hyps[0]![i]) changed++;
    });
    return { name, wer: acc.errors / acc.referenceWords, errors: acc.errors, words: acc.referenceWords, listed, inHyp,
      changed };
  });
  const counts = sets.map((s) => `${s} ${entries.filter((e) => e.set === s).length}`).join(', ');
  console.log(`hotword-eval: ${shown}, ${entries.length} utterances `
    + `(${counts}), seed ${seed}, native ${process.env['VOXGATE_NATIVE_PATH'] ?? 'build/Release'}, `
    + `${seconds.toFixed(0)} s`);
  console.log(table([['condition', 'WER %', 'errors / words', 'listed words in hyps', 'hyps changed vs none'],
    ...report.map((r) => [r.name, (100 * r.wer).toFixed(2), `${r.errors} / ${r.words}`,
      r.name === 'none' ? '-' : `${r.inHyp} / ${r.listed}`,
      r.name === 'none' ? '-' : `${r.changed} / ${entries.length}`])]));
  if (jsonPath !== undefined) {
    writeFileSync(jsonPath, `${JSON.stringify({ manifest: manifestPath, seed, sets, boosts, seconds,
      native: process.env['VOXGATE_NATIVE_PATH'] ?? null, report,
      utterances: entries.map((e, i) => ({ path: e.path, reference: e.reference, ...lists[i]!,
        hyps: Object.fromEntries(conditions.map(({ name }, c) => [name, hyps[c]![i]!])) })) }, null, 1)}\n`);
  }
}

await main();
