/**
 * Where one encoder call spends its time: ONNX Runtime's own profile of the shipped model at a chosen batch and
 * chunk size, summed by operator type and by node, next to the call's wall time with and without copying the
 * next-state outputs back to JavaScript.
 *
 * Why: the encoder is most of the gateway's CPU at load, and its cost per chunk is not the arithmetic (session 11:
 * at 32 streams of one 40 ms frame the int8 model spends more kernel time in Concat / Slice / Split / Transpose,
 * the attention cache moving between layers, than in MatMul). Any change to the exported graph should be judged by
 * this table before and after, not by node counts.
 *
 * usage: npm run bench:encoder-profile -- [--model-dir models/voxgate-conformer-ctc-en] [--precision int8|fp32]
 *        [--batch 32] [--chunk-frames 8] [--iters 50] [--top 12]
 * Profiling adds a few µs per kernel, so the profiled call is slower than the wall time printed above it; the
 * shares between operator types are what to read.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { chunkFeatureFrames, loadModelInfo, type ModelInfo } from '../src/inference/nemo-ctc-model.js';
import { fbankLikeFeatures } from './bench-random.js';
import { argValue, checkBenchArgs, percentile, table } from './bench-stats.js';

interface ProfileEvent {
  cat?: string;
  name: string;
  dur: number;
  args?: { op_name?: string; output_type_shape?: unknown };
}

function intArg(argv: readonly string[], name: string, fallback: number, min: number, max: number): number {
  const raw = argValue(argv, name);
  const v = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`--${name} must be an integer in [${min}, ${max}], got ${raw}`);
  return v;
}

/** One call's inputs: B streams of one chunk of C output frames, caches as after a long stream (not zeros). */
function feedsFor(session: ort.InferenceSession, info: ModelInfo, batch: number, C: number): Record<string, ort.Tensor> {
  const T = chunkFeatureFrames(info, C);
  const rows = fbankLikeFeatures(T, 11); // T x 80 row-major -> (80, T) per stream
  const audio = new Float32Array(batch * 80 * T);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < T; t++) for (let d = 0; d < 80; d++) audio[b * 80 * T + d * T + t] = rows[t * 80 + d]!;
  }
  const ch = info.cacheChannelShape, tm = info.cacheTimeShape;
  const size = (s: readonly number[]): number => batch * s.reduce((a, x) => a * x, 1);
  const names = session.inputNames;
  return {
    [names[0]!]: new ort.Tensor('float32', audio, [batch, 80, T]),
    [names[1]!]: new ort.Tensor('int64', new BigInt64Array(batch).fill(BigInt(T)), [batch]),
    [names[2]!]: new ort.Tensor('float32', new Float32Array(size(ch)).fill(0.1), [batch, ...ch]),
    [names[3]!]: new ort.Tensor('float32', new Float32Array(size(tm)).fill(0.1), [batch, ...tm]),
    [names[4]!]: new ort.Tensor('int64', new BigInt64Array(batch).fill(1000n), [batch]),
  };
}

/** Median wall ms of `iters` calls after 5 warm-up calls; `fetches` limits the outputs copied back. */
async function wallMs(s: ort.InferenceSession, feeds: Record<string, ort.Tensor>, iters: number,
  fetches?: string[]): Promise<number> {
  const run = (): Promise<unknown> => (fetches === undefined ? s.run(feeds) : s.run(feeds, fetches));
  for (let i = 0; i < 5; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return percentile(times, 50);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  checkBenchArgs(argv, {
    'model-dir': 'text', precision: 'text', batch: 'number', 'chunk-frames': 'number', iters: 'number', top: 'number',
  });
  const modelDir = argValue(argv, 'model-dir') ?? 'models/voxgate-conformer-ctc-en';
  const precision = argValue(argv, 'precision') ?? 'int8';
  if (precision !== 'int8' && precision !== 'fp32') throw new Error(`--precision must be int8 or fp32, got ${precision}`);
  const batch = intArg(argv, 'batch', 32, 1, 256);
  const C = intArg(argv, 'chunk-frames', 8, 1, 32);
  const iters = intArg(argv, 'iters', 50, 1, 10000);
  const top = intArg(argv, 'top', 12, 0, 1000);
  const info = loadModelInfo(modelDir, { precision });
  const base: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  const plain = await ort.InferenceSession.create(info.onnxPath, base);
  const feeds = feedsFor(plain, info, batch, C);
  const all = await wallMs(plain, feeds, iters);
  const logpOnly = await wallMs(plain, feeds, iters, [plain.outputNames[0]!]);
  await plain.release();

  const dir = mkdtempSync(join(tmpdir(), 'voxgate-ort-profile-'));
  try {
    const prof = await ort.InferenceSession.create(info.onnxPath,
      { ...base, enableProfiling: true, profileFilePrefix: join(dir, 'encoder') });
    for (let i = 0; i < iters; i++) await prof.run(feeds);
    prof.endProfiling();
    await prof.release();
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    if (file === undefined) throw new Error(`ONNX Runtime wrote no profile into ${dir}`);
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ProfileEvent[];
    const calls = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
    const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
    const n = calls.length;
    const byOp = new Map<string, { us: number; count: number }>();
    const byNode = new Map<string, { us: number; op: string; shape: string }>();
    for (const k of kernels) {
      const op = k.args?.op_name ?? '?';
      const o = byOp.get(op) ?? { us: 0, count: 0 };
      o.us += k.dur / n;
      o.count += 1 / n;
      byOp.set(op, o);
      const node = k.name.slice(0, -'_kernel_time'.length);
      const d = byNode.get(node) ?? { us: 0, op, shape: JSON.stringify(k.args?.output_type_shape ?? '') };
      d.us += k.dur / n;
      byNode.set(node, d);
    }
    const kernelUs = [...byOp.values()].reduce((a, o) => a + o.us, 0);
    const callUs = calls.reduce((a, e) => a + e.dur, 0) / n;
    console.log(`encoder-profile: ${info.onnxPath}, batch ${batch}, chunk ${C} frames (${C * info.frameMs} ms), `
      + `${iters} calls, 1 intra-op thread`);
    console.log(`wall ms / call: ${all.toFixed(2)} (all outputs), ${logpOnly.toFixed(2)} (log_probs only: the `
      + `next-state copy back to JavaScript costs the difference)`);
    console.log(`profiled call: ${(callUs / 1000).toFixed(2)} ms, kernels ${(kernelUs / 1000).toFixed(2)} ms in `
      + `${Math.round(kernels.length / n)} kernels\n`);
    const ops = [...byOp.entries()].sort((a, b) => b[1].us - a[1].us);
    console.log(table([['operator', 'µs / call', 'share', 'kernels'],
      ...ops.map(([op, o]) => [op, o.us.toFixed(0), `${((100 * o.us) / kernelUs).toFixed(1)}%`, o.count.toFixed(0)])]));
    if (top > 0) {
      const nodes = [...byNode.entries()].sort((a, b) => b[1].us - a[1].us).slice(0, top);
      console.log(`\ntop ${top} nodes:`);
      console.log(table([['node', 'operator', 'µs / call', 'output'],
        ...nodes.map(([name, d]) => [name.slice(0, 60), d.op, d.us.toFixed(0), d.shape.slice(0, 70)])]));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
