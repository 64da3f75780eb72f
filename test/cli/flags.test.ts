/**
 * Flags of `voxgate transcribe` / `eval` that were taken and then did nothing, or failed only after the whole run:
 * each is now refused before anything is read or transcribed (the binary via tsx, and the commands called directly).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runEval } from '../../src/cli/eval-command.js';
import { runTranscribe } from '../../src/cli/transcribe-command.js';
import { CLI, speechFixtures } from '../integration/helpers.js';

/** Nothing listens on port 1: a run that got as far as connecting fails with GW_ERR_UNREACHABLE instead. */
const REFUSING_URL = 'ws://127.0.0.1:1/v1/stream';

function voxgate(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [...CLI, ...args], { cwd, timeout: 60_000 })
    .then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
}

const badConfig = (message: RegExp) => ({ code: 'GW_ERR_BAD_CONFIG', message: expect.stringMatching(message) });

describe('flags refused up front', () => {
  it('an empty --out / --json (`--out ""`, `--out=`) is refused before the run, not after it at the rename', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-flags-'));
    const f = speechFixtures()[0]!;
    writeFileSync(path.join(dir, 'M.tsv'), `${f.set}\t${f.file}\t${f.reference}\n`);
    const cases = [['--out', ''], ['--out='], ['--json', ''], ['--json=']];
    const runs = await Promise.all(cases.map((args) => voxgate(['eval', 'M.tsv', '--url', REFUSING_URL, ...args], dir)));
    cases.forEach((args, i) => {
      const flag = args[0]!.replace('=', '');
      expect(runs[i], args.join(' ')).toMatchObject({
        code: 1, stdout: '', stderr: `voxgate: GW_ERR_BAD_CONFIG: ${flag} must name a file, got ""\n` });
    });
    expect(readdirSync(dir)).toEqual(['M.tsv']); // no temporary file left in the working directory
  }, 60_000);

  it('--out / --json naming the manifest or each other are refused: the run overwrote the manifest (or one report '
    + 'with the other) at its end', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-flags-'));
    const f = speechFixtures()[0]!;
    const manifest = `${f.set}\t${f.file}\t${f.reference}\n`;
    writeFileSync(path.join(dir, 'M.tsv'), manifest);
    const cases: [string[], string][] = [
      [['--out', 'M.tsv'], '--out "M.tsv" is the manifest'],
      [['--json', `${dir}/./M.tsv`], `--json "${dir}/./M.tsv" is the manifest`],
      [['--out', 'r.txt', '--json', './r.txt'], '--out and --json are the same file, "./r.txt"'],
    ];
    const runs = await Promise.all(cases.map(([args]) => voxgate(['eval', 'M.tsv', '--url', REFUSING_URL, ...args], dir)));
    cases.forEach(([args, message], i) => {
      expect(runs[i], args.join(' ')).toMatchObject({
        code: 1, stdout: '', stderr: `voxgate: GW_ERR_BAD_CONFIG: ${message}\n` });
    });
    expect(readFileSync(path.join(dir, 'M.tsv'), 'utf8')).toBe(manifest);
  }, 60_000);

  it('an in-process flag with --url is refused naming it: the server\'s pipeline would run without it', async () => {
    const url = { url: REFUSING_URL };
    const cases: [Record<string, string>, string][] = [
      [{ precision: 'bogus' }, 'precision'], [{ 'beam-size': '4' }, 'beam-size'], [{ model: '/no/such/dir' }, 'model'],
      [{ decoder: 'greedy' }, 'decoder'], [{ vad: 'off' }, 'vad'], [{ 'lm-weight': '0' }, 'lm-weight'],
      [{ 'lm-token-bonus': '1' }, 'lm-token-bonus'], [{ 'encoder-workers': '1' }, 'encoder-workers'],
    ];
    for (const [flags, name] of cases) {
      const message = new RegExp(`^--${name} is for the in-process pipeline; with --url the server's settings apply$`);
      await expect(runEval('never-read.tsv', { ...url, ...flags }), name).rejects.toMatchObject(badConfig(message));
      await expect(runTranscribe('never-read.wav', { ...url, ...flags }), name).rejects.toMatchObject(badConfig(message));
    }
  });

  it('--api-key without --url is refused: in-process there is no server to send it to', async () => {
    const message = /^--api-key is for --url; the in-process pipeline takes no key$/;
    await expect(runEval('never-read.tsv', { 'api-key': 'k' })).rejects.toMatchObject(badConfig(message));
    await expect(runTranscribe('never-read.wav', { 'api-key': 'k' })).rejects.toMatchObject(badConfig(message));
  });

  it('--multichannel on a mono file is refused naming the flag and the file, before the model loads or a server is '
    + 'asked', async () => {
    const file = speechFixtures()[0]!.file; // mono
    // before: in-process after the model load, with --url GW_ERR_UNREACHABLE (against a server: its session.start
    // refusal), both naming neither: "session.start: multichannel must be false with one channel, got true"
    const targets = [[], ['--url', REFUSING_URL]];
    const runs = await Promise.all(targets.map((target) => voxgate(['transcribe', file, '--multichannel', ...target],
      tmpdir())));
    targets.forEach((target, i) => {
      expect(runs[i], target.join(' ')).toMatchObject({
        code: 1, stdout: '', stderr: `voxgate: GW_ERR_BAD_CONFIG: --multichannel needs a stereo file, ${file} has 1 `
          + 'channel\n' });
    });
  }, 60_000);

  it('a flag given twice is refused naming it (the last one won without a word; none is repeatable)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-flags-'));
    // each second value is one the command would refuse on its own: without the check that error came instead
    const cases: [string[], string][] = [
      [['serve', '--port', '1', '--port', 'nope'], '--port given twice ("1", then "nope")'],
      [['eval', 'M.tsv', '--url', REFUSING_URL, '--concurrency', '2', '--concurrency=0'],
        '--concurrency given twice ("2", then "0")'],
      [['transcribe', 'never.wav', '--latency', 'low', '--latency', 'fast'], '--latency given twice ("low", then "fast")'],
      [['transcribe', 'never.wav', '--json', '--json'], '--json given twice'],
      [['eval', 'M.tsv', '-h', '--help'], '--help given twice'],
    ];
    const runs = await Promise.all(cases.map(([args]) => voxgate(args, dir)));
    cases.forEach(([args, message], i) => {
      expect(runs[i], args.join(' ')).toMatchObject({
        code: 1, stdout: '', stderr: `voxgate: GW_ERR_BAD_CONFIG: ${message}: a flag may be given once\n` });
    });
  }, 60_000);
});
