/**
 * EncoderPool scheduling on the real model and worker thread: which queued chunks go into the next model call, and
 * in what order streams are served when one of them has a backlog.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncoderPool } from '../../src/inference/encoder-pool.js';
import { loadModelInfo } from '../../src/inference/nemo-ctc-model.js';
import { FEAT_DIM, MODEL_DIR, MODEL_FIXTURE_DIR, readF32, readParityFixture } from './helpers.js';

const feats = readF32(`${MODEL_FIXTURE_DIR}/${readParityFixture().feats}`);
let pool: EncoderPool;

beforeAll(async () => {
  pool = await EncoderPool.create({ model: loadModelInfo(MODEL_DIR, { precision: 'fp32' }) });
}, 30_000);
afterAll(async () => {
  await pool?.close();
});

describe('EncoderPool scheduling', () => {
  // Streams with different chunk lengths never share a model call, so a backlog of one stream's 160 ms chunks must
  // not hold back another stream's 320 ms chunk until the whole backlog has run.
  it('a stream with a backlog does not starve a stream of another chunk length', async () => {
    const flood = pool.openStream(), other = pool.openStream();
    const order: string[] = [];
    const runs: Array<Promise<unknown>> = [];
    for (let i = 0; i < 8; i++) {
      runs.push(flood.run(feats.subarray(0, 19 * FEAT_DIM), 19).then(() => order.push(`flood${i}`)));
    }
    runs.push(other.run(feats.subarray(0, 35 * FEAT_DIM), 35).then(() => order.push('other')));
    await Promise.all(runs);
    flood.close();
    other.close();
    // flood0 was sent before `other` was queued: then the two streams take turns
    expect(order.slice(0, 2)).toEqual(['flood0', 'other']);
  }, 20_000);

  // batchWindowMs is a wait to fill a batch after the first ready chunk, not a pause before every model call: a chunk
  // that already waited longer (behind a full batch in flight) goes as soon as the worker is free. Told apart by what
  // the next call holds, not by a clock: a chunk queued 5 ms after the worker freed up joins it only if it still waits.
  it('batchWindowMs does not hold a chunk that already waited longer than the window', async () => {
    const p = await EncoderPool.create({ model: loadModelInfo(MODEL_DIR, { precision: 'fp32' }), maxBatch: 2,
      batchWindowMs: 50 });
    try {
      const chunk = feats.subarray(0, 19 * FEAT_DIM);
      const [a, b, c] = [p.openStream(), p.openStream(), p.openStream()];
      const callOf = (q: Promise<unknown>): Promise<number> => q.then(() => p.stats().batches);
      // a and b fill the first call; c waits through the window and that call; a's next chunk comes 5 ms after it
      const aLate = a.run(chunk, 19).then(() => new Promise<number>((resolve) => {
        setTimeout(() => resolve(callOf(a.run(chunk, 19))), 5);
      }));
      const calls = await Promise.all([callOf(b.run(chunk, 19)), callOf(c.run(chunk, 19)), aLate]);
      expect(calls).toEqual([1, 2, 3]); // c went alone as the worker freed up, a's late chunk in a call of its own
    } finally {
      await p.close();
    }
  }, 20_000);
});
