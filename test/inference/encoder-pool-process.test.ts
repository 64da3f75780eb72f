/**
 * EncoderPool failures that reach the whole process, each run in a child process: terminating a worker inside
 * onnxruntime-node's native code aborts the process, and a callback's exception is an uncaught exception (which the
 * gateway logs and survives, src/cli/main.ts, so the pool must go on after it); and the node flags the process was
 * started with, which its worker threads inherit.
 */
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MODEL_DIR, REPO } from './helpers.js';

/** The child's preamble: an EncoderPool, the model, one all-zero chunk of 19 frames. */
const PREAMBLE = `
  import { EncoderPool } from ${JSON.stringify(pathToFileURL(`${REPO}src/inference/encoder-pool.ts`).href)};
  import { loadModelInfo } from ${JSON.stringify(pathToFileURL(`${REPO}src/inference/nemo-ctc-model.ts`).href)};
  const model = loadModelInfo(${JSON.stringify(MODEL_DIR)}, { precision: 'fp32' });
  const frames = 19, feats = new Float32Array(frames * 80);`;

interface ChildResult { code: number | null; signal: string | null; stderrTail: string[]; lines: unknown[] }

/** Runs PREAMBLE + `body` as an ES module under tsx (after `nodeFlags`); `lines` are the JSON lines it printed. */
function runChild(body: string, nodeFlags: string[] = []): Promise<ChildResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...nodeFlags, '--import', 'tsx', '--input-type=module', '-e', PREAMBLE + body],
      { cwd: REPO, timeout: 50_000 }, (err, stdout, stderr) => resolve({
        code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), signal: err?.signal ?? null,
        // the tail rides along so that a failure shows it (an abort prints "terminate called after ...")
        stderrTail: stderr.trim().split('\n').slice(-3),
        lines: stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as unknown),
      }));
  });
}

describe('EncoderPool in a child process', () => {
  // The gateway drains on SIGTERM at any moment, also just after a worker crash.
  it('close() during a worker restart waits for the model load, then closes cleanly (no abort, no failure)', async () => {
    // One restart is timed (crash to the first run served); then, for delays spread over that span, a fresh pool is
    // crashed, given a run, and closed after the delay.
    const r = await runChild(`
      const probe = await EncoderPool.create({ model });
      await probe.simulateCrash();
      const t0 = performance.now();
      await probe.openStream().run(feats, frames);
      const restartMs = performance.now() - t0;
      await probe.close();
      const STEPS = 4;
      for (let k = 0; k <= STEPS; k++) {
        const pool = await EncoderPool.create({ model });
        await pool.simulateCrash();
        const run = pool.openStream().run(feats, frames).then(() => 'ok', (e) => e.code);
        await new Promise((r) => setTimeout(r, (restartMs * k) / STEPS));
        await pool.close();
        console.log(JSON.stringify({ run: await run, failure: pool.failure?.message ?? null }));
      }`);
    expect(r).toMatchObject({ code: 0, signal: null });
    expect(r.lines).toHaveLength(5);
    for (const l of r.lines) {
      // served by the restarted worker or refused by close(); a closed pool did not "give up"
      expect(l).toMatchObject({ run: expect.stringMatching(/^(ok|GW_ERR_INFERENCE)$/), failure: null });
    }
  }, 60_000);

  // Operators start the gateway with V8 and process flags (a heap limit, --expose-gc, --abort-on-uncaught-exception
  // for core dumps); a worker thread refuses those in an explicit execArgv, which failed every encoder worker's start.
  it('a process started with node flags a worker thread refuses runs the pool', async () => {
    const r = await runChild(`
      const pool = await EncoderPool.create({ model });
      const out = await pool.openStream().run(feats, frames);
      await pool.close();
      console.log(JSON.stringify({ frames: out.frames }));`,
    ['--max-old-space-size=2048', '--expose-gc', '--abort-on-uncaught-exception']);
    expect(r).toMatchObject({ code: 0, signal: null });
    expect(r.lines).toEqual([{ frames: 4 }]);
  }, 60_000);

  it('an onBatch callback that throws leaves the pool working: runs settle, close() completes', async () => {
    const r = await runChild(`
      process.on('uncaughtException', (e) => console.log(JSON.stringify({ uncaught: e.message })));
      const pool = await EncoderPool.create({ model, onBatch: () => { throw new Error('metrics broke'); } });
      const s = pool.openStream();
      const within = (p) => Promise.race([p.then(() => 'ok', (e) => e.code),
        new Promise((r) => setTimeout(() => r('never settled'), 5_000).unref())]);
      console.log(JSON.stringify({ first: await within(s.run(feats, frames)) }));
      console.log(JSON.stringify({ second: await within(s.run(feats, frames)) }));
      console.log(JSON.stringify({ close: await within(pool.close()) }));
      process.exit(0); // a wedged pool's worker would keep the child alive`);
    expect(r).toMatchObject({ code: 0, signal: null });
    const uncaught = r.lines.filter((l) => Object.hasOwn(l as object, 'uncaught'));
    expect(uncaught).toEqual([{ uncaught: 'metrics broke' }, { uncaught: 'metrics broke' }]); // one per batch
    expect(r.lines.filter((l) => !uncaught.includes(l))).toEqual([{ first: 'ok' }, { second: 'ok' }, { close: 'ok' }]);
  }, 60_000);
});
