/**
 * Every benchmark script refuses argv it would otherwise misread (a typo such as `--session 100` ran the default
 * load and reported numbers for it): exit code 2 and one line naming the flag, before any work. The scripts run as
 * `npm run bench:*` runs them (dist/, when it is fresh; else through tsx, as `npx tsx bench/NAME.ts`); each case also passes a known flag with a value the script's own
 * check refuses at once, so that code without the refusal fails fast instead of starting a benchmark.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { benchArgsError } from '../../bench/bench-stats.js';
import { nodeArgsFor, ROOT } from '../integration/helpers.js';

/** Runs bench/`script` with `args`; killed after 60 s (the refusal needs only Node's start-up). */
function runBench(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...nodeArgsFor(`bench/${script}`), ...args],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// [script, argv with a typo, the unknown flag, a flag the script knows (listed in the error), or null: none]
const TYPOS: [string, string[], string, string | null][] = [
  ['bench.ts', ['--session', '100', '--duration', '0'], '--session', '--sessions'],
  ['churn.ts', ['--round', '2', '--transport', 'nope'], '--round', '--rounds'],
  ['encoder-ab.ts', ['--iter', '5'], '--iter', '--iters'],
  ['encoder-bench.ts', ['--batch', '8', '--batches', '0'], '--batch', '--batches'],
  ['encoder-profile.ts', ['--batches', '8', '--batch', '0'], '--batches', '--batch'],
  ['flood.ts', ['--second', '5', '--seconds', '0'], '--second', '--seconds'],
  ['hotword-eval.ts', ['--utterance', '3', '--utterances', '0'], '--utterance', '--utterances'],
  ['large-frame.ts', ['--seconds', '10'], '--seconds', null],
  ['long-session.ts', ['--minute', '1', '--minutes', '0'], '--minute', '--minutes'],
  ['micro-bench.ts', ['--run', '1', '--only', 'beams', '--runs', '1'], '--run', '--runs'],
  ['peer-bench.ts', ['--stream', '8', '--rounds', '0'], '--stream', '--streams'],
];

describe.concurrent('bench scripts refuse an unknown flag', () => {
  it.each(TYPOS)('%s %j exits 2 naming it', async (script, args, flag, known) => {
    const r = await runBench(script, args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe(''); // nothing started
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`unknown flag ${flag} (`);
    if (known === null) expect(r.stderr).toContain('takes no flags');
    else expect(r.stderr).toMatch(new RegExp(`${known}[,)]`));
  }, 90_000);

  it('a known flag without its value exits 2 naming it', async () => {
    const r = await runBench('bench.ts', ['--duration', '0', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('bench: --json needs a value');
  }, 90_000);

  it('hotword-eval without the held-out manifest (not in git) exits 2 naming it and how to make it', async () => {
    const r = await runBench('hotword-eval.ts', ['--manifest', 'no-such-dir/MANIFEST.tsv']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('no-such-dir/MANIFEST.tsv not found');
    expect(r.stderr).toContain('voxgate_train.prepare');
  }, 90_000);

  it('--help prints the flags and exits 0', async () => {
    const r = await runBench('bench.ts', ['--help', '--duration', '0']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[--sweep N,N...]');
    expect(r.stdout).toContain('[--json VALUE]');
  }, 90_000);
});

describe('benchArgsError', () => {
  const flags = { sessions: 'numbers', duration: 'number', json: 'text' } as const;

  it('accepts known flags as `--name V` and `--name=V`, and no flags at all', () => {
    expect(benchArgsError(['--sessions', '50,100', '--duration=20', '--json', 'out.json'], flags)).toBeUndefined();
    expect(benchArgsError([], flags)).toBeUndefined();
    expect(benchArgsError(['--duration', '-1'], flags)).toBeUndefined(); // a negative number is a value, not a flag
  });

  it('names an unknown flag and lists the known ones', () => {
    expect(benchArgsError(['--session', '100'], flags))
      .toBe('unknown flag --session (known flags: --sessions, --duration, --json)');
    expect(benchArgsError(['--session=100'], flags)).toContain('unknown flag --session (');
    expect(benchArgsError(['--x'], {})).toBe('unknown flag --x (it takes no flags)');
  });

  it('refuses a known flag without its value: at the end, before another flag, or empty', () => {
    expect(benchArgsError(['--json'], flags)).toBe('--json needs a value');
    expect(benchArgsError(['--json', '--duration', '5'], flags)).toBe('--json needs a value');
    expect(benchArgsError(['--json='], flags)).toBe('--json needs a value');
  });

  it('refuses a value that is not a number where one is expected', () => {
    expect(benchArgsError(['--duration', '20s'], flags)).toBe('--duration needs a number, got 20s');
    expect(benchArgsError(['--sessions', '50,,100'], flags))
      .toBe('--sessions needs a comma-separated list of numbers, got 50,,100');
    expect(benchArgsError(['--duration', 'Infinity'], flags)).toBe('--duration needs a number, got Infinity');
  });

  it('refuses a bare word and a flag given twice (only the first would be read)', () => {
    expect(benchArgsError(['100'], flags)).toBe('unexpected argument 100 (known flags: --sessions, --duration, --json)');
    expect(benchArgsError(['--duration', '5', '--duration', '9'], flags)).toBe('--duration given twice');
  });
});
