/**
 * EncoderPool on the real model: streaming with carried caches reproduces the PyTorch full-sequence log-probs under
 * the same chunk mask (fixture written by training/voxgate_train/fixtures.py), batching is invisible, int8 stays
 * close to fp32, and failures reject with GW_ERR_INFERENCE without breaking the pool.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncoderPool, type EncoderStream } from '../../src/inference/encoder-pool.js';
import { loadModelInfo, type ModelInfo } from '../../src/inference/nemo-ctc-model.js';
import { GatewayError } from '../../src/protocol/errors.js';
import {
  FEAT_DIM, MODEL_DIR, MODEL_FIXTURE_DIR, REPO, fbankOf, maxAbsDiff, readF32, readParityFixture, readWav16, sha256File,
  speechClips, streamChunks,
} from './helpers.js';

const fixture = readParityFixture();
const feats = readF32(`${MODEL_FIXTURE_DIR}/${fixture.feats}`);
let fp32: ModelInfo;
let pool: EncoderPool;

/** The fixture holds outputs of specific weights: comparing it with other weights would fail for the wrong reason. */
function assertFixtureMatchesModel(info: ModelInfo): void {
  const sha = sha256File(info.dir + '/model.onnx');
  if (fixture.model_sha256 !== sha) {
    throw new Error(`test/fixtures/model was generated for model.onnx sha256 ${fixture.model_sha256}, but `
      + `${info.dir}/model.onnx has sha256 ${sha}: the model was re-exported without regenerating the fixture. Run `
      + '`cd training && /usr/bin/python3 -m voxgate_train.fixtures --checkpoint <the exported checkpoint> '
      + '--model-dir ../models/<name> --out ../test/fixtures/model`.');
  }
}

async function expectInferenceError(p: Promise<unknown>, message: RegExp): Promise<void> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(GatewayError);
  expect((e as GatewayError).code).toBe('GW_ERR_INFERENCE');
  expect((e as GatewayError).message).toMatch(message);
}

beforeAll(async () => {
  fp32 = loadModelInfo(MODEL_DIR, { precision: 'fp32' });
  pool = await EncoderPool.create({ model: fp32, intraOpThreads: 1 });
}, 30_000);
afterAll(async () => {
  await pool?.close();
});

describe('EncoderPool parity with PyTorch (fp32)', () => {
  it('the parity fixture belongs to this model.onnx', () => {
    assertFixtureMatchesModel(fp32);
    expect(fixture.feat_dim).toBe(FEAT_DIM);
    expect(fixture.vocab_size).toBe(fp32.vocabSize);
    expect(fixture.left_context).toBe(fp32.cacheChannelShape[1]);
  });

  for (const C of [4, 16]) {
    it(`streaming ${C * 40} ms chunks with carried caches == full-sequence forward under ChunkMask(${C}, left)`,
      async () => {
        assertFixtureMatchesModel(fp32);
        const ref = readF32(`${MODEL_FIXTURE_DIR}/${fixture.chunks[String(C)]!.file}`);
        const s = pool.openStream();
        const got = await streamChunks(s, feats, C);
        s.close();
        expect(got.frames).toBe(fixture.chunks[String(C)]!.frames);
        expect(got.vocabSize).toBe(fp32.vocabSize);
        const diff = maxAbsDiff(got.logProbs, ref);
        console.log(`parity fp32 C=${C} (${C * 40} ms): ${got.frames} frames, max |diff| ${diff.toExponential(2)}`);
        expect(diff).toBeLessThanOrEqual(1e-4);
      }, 20_000);
  }
});

