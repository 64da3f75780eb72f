/**
 * EncoderShards on the real model with two real worker threads: streams are spread by open-stream count, a stream's
 * log-probs do not depend on its shard (== a lone EncoderPool's), a crashed worker only touches its own shard's
 * streams, and bad options fail with GW_ERR_BAD_CONFIG quoting the value.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncoderPool } from '../../src/inference/encoder-pool.js';
import { EncoderShards } from '../../src/inference/encoder-shards.js';
import { MAX_RESTARTS } from '../../src/inference/encoder-worker-host.js';
import { loadModelInfo, type ModelInfo } from '../../src/inference/nemo-ctc-model.js';
import { GatewayError } from '../../src/protocol/errors.js';
import { FEAT_DIM, MODEL_DIR, MODEL_FIXTURE_DIR, maxAbsDiff, readF32, readParityFixture, streamChunks } from './helpers.js';

const fixture = readParityFixture();
const feats = readF32(`${MODEL_FIXTURE_DIR}/${fixture.feats}`);
let info: ModelInfo;
let shards: EncoderShards;

beforeAll(async () => {
  info = loadModelInfo(MODEL_DIR, { precision: 'int8' });
  shards = await EncoderShards.create({ model: info, workers: 2 });
}, 30_000);
afterAll(async () => {
  await shards?.close();
});

describe('EncoderShards', () => {
  it.each([0, 17, 1.5])('workers %s is refused with GW_ERR_BAD_CONFIG quoting the value', async (workers) => {
    const e = await EncoderShards.create({ model: info, workers }).then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(GatewayError);
    expect((e as GatewayError).code).toBe('GW_ERR_BAD_CONFIG');
    expect((e as GatewayError).message).toContain(`got ${workers}`);
  });

  it('places each new stream on the shard with the fewest open streams', () => {
    const a = shards.openStream();
    const b = shards.openStream();
    expect(shards.stats().openStreams).toEqual([1, 1]);
    a.close();
    a.close(); // idempotent: counted once
    expect(shards.stats().openStreams).toEqual([0, 1]);
    const c = shards.openStream();
    expect(shards.stats().openStreams).toEqual([1, 1]);
    expect(new Set([a.id, b.id, c.id]).size).toBe(3);
    b.close();
    c.close();
    expect(shards.stats().openStreams).toEqual([0, 0]);
  });

  // The gateway places new sessions by these counts: a stream lost without close() must not skew them for good.
  it('a stream dropped without close() leaves its shard\'s count and caches once garbage', async () => {
    setFlagsFromString('--expose-gc'); // gc() for this test without a node flag for the whole run
    const gc = runInNewContext('gc') as () => void;
    const W = 19, chunk = feats.subarray(0, W * FEAT_DIM);
    const cached = async (): Promise<number[]> => Promise.all(shards.shards.map((p) => p.cachedStreams()));
    const base = await cached();
    await shards.openStream().run(chunk, W); // the handle is garbage from here on
    expect(shards.stats().openStreams).toEqual([1, 0]);
    const freed = async (): Promise<boolean> => shards.stats().openStreams[0] === 0 && (await cached())[0] === base[0];
    for (let i = 0; i < 50 && !(await freed()); i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(shards.stats().openStreams).toEqual([0, 0]);
    expect(await cached()).toEqual(base);
  }, 20_000);

  it('streams on both shards, run at the same time, give a lone pool\'s log-probs exactly', async () => {
    const lone = await EncoderPool.create({ model: info });
    try {
      const ref = await streamChunks(lone.openStream(), feats, 8);
      const [s0, s1] = [shards.openStream(), shards.openStream()];
      const got = await Promise.all([streamChunks(s0, feats, 8), streamChunks(s1, feats, 8)]);
      s0.close();
      s1.close();
      for (const g of got) {
        expect(g.frames).toBe(ref.frames);
        expect(maxAbsDiff(g.logProbs, ref.logProbs)).toBe(0);
      }
      const st = shards.stats();
      expect(st.chunks).toBeGreaterThan(0);
      expect(st.meanBatch).toBeGreaterThanOrEqual(1);
    } finally {
      await lone.close();
    }
  }, 30_000);

  it('a crashed worker fails only its own shard\'s streams', async () => {
    const own = await EncoderShards.create({ model: info, workers: 2 });
    try {
      const W = 19, chunk = feats.subarray(0, W * FEAT_DIM);
      const [s0, s1] = [own.openStream(), own.openStream()];
      const ref = await s0.run(chunk, W);
      await s1.run(chunk, W);
      await own.shards[0]!.simulateCrash();
      const e = await s0.run(chunk, W).then(() => null, (err: unknown) => err);
      expect((e as GatewayError).code).toBe('GW_ERR_INFERENCE');
      const second = await s1.run(chunk, W); // shard 1 kept its caches: a second chunk, not a first
      expect(second.frames).toBe(ref.frames);
      expect(maxAbsDiff(second.logProbs, ref.logProbs)).toBeGreaterThan(0);
      s0.reset();
      expect(maxAbsDiff((await s0.run(chunk, W)).logProbs, ref.logProbs)).toBe(0);
    } finally {
      await own.close();
    }
  }, 30_000);

  it('a shard whose worker keeps crashing gives up, is counted, and gets no new streams', async () => {
    const own = await EncoderShards.create({ model: info, workers: 2 });
    try {
      const W = 19, chunk = feats.subarray(0, W * FEAT_DIM);
      const pool0 = own.shards[0]!;
      for (let crash = 0; crash <= MAX_RESTARTS; crash++) {
        const old = pool0.worker;
        await pool0.simulateCrash();
        while (pool0.worker === old && pool0.failure === null) await new Promise((r) => setTimeout(r, 5));
        if (crash < MAX_RESTARTS) { // restarted: a fresh stream runs once the new worker has loaded the model
          const probe = pool0.openStream();
          await probe.run(chunk, W);
          probe.close();
        }
      }
      expect(pool0.failure?.code).toBe('GW_ERR_INFERENCE');
      expect(own.stats().failedWorkers).toBe(1);
      const streams = [own.openStream(), own.openStream()]; // shard 1 takes both, though shard 0 has fewer
      expect(own.stats().openStreams).toEqual([0, 2]);
      for (const st of streams) expect((await st.run(chunk, W)).frames).toBeGreaterThan(0);
      streams.forEach((st) => st.close());
    } finally {
      await own.close();
    }
  }, 60_000);
});
