/**
 * A/B benchmark of two encoder files (say, the shipped model and a re-export with a changed graph): both run in
 * their own EncoderPool (worker thread, one intra-op thread) and their model calls alternate, call by call, so both
 * see the same machine. Why: on the shared 2-core development machine sequential runs of `bench:encoder` differ by
 * up to 30% from minute to minute, far more than the graph changes worth measuring; interleaving cancels that drift.
 * Reports min / p25 / median ms per call of each side and B / A at batches of 1, 8 and 32 chunks of 320 ms (or
 * --batches). With `--precision-b` the sides may differ in precision, e.g. one directory's int8 against its fp32.
 *
 * usage: npm run bench:encoder-ab -- --a DIR --b DIR [--precision int8|fp32] [--precision-b int8|fp32]
 *        [--iters 40] [--chunk-frames 8] [--batches 1,8,32]
 *        (DIR: a model directory as `--model` takes; same feature input to both sides)
 */
import { EncoderPool, type EncoderStream } from '../src/inference/encoder-pool.js';
import { chunkFeatureFrames, loadModelInfo } from '../src/inference/nemo-ctc-model.js';
import { fbankLikeFeatures } from './bench-random.js';
import { argValue, checkBenchArgs, percentile, table } from './bench-stats.js';

interface Side {
  dir: string;
  pool: EncoderPool;
  streams: EncoderStream[];
  ms: number[];
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  checkBenchArgs(argv, {
    a: 'text', b: 'text', precision: 'text', 'precision-b': 'text', iters: 'number', 'chunk-frames': 'number',
    batches: 'numbers',
  });
  const dirs = [argValue(argv, 'a'), argValue(argv, 'b')];
  if (dirs.some((d) => d === undefined)) throw new Error('usage: encoder-ab --a DIR --b DIR [--precision int8|fp32]');
  const precisions = [argValue(argv, 'precision') ?? 'int8', argValue(argv, 'precision-b') ?? argValue(argv, 'precision') ?? 'int8'];
  for (const p of precisions) if (p !== 'int8' && p !== 'fp32') throw new Error(`precision must be int8 or fp32, got ${p}`);
  const iters = Number(argValue(argv, 'iters') ?? 40);
  const C = Number(argValue(argv, 'chunk-frames') ?? 8);
  const batches = (argValue(argv, 'batches') ?? '1,8,32').split(',').map(Number);
  if (batches.some((b) => !Number.isInteger(b) || b < 1 || b > 32)) throw new Error(`--batches must be integers in [1, 32], got ${batches.join(',')}`);
  const infos = (dirs as string[]).map((dir, k) => loadModelInfo(dir, { precision: precisions[k] as 'int8' | 'fp32' }));
  const T = chunkFeatureFrames(infos[0]!, C);
  const feats = fbankLikeFeatures(T, 11);
  const rows: string[][] = [['batch', 'side', 'min ms', 'p25 ms', 'median ms', 'B / A (min, median)']];
  for (const batch of batches) {
    const sides: Side[] = [];
    for (const [k, info] of infos.entries()) {
      const pool = await EncoderPool.create({ model: info, intraOpThreads: 1, maxBatch: 32 });
      sides.push({ dir: `${dirs[k]!} ${precisions[k]!}`, pool, streams: Array.from({ length: batch }, () => pool.openStream()), ms: [] });
    }
    const round = (s: Side): Promise<unknown> => Promise.all(s.streams.map((st) => st.run(feats, T)));
    try {
      for (const s of sides) { await round(s); await round(s); } // warm-up; caches fill
      for (let i = 0; i < iters; i++) {
        for (const s of i % 2 === 0 ? sides : [...sides].reverse()) {
          const t0 = performance.now();
          await round(s);
          s.ms.push(performance.now() - t0);
        }
      }
    } finally {
      for (const s of sides) {
        s.streams.forEach((st) => st.close());
        await s.pool.close();
      }
    }
    const [a, b] = sides.map((s) => ({ min: Math.min(...s.ms), p25: percentile(s.ms, 25), p50: percentile(s.ms, 50) }));
    sides.forEach((s, k) => {
      const m = [a, b][k]!;
      rows.push([String(batch), `${k === 0 ? 'A' : 'B'} ${s.dir}`, m.min.toFixed(1), m.p25.toFixed(1), m.p50.toFixed(1),
        k === 0 ? '' : `${(b!.min / a!.min).toFixed(3)}, ${(b!.p50 / a!.p50).toFixed(3)}`]);
    });
    console.error(`batch ${batch}: A ${a!.min.toFixed(1)} / B ${b!.min.toFixed(1)} ms min`);
  }
  console.log(`encoder-ab: ${C * 40} ms chunks, ${iters} interleaved calls per side and batch`);
  console.log(table(rows));
}

await main();
