/**
 * Encoder micro-benchmark on the real model through EncoderPool (worker thread, 1 intra-op thread):
 * ms per model call and per chunk at C = 4 / 8 / 16 output frames for batches of 1, 8 and 32 streams (or --batches),
 * for int8 and fp32; and the real-time factor (encoder compute / audio duration) of one stream at 160 ms chunks on
 * real speech. The per-chunk cost against batch size is what the pool's `maxBatch` default rests on.
 *
 * usage: npx tsx bench/encoder-bench.ts [--model-dir models/voxgate-conformer-ctc-en] [--iters 8] [--threads 1]
 *        [--batches 1,8,32]
 *        (or node dist/bench/encoder-bench.js after `npx tsc -p tsconfig.build.json`)
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EncoderPool } from '../src/inference/encoder-pool.js';
import { loadNativeAddon } from '../src/inference/native-addon.js';
import { chunkFeatureFrames, loadModelInfo } from '../src/inference/nemo-ctc-model.js';
import { fbankLikeFeatures } from './bench-random.js';
import { argValue, checkBenchArgs, percentile, table } from './bench-stats.js';
import { fixtureSpeech } from './speech-corpus.js';

const FEAT_DIM = 80;

/** Median wall time (ms) of one model call carrying `batch` chunks of C output frames (all streams ready at once). */
async function chunkTimings(pool: EncoderPool, C: number, batch: number, iters: number): Promise<number> {
  const T = chunkFeatureFrames(pool.info, C);
  const feats = fbankLikeFeatures(T, 7 + C);
  const streams = Array.from({ length: batch }, () => pool.openStream());
  const round = (): Promise<unknown> => Promise.all(streams.map((s) => s.run(feats, T)));
  await round(); // warm-up (also fills the caches, so attention sees a full left context later)
  await round();
  const before = pool.stats();
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await round();
    times.push(performance.now() - t0);
  }
  const ms = percentile(times, 50); // median: robust to other processes on a busy machine
  const after = pool.stats();
  if (after.batches - before.batches !== iters) {
    throw new Error(`expected ${iters} model calls of ${batch}, got ${after.batches - before.batches}`);
  }
  streams.forEach((s) => s.close());
  return ms;
}

async function realTimeFactor(pool: EncoderPool, samples: Float32Array): Promise<{ encoder: number; withFbank: number }> {
  const C = 4, T = chunkFeatureFrames(pool.info, C);
  const t0 = performance.now();
  const fb = new (loadNativeAddon().FbankExtractor)(); // what the gateway's fbank stage runs
  const a = fb.push(samples), b = fb.flush();
  const feats = new Float32Array(a.length + b.length);
  feats.set(a);
  feats.set(b, a.length);
  const fbankMs = performance.now() - t0;
  const frames = feats.length / FEAT_DIM;
  const s = pool.openStream();
  const t1 = performance.now();
  for (let start = 0; start + 7 <= frames; start += pool.info.subsamplingFactor * C) {
    const n = Math.min(T, frames - start);
    await s.run(feats.subarray(start * FEAT_DIM, (start + n) * FEAT_DIM), n);
  }
  const encMs = performance.now() - t1;
  s.close();
  const audioMs = (samples.length / 16000) * 1000;
  return { encoder: encMs / audioMs, withFbank: (encMs + fbankMs) / audioMs };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  checkBenchArgs(argv, { 'model-dir': 'text', iters: 'number', threads: 'number', batches: 'numbers' });
  const modelDir = argValue(argv, 'model-dir') ?? 'models/voxgate-conformer-ctc-en';
  const iters = Number(argValue(argv, 'iters') ?? 8);
  const threads = Number(argValue(argv, 'threads') ?? 1);
  const batches = (argValue(argv, 'batches') ?? '1,8,32').split(',').map(Number);
  if (batches.some((b) => !Number.isInteger(b) || b < 1 || b > 256)) {
    throw new Error(`--batches must list integers in [1, 256], got ${argValue(argv, 'batches')}`);
  }
  const samples = fixtureSpeech();
  const rows: string[][] = [['model', 'C (ms)', 'batch', 'ms / call', 'ms / chunk', 'chunks / s']];
  const rtf: string[][] = [['model', 'RTF encoder', 'RTF fbank+encoder', 'audio s']];
  for (const precision of ['int8', 'fp32'] as const) {
    if (precision === 'int8' && !existsSync(join(modelDir, 'model.int8.onnx'))) continue;
    const info = loadModelInfo(modelDir, { precision });
    const pool = await EncoderPool.create({ model: info, intraOpThreads: threads, maxBatch: Math.max(...batches) });
    try {
      for (const C of [4, 8, 16]) {
        for (const batch of batches) {
          const ms = await chunkTimings(pool, C, batch, iters);
          rows.push([precision, `${C} (${C * 40})`, String(batch), ms.toFixed(2), (ms / batch).toFixed(2),
            ((1000 * batch) / ms).toFixed(0)]);
          console.error(`${precision} C=${C} B=${batch}: ${ms.toFixed(2)} ms/call`);
        }
      }
      const r = await realTimeFactor(pool, samples);
      rtf.push([precision, r.encoder.toFixed(4), r.withFbank.toFixed(4), (samples.length / 16000).toFixed(1)]);
    } finally {
      await pool.close();
    }
  }
  console.log(`encoder-bench: ${modelDir}, intra-op threads ${threads}, median of ${iters} calls per cell`);
  console.log(table(rows));
  console.log(`\nsingle stream, 160 ms chunks (RTF = compute time / audio time):`);
  console.log(table(rtf));
}

await main();
