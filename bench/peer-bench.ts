/**
 * voxgate's recognition engine against its peer, sherpa-onnx (sherpa-onnx-node), on the same model file, the same
 * audio and the same work: N streams fed in lockstep, 50 ms per stream per tick, 160 ms chunks (the window sherpa
 * reads from the model's metadata), greedy CTC, as fast as the machine allows. The audio is the committed real-speech
 * fixtures back to back plus 0.8 s of silence, so both sides run exactly the same chunks (test/inference/
 * sherpa-parity.test.ts) and must print the same text for every stream: the bench checks that before it reports.
 *
 * Ours: the gateway's native fbank extractor on the calling thread, EncoderShards (W worker threads, one ONNX Runtime session each, one
 * intra-op thread, up to 32 chunks per model call), CtcGreedyDecoder. Sherpa: its C++ fbank, one ONNX Runtime session
 * with T intra-op threads, `decodeStreams` over every ready stream (bench/sherpa-load.cjs, a child process); and
 * "2 processes": two such single-threaded children side by side, half the streams each, which is how sherpa would
 * best use 2 cores (its intra-op threads scale poorly here).
 * Reported per run: capacity = audio seconds / wall seconds (how many real-time streams the engine could carry if
 * the machine did nothing else), CPU seconds per audio second, the wall time of one tick for all N streams
 * (p50 / p99: the compute part of a partial's latency at that load), and the mean rows per model call.
 * Not the gateway: no sockets, VAD, denoiser, beam search or LM (npm run bench measures those).
 *
 *   npm run bench:peer -- [--streams 1,8,32,64] [--precision int8|fp32] [--rounds 2] [--only NAME] [--json FILE]
 *   (--only: the engines whose name contains NAME, e.g. `voxgate` or `2 workers`)
 *
 * Numbers only; no pass/fail. The two sides run interleaved, round after round, so the machine's speed drifts hit
 * both; the table keeps each configuration's best round.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { FBANK_NUM_BINS } from '../src/dsp/fbank.js';
import { ctcText } from '../src/inference/ctc-decoder.js';
import { CtcGreedyDecoder } from '../src/inference/ctc-greedy-decoder.js';
import { loadNativeAddon } from '../src/inference/native-addon.js';
import { EncoderShards } from '../src/inference/encoder-shards.js';
import { chunkFeatureFrames, loadModelInfo, type ModelInfo } from '../src/inference/nemo-ctc-model.js';
import { defaultModelDir } from '../src/server/config.js';
import { concat } from './bench-random.js';
import { argValue, checkBenchArgs, percentile, round, table } from './bench-stats.js';
import { fixtureSpeech } from './speech-corpus.js';

const TICK_SAMPLES = 800; // 50 ms at 16 kHz
const PAD_SAMPLES = 12_800; // 0.8 s of silence, as the sherpa parity test pads
const CHUNK_FRAMES = 4; // 160 ms of 40 ms output frames
const MAX_BATCH = 32;
/** Both sides first run this much of the audio through N throwaway streams: a fresh ONNX Runtime session's first
 * calls are several times slower (allocations, weight pre-packing), and a server pays that once, not per stream. */
const WARMUP_SAMPLES = 16_000;

interface RunResult { wallMs: number; cpuMs: number; tickMs: number[]; meanBatch: number; texts: string[] }

/** One of our streams: features accumulate; every full window (sherpa's strict rule, start + W < T) is run. */
class OurStream {
  private readonly fbank = new (loadNativeAddon().FbankExtractor)();
  /** Feature frames not yet consumed: the next window starts at frame 0. */
  private feats = new Float32Array(0);
  private readonly decoder: CtcGreedyDecoder;

  constructor(private readonly info: ModelInfo, private readonly encoder: ReturnType<EncoderShards['openStream']>) {
    this.decoder = new CtcGreedyDecoder({ vocabSize: info.vocabSize, blankId: info.blankId });
  }