describe('EncoderPool batching', () => {
  // int8 too: its activations are quantised per row (per frame of each stream, see training export.py), so a
  // stream's codes never depend on what else is in the batch. (Per-tensor DynamicQuantizeLinear would let a loud
  // co-tenant coarsen a quiet stream's quantisation.)
  it.each(['fp32', 'int8'] as const)('3 concurrent streams (batched) give the same log-probs as one at a time (%s)',
    async (precision) => {
      const own = precision === 'fp32' ? null
        : await EncoderPool.create({ model: loadModelInfo(MODEL_DIR, { precision }), intraOpThreads: 1 });
      const p = own ?? pool;
      try {
        // Three real clips of different lengths: full chunks batch together, the short last chunks differ in T.
        const clips = speechClips().slice(0, 3).map((c) => fbankOf(readWav16(c.file).samples));
        const C = 4;
        const alone: Array<Awaited<ReturnType<typeof streamChunks>>> = [];
        for (const f of clips) {
          const s = p.openStream();
          alone.push(await streamChunks(s, f, C));
          s.close();
        }
        const before = p.stats();
        const streams = clips.map(() => p.openStream());
        const together = await Promise.all(clips.map((f, i) => streamChunks(streams[i]!, f, C)));
        streams.forEach((s) => s.close());
        const after = p.stats();
        const batches = after.batches - before.batches, chunks = after.chunks - before.chunks;
        console.log(`${precision} batching: ${chunks} chunks in ${batches} model calls `
          + `(mean batch ${(chunks / batches).toFixed(2)})`);
        expect(chunks / batches).toBeGreaterThan(1.5);
        together.forEach((r, i) => {
          expect(r.frames).toBe(alone[i]!.frames);
          expect(maxAbsDiff(r.logProbs, alone[i]!.logProbs)).toBeLessThanOrEqual(1e-5);
        });
        expect(after.queueDepth).toBe(0);
      } finally {
        await own?.close();
      }
    }, 30_000);

  it('maxBatch caps a model call; batchWindowMs waits to fill one; options are validated', async () => {
    const p = await EncoderPool.create({ model: fp32, maxBatch: 2, batchWindowMs: 2 });
    try {
      const W = 19, chunk = feats.subarray(0, W * FEAT_DIM);
      const streams = [0, 1, 2, 3, 4].map(() => p.openStream());
      const out = await Promise.all(streams.map((s) => s.run(chunk, W)));
      const st = p.stats();
      expect(st.chunks).toBe(5);
      expect(st.batches).toBe(3); // 2 + 2 + 1
      for (const r of out) expect(maxAbsDiff(r.logProbs, out[0]!.logProbs)).toBeLessThanOrEqual(1e-5);
    } finally {
      await p.close();
    }
    for (const [opts, quote] of [[{ maxBatch: 0 }, /maxBatch .* got 0/], [{ intraOpThreads: 1.5 }, /got 1.5/],
      [{ batchWindowMs: -1 }, /batchWindowMs .* got -1/]] as const) {
      const e = await EncoderPool.create({ model: fp32, ...opts }).then(() => null, (err: unknown) => err);
      expect((e as GatewayError).code).toBe('GW_ERR_BAD_CONFIG');
      expect((e as GatewayError).message).toMatch(quote);
    }
  }, 20_000);

  it('reset() zeroes the caches after the runs already submitted', async () => {
    const W = 4 * 4 + 3, first = feats.subarray(0, W * FEAT_DIM), second = feats.subarray(16 * FEAT_DIM, (16 + W) * FEAT_DIM);
    const fresh = pool.openStream();
    const ref1 = await fresh.run(first, W);
    const ref2 = await fresh.run(second, W);
    fresh.close();
    const s = pool.openStream();
    const p = [s.run(first, W), s.run(second, W)];
    s.reset();
    p.push(s.run(first, W), s.run(second, W));
    const r = await Promise.all(p);
    expect(maxAbsDiff(r[0]!.logProbs, ref1.logProbs)).toBe(0);
    expect(maxAbsDiff(r[1]!.logProbs, ref2.logProbs)).toBe(0);
    expect(maxAbsDiff(r[2]!.logProbs, ref1.logProbs)).toBe(0);
    expect(maxAbsDiff(r[3]!.logProbs, ref2.logProbs)).toBe(0);
    s.close();
  }, 20_000);

  // A gateway runs for weeks: every closed stream's caches must leave the worker (npm run bench:churn watches this too).
  it('the worker frees a stream\'s caches on close, also with its run in flight, and on a reset', async () => {
    const W = 4 * 4 + 3, chunk = feats.subarray(0, W * FEAT_DIM);
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    const base = await pool.cachedStreams();
    const a = pool.openStream(), b = pool.openStream();
    await Promise.all([a.run(chunk, W), b.run(chunk, W)]);
    expect(await pool.cachedStreams()).toBe(base + 2);
    a.reset(); // nothing queued after it: the caches go at once
    await turn();
    expect(await pool.cachedStreams()).toBe(base + 1);
    const inFlight = b.run(chunk, W);
    await turn(); // dispatched
    b.close();
    await inFlight;
    expect(await pool.cachedStreams()).toBe(base);
    a.close();
    expect(await pool.cachedStreams()).toBe(base);
  }, 20_000);

  // A caller that loses a stream without close() (a session torn down by a bug) must not leak its caches in the
  // worker for the life of the gateway; a stream dropped with a run still queued finishes that run first.
  it('a stream dropped without close() is closed once it is idle and garbage', async () => {
    setFlagsFromString('--expose-gc'); // gc() for this test without a node flag for the whole run
    const gc = runInNewContext('gc') as () => void;
    const W = 4 * 4 + 3, chunk = feats.subarray(0, W * FEAT_DIM);
    const base = await pool.cachedStreams();
    await pool.openStream().run(chunk, W); // the handle is garbage from here on
    const pending = pool.openStream().run(chunk, W); // and this one with its run still queued
    for (let i = 0; i < 5; i++) gc();
    await new Promise((r) => setTimeout(r, 20));
    expect((await pending).frames).toBe(4);
    for (let i = 0; i < 50 && (await pool.cachedStreams()) > base; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await pool.cachedStreams()).toBe(base);
  }, 20_000);

  // An idle stream must keep its own caches alive, not the whole (B, ...) output of the call it last ran in (at
  // maxBatch 32 that is 32 streams' worth, 26 MB, for one stream waiting for its next chunk).
  it('a stream\'s caches keep only its own rows alive, whatever its batch mates did since', async () => {
    const W = 4 * 4 + 3, chunk = feats.subarray(0, W * FEAT_DIM);
    const count = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
    const perStream = 4 * (count(fp32.cacheChannelShape) + count(fp32.cacheTimeShape));
    const base = await pool.cacheReport();
    const held = async (): Promise<number> => ((await pool.cacheReport()).bytes - base.bytes) / perStream;
    const oneCall = async (streams: EncoderStream[]): Promise<void> => {
      const before = pool.stats().batches;
      await Promise.all(streams.map((s) => s.run(chunk, W)));
      expect(pool.stats().batches - before).toBe(1);
    };
    const [a, b, c, d] = [0, 1, 2, 3].map(() => pool.openStream()) as [EncoderStream, EncoderStream, EncoderStream,
      EncoderStream];
    await oneCall([a, b, c, d]);
    expect(await held()).toBe(4);
    await oneCall([b, c]); // a and d wait
    expect(await held()).toBe(4);
    c.close();
    d.close();
    expect(await held()).toBe(2);
    b.close();
    expect(await held()).toBe(1);
    await oneCall([a]);
    expect(await held()).toBe(1);
    a.close();
    expect(await held()).toBe(0);
  }, 20_000);

  // The worker feeds a call's output rows back as they are when the next batch's streams are consecutive rows of it
  // in order (all of them, the last two, the first two), and gathers rows otherwise (reordered, rows of two calls, or
  // with a reset stream): every path must carry each stream's caches.
  it('repeated, reordered, partial and reset batches give the same log-probs as each stream alone', async () => {
    const W = 4 * 4 + 3;
    const window = (k: number, i: number) => feats.subarray((16 * k + 5 * i) * FEAT_DIM, (16 * k + 5 * i + W) * FEAT_DIM);
    // Steps: which streams run (in submission order, hence batch order), and which reset first.
    const steps: Array<{ order: number[]; reset?: number }> = [
      { order: [0, 1, 2] }, { order: [0, 1, 2] }, { order: [0, 1, 2] }, { order: [2, 0, 1] }, { order: [0, 1, 2], reset: 1 },
      { order: [0, 2] }, { order: [0, 1, 2] }, { order: [1, 2] }, { order: [0, 1, 2] }, { order: [0, 1] },
    ];
    const alone = [0, 1, 2].map(() => pool.openStream());
    // One stream per call: run them one by one through the same steps.
    const ref: Float32Array[][] = [[], [], []];
    for (const [k, step] of steps.entries()) {
      if (step.reset !== undefined) alone[step.reset]!.reset();
      for (const i of step.order) ref[i]!.push((await alone[i]!.run(window(k, i), W)).logProbs);
    }
    alone.forEach((s) => s.close());
    // Together: each step's runs are submitted at once, so each step is one model call of its streams in order.
    const streams = [0, 1, 2].map(() => pool.openStream());
    const got: Float32Array[][] = [[], [], []];
    const before = pool.stats();
    for (const [k, step] of steps.entries()) {
      if (step.reset !== undefined) streams[step.reset]!.reset();
      await Promise.all(step.order.map((i) => streams[i]!.run(window(k, i), W).then((o) => got[i]!.push(o.logProbs))));
    }
    expect(pool.stats().batches - before.batches).toBe(steps.length);
    streams.forEach((s) => s.close());
    for (let i = 0; i < 3; i++) {
      expect(got[i]!.length).toBe(ref[i]!.length);
      got[i]!.forEach((lp, j) => expect(maxAbsDiff(lp, ref[i]![j]!)).toBeLessThanOrEqual(1e-5));
    }
  }, 20_000);
});

