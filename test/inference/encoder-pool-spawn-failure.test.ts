/**
 * The OS refuses the encoder worker's thread (no address space left for its stack; thread limits): `new Worker` throws
 * ERR_WORKER_INIT_FAILED synchronously. A pool's restart after a crash runs inside the dead worker's 'exit' event, so
 * that throw was an uncaught exception: the gateway logs and survives those (src/cli/main.ts), but the pool was never
 * marked failed, and its sessions' runs waited for a worker that would never come (no GW_ERR_INFERENCE, /readyz
 * still ready). A refused thread must be a failed start like any other. The real limit is set in a child process
 * (encoder-pool-spawn-failure-child.ts), on Linux with prlimit.
 */
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers.js';

interface ChildResult { code: number | null; signal: string | null; stderrTail: string[]; lines: unknown[] }

function runChild(mode: 'first' | 'restart'): Promise<ChildResult> {
  const env = { ...process.env, GLIBC_TUNABLES: 'glibc.pthread.stack_cache_size=0' };
  return new Promise((resolve) => {
    const child = join(REPO, 'test/inference/encoder-pool-spawn-failure-child.ts');
    execFile(process.execPath, ['--import', 'tsx', child, mode],
      { cwd: REPO, env, timeout: 50_000 }, (err, stdout, stderr) => resolve({
        code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), signal: err?.signal ?? null,
        // a fatal V8 OOM (the limit left too little room for the main thread) shows here
        stderrTail: stderr.trim().split('\n').slice(-3),
        lines: stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as unknown),
      }));
  });
}

function hasPrlimit(): boolean {
  try {
    execFileSync('prlimit', ['--version']);
    return process.platform === 'linux';
  } catch {
    return false;
  }
}

const REFUSED = { code: 'GW_ERR_INFERENCE', cause: 'ERR_WORKER_INIT_FAILED' };

describe.skipIf(!hasPrlimit())('an encoder worker thread the OS refuses', () => {
  it('after a crash: the pool is failed, its runs reject with GW_ERR_INFERENCE, nothing is uncaught', async () => {
    const r = await runChild('restart');
    expect(r).toMatchObject({ code: 0, signal: null });
    expect(r.lines).toEqual([
      { next: REFUSED, failure: REFUSED }, { close: 'ok' }, { uncaught: [] }, { survived: true },
    ]);
  }, 60_000);

  it('at the first start: EncoderPool.create rejects with GW_ERR_INFERENCE', async () => {
    const r = await runChild('first');
    expect(r).toMatchObject({ code: 0, signal: null });
    expect(r.lines).toEqual([{ create: REFUSED }, { uncaught: [] }, { survived: true }]);
  }, 60_000);
});