  /** Feeds samples (or, with null, flushes the fbank) and runs every window now complete, in order. */
  async feed(samples: Float32Array | null): Promise<void> {
    const add = samples === null ? this.fbank.flush() : this.fbank.push(samples);
    const W = chunkFeatureFrames(this.info, CHUNK_FRAMES), hop = 4 * CHUNK_FRAMES;
    const feats = new Float32Array(this.feats.length + add.length);
    feats.set(this.feats);
    feats.set(add, this.feats.length);
    const T = feats.length / FBANK_NUM_BINS;
    const runs: Promise<void>[] = [];
    let start = 0;
    for (; start + W < T; start += hop) {
      // run() copies the window at the call, so the views may be dropped right after.
      const window = feats.subarray(start * FBANK_NUM_BINS, (start + W) * FBANK_NUM_BINS);
      runs.push(this.encoder.run(window, W).then((o) => void this.decoder.decodeChunk(o.logProbs, o.frames, o.vocabSize)));
    }
    this.feats = feats.slice(start * FBANK_NUM_BINS);
    await Promise.all(runs);
  }

  close(): void {
    this.encoder.close();
  }

  text(): string {
    return ctcText(this.decoder.current().tokens, this.info.tokens, this.info.separatorId);
  }
}

async function runOurs(info: ModelInfo, audio: Float32Array, streams: number, workers: number): Promise<RunResult> {
  const shards = await EncoderShards.create({ model: info, workers, intraOpThreads: 1, maxBatch: MAX_BATCH });
  try {
    const play = async (all: OurStream[], samples: Float32Array, tickMs: number[]) => {
      for (let o = 0; o < samples.length; o += TICK_SAMPLES) {
        const t = performance.now();
        const piece = samples.subarray(o, Math.min(samples.length, o + TICK_SAMPLES));
        await Promise.all(all.map((s) => s.feed(piece)));
        tickMs.push(performance.now() - t);
      }
    };
    const warm = Array.from({ length: streams }, () => new OurStream(info, shards.openStream()));
    await play(warm, audio.subarray(0, WARMUP_SAMPLES), []);
    warm.forEach((s) => s.close());
    const all = Array.from({ length: streams }, () => new OurStream(info, shards.openStream()));
    const tickMs: number[] = [];
    const before = shards.stats();
    const cpu0 = process.cpuUsage(), t0 = performance.now();
    await play(all, audio, tickMs);
    await Promise.all(all.map((s) => s.feed(null)));
    const wallMs = performance.now() - t0, cpu = process.cpuUsage(cpu0);
    const after = shards.stats();
    const meanBatch = (after.chunks - before.chunks) / (after.batches - before.batches);
    return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000, tickMs, meanBatch, texts: all.map((s) => s.text()) };
  } finally {
    await shards.close();
  }
}

function runSherpa(audioFile: string, info: ModelInfo, streams: number, threads: number): Promise<RunResult> {
  const script = join(process.cwd(), 'bench/sherpa-load.cjs');
  const args = [script, audioFile, dirname(info.onnxPath), basename(info.onnxPath), String(streams), String(threads)];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 64 << 20, timeout: 600_000 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`sherpa-load failed (${err.code ?? err.signal}): ${stderr.slice(-2000)}`));
        return;
      }
      const res = JSON.parse(stdout.trim().split('\n').pop()!) as RunResult;
      resolve({ ...res, texts: res.texts.map((t) => t.trim().replace(/\s+/g, ' ')) });
    });
  });
}

/**
 * sherpa as a server on 2 cores would best run it: two single-threaded decoders side by side (here two processes,
 * each with half the streams), as our two encoder workers are; a run lasts until the slower one ends.
 */