describe('EncoderPool int8', () => {
  it('int8 log-probs stay close to fp32', async () => {
    const int8 = loadModelInfo(MODEL_DIR, { precision: 'int8' });
    const p8 = await EncoderPool.create({ model: int8 });
    try {
      const a = await streamChunks(pool.openStream(), feats, 4);
      const b = await streamChunks(p8.openStream(), feats, 4);
      const V = a.vocabSize;
      // Argmax agreement is counted on decisive frames only (fp32 top-1 beats top-2 by > 0.3 in probability): on
      // near-ties (early weights are flat) int8 noise may flip the argmax without meaning anything.
      let maxProb = 0, maxLogp = 0, decisive = 0, agree = 0;
      for (let t = 0; t < a.frames; t++) {
        const pa = Array.from(a.logProbs.subarray(t * V, (t + 1) * V), Math.exp);
        const pb = Array.from(b.logProbs.subarray(t * V, (t + 1) * V), Math.exp);
        for (let v = 0; v < V; v++) {
          maxProb = Math.max(maxProb, Math.abs(pa[v]! - pb[v]!));
          if (pa[v]! > Math.exp(-5)) maxLogp = Math.max(maxLogp, Math.abs(Math.log(pa[v]!) - Math.log(pb[v]!)));
        }
        const order = pa.map((p, v) => [p, v] as const).sort((x, y) => y[0] - x[0]);
        if (order[0]![0] - order[1]![0] > 0.3) {
          decisive++;
          if (pb.indexOf(Math.max(...pb)) === order[0]![1]) agree++;
        }
      }
      console.log(`int8 vs fp32 (C=4, ${a.frames} frames): max |dp| ${maxProb.toFixed(4)}, max |dlogp| where `
        + `logp > -5: ${maxLogp.toFixed(4)}, max |dlogp| all ${maxAbsDiff(a.logProbs, b.logProbs).toFixed(3)}, `
        + `argmax agreement on ${decisive} decisive frames ${agree}/${decisive}`);
      expect(maxProb).toBeLessThan(0.25);
      expect(agree).toBeGreaterThanOrEqual(Math.floor(0.9 * decisive));
    } finally {
      await p8.close();
    }
  }, 30_000);
});

