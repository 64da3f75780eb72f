/**
 * EncoderPool stream lifetime on the real model and worker thread: a stream whose handle is dropped without close()
 * is released once it is garbage and idle, whichever way its last run ended (answered, or rejected by a worker crash).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { EncoderPool } from '../../src/inference/encoder-pool.js';
import { loadModelInfo } from '../../src/inference/nemo-ctc-model.js';
import { FEAT_DIM, MODEL_DIR, MODEL_FIXTURE_DIR, readF32, readParityFixture } from './helpers.js';

const W = 19;
const chunk = readF32(`${MODEL_FIXTURE_DIR}/${readParityFixture().feats}`).subarray(0, W * FEAT_DIM);
setFlagsFromString('--expose-gc'); // gc() for these tests without a node flag for the whole run
const gc = runInNewContext('gc') as () => void;

/** The pool's own record of a stream (encoder-pool-stream.ts PoolStream), as far as these tests read it. */
interface StreamState { orphaned: boolean; closed: boolean; readonly idle: boolean }
const streamsOf = (p: EncoderPool): Map<number, StreamState> =>
  (p as unknown as { streams: Map<number, StreamState> }).streams;

/** Collects garbage until the pool has noticed that `state`'s handle was dropped. */
async function untilOrphaned(state: StreamState): Promise<void> {
  while (!state.orphaned) {
    gc();
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** 'ok' or the error code. Outside the tests: a callback made where a handle is in scope would keep it alive. */
const outcome = (run: Promise<unknown>): Promise<string> => run.then(() => 'ok', (e: { code: string }) => e.code);

let pool: EncoderPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('EncoderPool: a stream dropped without close()', () => {
  // A session torn down by a bug leaves its stream to the garbage collector; if the worker crashes meanwhile, the
  // crash rejects the runs it still had queued, and nothing released the stream: the pool kept it for good.
  it('is released when a worker crash rejects the runs it had queued', async () => {
    const p = (pool = await EncoderPool.create({ model: loadModelInfo(MODEL_DIR, { precision: 'int8' }) }));
    const outcomes = ((): Array<Promise<string>> => {
      const s = p.openStream(); // the handle is garbage once this function returns
      return Array.from({ length: 200 }, () => outcome(s.run(chunk, W)));
    })();
    const state = [...streamsOf(p).values()][0]!;
    await untilOrphaned(state);
    expect(state.idle).toBe(false); // its runs are still queued: the pool may not release it yet
    await p.simulateCrash();
    expect(await Promise.all(outcomes)).toContain('GW_ERR_INFERENCE');
    expect(state.closed).toBe(true);
    expect(streamsOf(p).size).toBe(0);
  }, 30_000);

  // Its caches died with the worker; the runs it had queued for the restarted worker are refused once that is up.
  it('is released when the runs it queued after losing its caches in a crash are refused', async () => {
    const p = (pool = await EncoderPool.create({ model: loadModelInfo(MODEL_DIR, { precision: 'int8' }) }));
    const outcomes = await (async (): Promise<Array<Promise<string>>> => {
      const s = p.openStream();
      await s.run(chunk, W);
      await p.simulateCrash();
      return [outcome(s.run(chunk, W)), outcome(s.run(chunk, W))]; // queued while the worker restarts
    })();
    const state = [...streamsOf(p).values()][0]!;
    await untilOrphaned(state);
    expect(state.idle).toBe(false); // the restart is not done yet: its runs are still queued
    expect(await Promise.all(outcomes)).toEqual(['GW_ERR_INFERENCE', 'GW_ERR_INFERENCE']);
    expect(state.closed).toBe(true);
    expect(streamsOf(p).size).toBe(0);
  }, 30_000);
});