async function runSherpaPair(audioFile: string, info: ModelInfo, streams: number): Promise<RunResult> {
  const halves = [Math.ceil(streams / 2), Math.floor(streams / 2)].filter((n) => n > 0);
  const parts = await Promise.all(halves.map((n) => runSherpa(audioFile, info, n, 1)));
  const rows = parts.reduce((sum, p, i) => sum + p.meanBatch * halves[i]!, 0);
  return {
    wallMs: Math.max(...parts.map((p) => p.wallMs)), cpuMs: parts.reduce((sum, p) => sum + p.cpuMs, 0),
    tickMs: parts.flatMap((p) => p.tickMs), meanBatch: rows / streams, texts: parts.flatMap((p) => p.texts),
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  checkBenchArgs(argv, {
    streams: 'numbers', precision: 'text', rounds: 'number', only: 'text', json: 'text', 'model-dir': 'text',
  });
  const streamCounts = (argValue(argv, 'streams') ?? '1,8,32,64').split(',').map(Number);
  const precision = (argValue(argv, 'precision') ?? 'int8') as 'int8' | 'fp32';
  const rounds = Number(argValue(argv, 'rounds') ?? 2);
  const jsonPath = argValue(argv, 'json');
  if (streamCounts.some((n) => !Number.isInteger(n) || n < 1) || !(rounds >= 1)) {
    throw new Error(`--streams must list positive integers and --rounds be >= 1, got ${argv.join(' ')}`);
  }
  const info = loadModelInfo(argValue(argv, 'model-dir') ?? defaultModelDir(), { precision });
  const audio = concat([fixtureSpeech(), new Float32Array(PAD_SAMPLES)]);
  const dir = mkdtempSync(join(tmpdir(), 'voxgate-peer-'));
  const audioFile = join(dir, 'audio.f32');
  writeFileSync(audioFile, new Uint8Array(audio.buffer, audio.byteOffset, audio.byteLength));
  const audioS = audio.length / 16000;
  const only = argValue(argv, 'only');
  const engines = [
    { name: 'voxgate, 1 worker', run: (n: number) => runOurs(info, audio, n, 1) },
    { name: 'voxgate, 2 workers', run: (n: number) => runOurs(info, audio, n, 2) },
    { name: 'sherpa-onnx, 1 thread', run: (n: number) => runSherpa(audioFile, info, n, 1) },
    { name: 'sherpa-onnx, 2 threads', run: (n: number) => runSherpa(audioFile, info, n, 2) },
    { name: 'sherpa-onnx, 2 processes', run: (n: number) => runSherpaPair(audioFile, info, n) },
  ].filter((e) => only === undefined || e.name.includes(only));
  const best = new Map<string, RunResult>();
  let reference: string | null = null;
  try {
    for (let r = 0; r < rounds; r++) {
      for (const n of streamCounts) {
        for (const e of engines) {
          const res = await e.run(n);
          reference ??= res.texts[0]!;
          const bad = res.texts.findIndex((t) => t !== reference);
          if (bad >= 0) throw new Error(`${e.name}, ${n} streams: stream ${bad} decoded ${JSON.stringify(res.texts[bad])}, expected ${JSON.stringify(reference)}`);
          const key = `${e.name}|${n}`, prev = best.get(key);
          if (!prev || res.wallMs < prev.wallMs) best.set(key, res);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rows = [['engine', 'streams', 'capacity (streams)', 'CPU s / audio s', 'tick p50 ms', 'tick p99 ms', 'rows / call']];
  const out: Record<string, unknown>[] = [];
  for (const n of streamCounts) {
    for (const e of engines) {
      const res = best.get(`${e.name}|${n}`)!;
      const figures = {
        engine: e.name, streams: n, capacity_streams: round((audioS * n) / (res.wallMs / 1000), 1),
        cpu_s_per_audio_s: round(res.cpuMs / 1000 / (audioS * n), 4), tick_ms: { p50: round(percentile(res.tickMs, 50)),
          p99: round(percentile(res.tickMs, 99)) }, mean_batch: round(res.meanBatch, 1),
      };
      out.push(figures);
      rows.push([e.name, String(n), String(figures.capacity_streams), String(figures.cpu_s_per_audio_s),
        String(figures.tick_ms.p50), String(figures.tick_ms.p99), String(figures.mean_batch)]);
    }
  }
  console.log(`${info.precision} ${basename(info.onnxPath)}, ${audioS.toFixed(2)} s of audio per stream, 160 ms chunks, greedy; ` +
    `best of ${rounds} rounds; every stream of every run decoded ${JSON.stringify(reference)}`);
  console.log(table(rows));
  if (jsonPath) writeFileSync(jsonPath, JSON.stringify({ precision: info.precision, audio_s_per_stream: audioS, runs: out }, null, 2));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