describe('EncoderPool failures', () => {
  it('a bad feats length rejects with GW_ERR_INFERENCE and the pool keeps working', async () => {
    const s = pool.openStream();
    await expectInferenceError(s.run(new Float32Array(19 * FEAT_DIM - 1), 19), /frames x 80 values/);
    await expectInferenceError(s.run(new Float32Array(6 * FEAT_DIM), 6), /frames >= 7/);
    await expectInferenceError(s.run(new Float32Array(19 * FEAT_DIM), 19.5), /frames = 19.5/);
    const r = await s.run(feats.subarray(0, 19 * FEAT_DIM), 19);
    const ref = readF32(`${MODEL_FIXTURE_DIR}/${fixture.chunks['4']!.file}`).subarray(0, 4 * fp32.vocabSize);
    expect(r.frames).toBe(4);
    expect(maxAbsDiff(r.logProbs, ref)).toBeLessThanOrEqual(1e-4);
    s.close();
    await expectInferenceError(s.run(feats.subarray(0, 19 * FEAT_DIM), 19), /closed/);
  }, 20_000);

  it('non-finite feats reject with GW_ERR_INFERENCE before the model sees them: the caches stay usable', async () => {
    const s = pool.openStream();
    for (const bad of [NaN, Infinity, -Infinity]) {
      const chunk = feats.slice(0, 19 * FEAT_DIM);
      chunk[5 * FEAT_DIM + 7] = bad;
      await expectInferenceError(s.run(chunk, 19), new RegExp(`non-finite value ${bad} at frame 5, bin 7`));
    }
    // a NaN that reached the model would have left every later output of this stream NaN
    const r = await s.run(feats.subarray(0, 19 * FEAT_DIM), 19);
    const ref = readF32(`${MODEL_FIXTURE_DIR}/${fixture.chunks['4']!.file}`).subarray(0, 4 * fp32.vocabSize);
    expect(maxAbsDiff(r.logProbs, ref)).toBeLessThanOrEqual(1e-4);
    s.close();
  }, 20_000);

  it('a worker crash rejects pending runs; the pool restarts, lost streams need reset()', async () => {
    const p = await EncoderPool.create({ model: fp32 });
    try {
      const W = 19, chunk = feats.subarray(0, W * FEAT_DIM);
      const s = p.openStream();
      const ref = await s.run(chunk, W);
      const pending = [s.run(chunk, W), s.run(chunk, W)];
      void p.simulateCrash();
      for (const q of pending) await expectInferenceError(q, /encoder worker died/);
      await expectInferenceError(s.run(chunk, W), /lost its caches/);
      s.reset();
      expect(maxAbsDiff((await s.run(chunk, W)).logProbs, ref.logProbs)).toBe(0);
      const fresh = p.openStream();
      expect(maxAbsDiff((await fresh.run(chunk, W)).logProbs, ref.logProbs)).toBe(0);
    } finally {
      await p.close();
    }
  }, 30_000);

  it('close() rejects queued runs, finishes the one in flight, and refuses new work', async () => {
    const p = await EncoderPool.create({ model: fp32 });
    const s = p.openStream();
    const W = 19, chunk = feats.subarray(0, W * FEAT_DIM);
    const runs = [s.run(chunk, W), s.run(chunk, W), s.run(chunk, W)].map((q) => q.then(() => 'ok', (e: GatewayError) => e.code));
    await new Promise((r) => setImmediate(r)); // let the first chunk go out
    await p.close();
    const outcome = await Promise.all(runs);
    expect(outcome[0]).toBe('ok');
    expect(outcome.slice(1)).toEqual(['GW_ERR_INFERENCE', 'GW_ERR_INFERENCE']);
    await expectInferenceError(s.run(chunk, W), /closed/);
    expect(() => p.openStream()).toThrow(GatewayError);
    await p.close(); // idempotent
  }, 20_000);

  it('create() rejects with GW_ERR_INFERENCE when ONNX Runtime cannot load the file', async () => {
    const broken: ModelInfo = { ...fp32, onnxPath: `${MODEL_FIXTURE_DIR}/index.json` };
    await expectInferenceError(EncoderPool.create({ model: broken }), /cannot load .*index\.json/);
  }, 20_000);
});

