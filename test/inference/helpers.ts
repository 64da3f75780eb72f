/** Shared helpers of the inference tests: the real model, fixtures, WAV reading, chunked streaming, greedy CTC. */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FbankExtractor } from '../../src/dsp/fbank.js';
import type { EncoderStream } from '../../src/inference/encoder-pool.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** The shipped model; VOXGATE_TEST_MODEL_DIR points the tests at another export (same layout). */
export const MODEL_DIR = process.env.VOXGATE_TEST_MODEL_DIR ?? `${REPO}models/voxgate-conformer-ctc-en`;
export const MODEL_FIXTURE_DIR = process.env.VOXGATE_TEST_MODEL_FIXTURE ?? `${REPO}test/fixtures/model`;
export const SPEECH_DIR = `${REPO}test/fixtures/speech`;
export const FEAT_DIM = 80;

export function readF32(path: string): Float32Array {
  const b = readFileSync(path);
  const out = new Float32Array(b.length / 4);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(4 * i, true);
  return out;
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export interface ParityFixture {
  model_file: string | null;
  model_sha256: string | null;
  clip: { set?: string; path?: string; text?: string };
  feat_frames: number;
  feat_dim: number;
  feats: string;
  left_context: number;
  vocab_size: number;
  chunks: Record<string, { chunk_ms: number; file: string; frames: number }>;
}

export function readParityFixture(): ParityFixture {
  return JSON.parse(readFileSync(`${MODEL_FIXTURE_DIR}/index.json`, 'utf8')) as ParityFixture;
}

/** Speech clips of test/fixtures/speech/MANIFEST.tsv. */
export function speechClips(): Array<{ set: string; file: string; text: string }> {
  return readFileSync(`${SPEECH_DIR}/MANIFEST.tsv`, 'utf8').split('\n').filter((l) => l.trim() !== '')
    .map((l) => {
      const [set, file, text] = l.split('\t');
      return { set: set!, file: `${SPEECH_DIR}/${file}`, text: text ?? '' };
    });
}

/** 16-bit PCM mono WAV -> Float32 samples (int16 / 32768) and rate. */
export function readWav16(path: string): { samples: Float32Array; sampleRateHz: number } {
  const b = readFileSync(path);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${path}: not a WAV`);
  let pos = 12;
  let rate = 0;
  while (pos + 8 <= b.length) {
    const id = b.toString('ascii', pos, pos + 4), size = b.readUInt32LE(pos + 4), body = pos + 8;
    if (id === 'fmt ') {
      if (b.readUInt16LE(body) !== 1 || b.readUInt16LE(body + 2) !== 1 || b.readUInt16LE(body + 14) !== 16) {
        throw new Error(`${path}: need 16-bit PCM mono`);
      }
      rate = b.readUInt32LE(body + 4);
    } else if (id === 'data') {
      const n = Math.floor(Math.min(size, b.length - body) / 2);
      const samples = new Float32Array(n);
      for (let i = 0; i < n; i++) samples[i] = b.readInt16LE(body + 2 * i) / 32768;
      return { samples, sampleRateHz: rate };
    }
    pos = body + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

/** Whole-signal fbank through the streaming extractor: push everything, then flush. */
export function fbankOf(samples: Float32Array): Float32Array {
  const fb = new FbankExtractor();
  const a = fb.push(samples), b = fb.flush();
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Streams `feats` (T x 80) through `stream` in chunks of C output frames: windows of 4C+3 frames, hop 4C.
 * `fullOnly`: only windows with start + 4C+3 < T (strictly, sherpa's rule); else also the shorter last chunk
 * (>= 7 frames). Returns the concatenated log-probs (T' x V).
 */
export async function streamChunks(stream: EncoderStream, feats: Float32Array, C: number, fullOnly = false)
  : Promise<{ logProbs: Float32Array; frames: number; vocabSize: number }> {
  const T = feats.length / FEAT_DIM, W = 4 * C + 3;
  const outs: Float32Array[] = [];
  let frames = 0, vocabSize = 0;
  for (let start = 0; fullOnly ? start + W < T : start + 7 <= T; start += 4 * C) {
    const n = Math.min(W, T - start);
    const r = await stream.run(feats.subarray(start * FEAT_DIM, (start + n) * FEAT_DIM), n);
    outs.push(r.logProbs);
    frames += r.frames;
    vocabSize = r.vocabSize;
  }
  const logProbs = new Float32Array(frames * vocabSize);
  let o = 0;
  for (const x of outs) {
    logProbs.set(x, o);
    o += x.length;
  }
  return { logProbs, frames, vocabSize };
}

/**
 * `feats` (T x 80) padded as the gateway's encode stage pads an utterance's end (src/stream/encode.ts): to
 * 4 ceil(T / 4) + 3 frames by repeating the last frame, so every 40 ms of input yields an output frame.
 */
export function padTailLikeEncodeStage(feats: Float32Array): Float32Array {
  const T = feats.length / FEAT_DIM, padded = 4 * Math.ceil(T / 4) + 3;
  const out = new Float32Array(padded * FEAT_DIM);
  out.set(feats);
  for (let f = T; f < padded; f++) out.copyWithin(f * FEAT_DIM, (T - 1) * FEAT_DIM, T * FEAT_DIM);
  return out;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** sherpa's greedy CTC: argmax per frame, emit when not blank and not the previous frame's argmax. */
export function greedyCtc(logProbs: Float32Array, frames: number, V: number, blankId = 0)
  : { ids: number[]; frames: number[] } {
  const ids: number[] = [], at: number[] = [];
  let prev = -1;
  for (let t = 0; t < frames; t++) {
    let best = 0;
    for (let v = 1; v < V; v++) if (logProbs[t * V + v]! > logProbs[t * V + best]!) best = v;
    if (best !== blankId && best !== prev) {
      ids.push(best);
      at.push(t);
    }
    prev = best;
  }
  return { ids, frames: at };
}

export interface PeerResult { text: string; tokens: string[]; timestamps: number[]; chunks: number; decodeMs: number }

/** Runs test/inference/sherpa-peer.cjs in a child process (sherpa may exit its process on errors). */
export function runSherpaPeer(wav: string, modelDir: string, args: string[] = []): Promise<PeerResult> {
  const script = fileURLToPath(new URL('./sherpa-peer.cjs', import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, wav, modelDir, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`sherpa-peer failed (${err.code ?? err.signal}): ${stderr.slice(-2000)}`));
        return;
      }
      resolve(JSON.parse(stdout.trim().split('\n').pop()!) as PeerResult);
    });
  });
}
