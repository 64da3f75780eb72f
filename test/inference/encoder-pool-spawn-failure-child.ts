/**
 * The child process of encoder-pool-spawn-failure.test.ts, run under tsx with glibc's thread-stack cache off
 * (GLIBC_TUNABLES=glibc.pthread.stack_cache_size=0: else a new thread reuses a dead worker's cached stack and needs
 * no new mapping). The OS refuses a new thread for real: the address-space limit (RLIMIT_AS, set with prlimit) is
 * lowered to what the process maps now plus 2 MiB, less than a worker thread's 4 MiB stack, so `new Worker` throws
 * ERR_WORKER_INIT_FAILED. Like the gateway (src/cli/main.ts), it logs uncaught exceptions and goes on.
 *
 * `first`: the limit is set before EncoderPool.create. `restart`: it is set the moment a crashed worker is gone
 * (an 'exit' listener ahead of the pool's: before, the exiting worker's own mappings would leave room for the new
 * one), so the pool's restart meets it. Prints JSON lines: the outcomes, then {survived: true}.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { EncoderPool } from '../../src/inference/encoder-pool.js';
import { loadModelInfo } from '../../src/inference/nemo-ctc-model.js';
import { MODEL_DIR } from './helpers.js';

const SLACK_BYTES = 2 << 20;
const uncaught: string[] = [];
process.on('uncaughtException', (e: NodeJS.ErrnoException) => uncaught.push(e.code ?? e.message));

/** Sets this process's soft address-space limit (prlimit: Node has no setrlimit). */
function limitAddressSpace(bytes: number | 'unlimited'): void {
  execFileSync('prlimit', ['--pid', String(process.pid), `--as=${bytes}:`]);
}
function mappedBytes(): number {
  return Number(/^VmSize:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
}
/** A promise's outcome: 'ok', its error's code and cause's code, or 'never settled' after 5 s. */
function outcome(p: Promise<unknown>): Promise<unknown> {
  return Promise.race([
    p.then(() => 'ok', (e: { code?: string; cause?: { code?: string } }) => ({ code: e.code, cause: e.cause?.code })),
    new Promise((r) => setTimeout(() => r('never settled'), 5_000)), // ref'd: an idle loop would end the child first
  ]);
}

const model = loadModelInfo(MODEL_DIR, { precision: 'fp32' });
const frames = 19;
const feats = new Float32Array(frames * 80);
if (process.argv[2] === 'first') {
  limitAddressSpace(mappedBytes() + SLACK_BYTES);
  const created = EncoderPool.create({ model });
  const create = await outcome(created);
  limitAddressSpace('unlimited');
  console.log(JSON.stringify({ create }));
  await created.then((p) => p.close(), () => undefined);
} else {
  const pool = await EncoderPool.create({ model });
  await pool.openStream().run(feats, frames);
  const gone = new Promise<void>((resolve) => pool.worker.prependListener('exit', () => {
    limitAddressSpace(mappedBytes() + SLACK_BYTES);
    resolve();
  }));
  // Not awaited: an exception out of the pool's 'exit' listener skips the listeners after it, simulateCrash's too.
  void pool.simulateCrash();
  await gone;
  limitAddressSpace('unlimited');
  const next = await outcome(pool.openStream().run(feats, frames));
  const failure = { code: pool.failure?.code, cause: (pool.failure?.cause as { code?: string } | undefined)?.code };
  console.log(JSON.stringify({ next, failure }));
  console.log(JSON.stringify({ close: await outcome(pool.close()) }));
}
console.log(JSON.stringify({ uncaught }));
console.log(JSON.stringify({ survived: true }));
process.exit(0); // a pool left waiting on a worker that never started would keep the child alive