describe('EncoderPool from compiled JS (dist/, as `npm start` runs it)', () => {
  const dist = `${REPO}dist/src/inference/encoder-pool.js`;
  it.skipIf(!existsSync(dist))('starts encoder-worker.js and reproduces the TypeScript path', async () => {
    // Plain node (no tsx): the pool must resolve dist/src/inference/encoder-worker.js next to itself, under node flags
    // a worker thread refuses in an explicit execArgv (--input-type, a heap limit).
    const script = `
      import { EncoderPool } from ${JSON.stringify(pathToFileURL(dist).href)};
      import { loadModelInfo } from ${JSON.stringify(pathToFileURL(`${REPO}dist/src/inference/nemo-ctc-model.js`).href)};
      const info = loadModelInfo(${JSON.stringify(MODEL_DIR)}, { precision: 'fp32' });
      const pool = await EncoderPool.create({ model: info });
      const feats = new Float32Array(${JSON.stringify(Array.from(feats.subarray(0, 19 * FEAT_DIM)))});
      const r = await pool.openStream().run(feats, 19);
      await pool.close();
      process.stdout.write(JSON.stringify(Array.from(r.logProbs)));`;
    const out = await new Promise<string>((resolve, reject) => {
      // a heap limit as operators set one: a worker thread refuses it in an explicit execArgv
      execFile(process.execPath, ['--max-old-space-size=2048', '--input-type=module', '-e', script], { timeout: 30_000 },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`${err.message}\n${stderr}`));
          else resolve(stdout);
        });
    });
    const ref = readF32(`${MODEL_FIXTURE_DIR}/${fixture.chunks['4']!.file}`).subarray(0, 4 * fp32.vocabSize);
    expect(maxAbsDiff(Float32Array.from(JSON.parse(out) as number[]), ref)).toBeLessThanOrEqual(1e-4);
  }, 30_000);
});
