/**
 * `voxgate transcribe ... | head -1` and `voxgate eval ... | head -1`: output whose reader went away (the real binary,
 * in-process, its stdout a pipe the test closes).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, longestFixture, speechFixtures } from '../integration/helpers.js';


/** Runs voxgate with its stdout closed by the reader at its first byte (`first`) or before it writes any (`start`). */
function withClosedStdout(args: string[], when: 'first' | 'start'):
  Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
  if (when === 'start') child.stdout.destroy();
  else child.stdout.once('data', () => child.stdout.destroy());
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

describe('stdout closed by its reader', () => {
  it('transcribe stops at once with 141 (128 + SIGPIPE, as a tool killed by SIGPIPE), no EPIPE stack trace',
    async () => {
      // the longest clip prints partials and finals after the first line
      expect(await withClosedStdout(['transcribe', longestFixture().entry.file], 'first'))
        .toEqual({ code: 141, signal: null, stderr: '' });
    }, 90_000);

  it('stdout on a full disk (/dev/full, ENOSPC): one line saying so on stderr, exit 1, no stack trace', async () => {
    for (const command of [['transcribe', speechFixtures()[0]!.file], ['eval', '--help']]) {
      const child = spawn('/bin/sh', ['-c', 'exec "$@" > /dev/full', 'sh', process.execPath, ...CLI, ...command],
        { cwd: tmpdir() });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
      const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
      // before: the 'error' listener rethrew ENOSPC: a stack trace of Node internals
      expect({ code, stderr }, command[0]).toEqual({ code: 1,
        stderr: 'voxgate: GW_ERR_INTERNAL: cannot write to stdout: ENOSPC: no space left on device, write\n' });
    }
  }, 90_000);

  it('eval finishes: --out is still written (the run is not lost for its summary), exit 0, no stack trace',
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-pipe-'));
      const f = speechFixtures()[0]!;
      writeFileSync(path.join(dir, 'M.tsv'), `${f.set}\t${f.file}\t${f.reference}\n`);
      const out = path.join(dir, 'hyps.tsv');
      expect(await withClosedStdout(['eval', path.join(dir, 'M.tsv'), '--out', out], 'start'))
        .toEqual({ code: 0, signal: null, stderr: '' });
      expect(readFileSync(out, 'utf8')).toMatch(new RegExp(`^${f.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\t`));
    }, 90_000);
});
