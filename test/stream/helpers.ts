/**
 * Shared helpers for the stream tests: speech clips (test/fixtures/speech), PCM encoding, a deterministic test-double
 * encoder (for structure tests that must not depend on today's model quality), and pipeline drivers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, expect } from 'vitest';
import { Resampler } from '../../src/dsp/resampler.js';
import { EncoderPool } from '../../src/inference/encoder-pool.js';
import { loadModelInfo } from '../../src/inference/nemo-ctc-model.js';
import { SESSION_DEFAULTS } from '../../src/protocol/messages.js';
import type { SessionConfig } from '../../src/protocol/session-config.js';
import type { PipelineEvent, SessionPipelinePort } from '../../src/stream/pipeline-event.js';
import type { PipelineDeps, SessionPipeline } from '../../src/stream/session-pipeline.js';
import type {
  EncoderRunResult, StreamEncoder, StreamEncoderStream, StreamModelInfo,
} from '../../src/stream/stream-items.js';
import { readWav } from './wav.js';

export const SPEECH_DIR = new URL('../fixtures/speech/', import.meta.url);
/** The shipped model (VOXGATE_TEST_MODEL_DIR overrides, as in test/inference). Real-model tests skip without it. */
export const MODEL_DIR = process.env.VOXGATE_TEST_MODEL_DIR
  ?? fileURLToPath(new URL('../../models/voxgate-conformer-ctc-en', import.meta.url));
export const HAVE_MODEL = existsSync(`${MODEL_DIR}/model.onnx`);

export interface SpeechClip {
  set: string;
  file: string;
  reference: string;
  samples: Float32Array;
}

/** The real-speech clips listed in test/fixtures/speech/MANIFEST.tsv (16 kHz mono). */
export function speechClips(): SpeechClip[] {
  const manifest = readFileSync(new URL('MANIFEST.tsv', SPEECH_DIR), 'utf8');
  return manifest.split('\n').filter((l) => l.trim() !== '').map((line) => {
    const [set, file, reference] = line.split('\t') as [string, string, string];
    const wav = readWav(new URL(file, SPEECH_DIR));
    if (wav.sampleRateHz !== 16000) throw new Error(`${file}: expected 16 kHz, got ${wav.sampleRateHz}`);
    return { set, file, reference, samples: wav.samples };
  });
}

/** Seeded low-level Gaussian noise (a realistic "silence": the energy VAD needs a floor to learn). */
export function noise(n: number, seed = 1, rms = 3e-4): Float32Array {
  let a = seed >>> 0;
  const r = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rms * Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  return out;
}

/** Concatenation; the noise bed is added everywhere so silence is never digital zero. */
export function concat(parts: Float32Array[], seed = 7): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  const bed = noise(out.length, seed);
  for (let i = 0; i < out.length; i++) out[i] = out[i]! + bed[i]!;
  return out;
}

export function seconds(s: number, rateHz = 16000): Float32Array {
  return new Float32Array(Math.round(s * rateHz));
}

/** Float [-1, 1] -> pcm_s16le bytes. */
export function toS16(samples: Float32Array): Uint8Array {
  const out = new Uint8Array(samples.length * 2);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < samples.length; i++) {
    dv.setInt16(2 * i, Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32768))), true);
  }
  return out;
}

/** Interleaves two 16-bit mono byte streams of equal length into one stereo stream (left first). */
export function interleaveS16(left: Uint8Array, right: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 * left.length);
  for (let i = 0; i < left.length; i += 2) {
    out.set(left.subarray(i, i + 2), 2 * i);
    out.set(right.subarray(i, i + 2), 2 * i + 2);
  }
  return out;
}

export function sessionConfig(o: Partial<SessionConfig> = {}): SessionConfig {
  return {
    encoding: 'pcm_s16le', sampleRateHz: 16000, channels: 1, interimResults: true, latency: 'balanced',
    chunkMs: 320, silenceMs: 500, maxUtteranceMs: 15000, hotwords: [], denoise: 'off', minConfidence: SESSION_DEFAULTS.minConfidence, numerals: false, multichannel: false,
    alternatives: 1, backgroundRejectionDb: 0, tag: null, language: null, model: null, ...o,
  };
}

/** `x` (16 kHz) as pcm_s16le at `rateHz` (band-limited). */
export function wireAt(x: Float32Array, rateHz: number): Uint8Array {
  if (rateHz === 16000) return toS16(x);
  const r = new Resampler({ inputRateHz: 16000, outputRateHz: rateHz });
  const a = r.push(x), b = r.flush();
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return toS16(out);
}

/**
 * Feeds pcm_s16le `bytes` in frames of `frameSamples()` samples, finalizing before each sample position in
 * `finalizeAt` (ascending; a position given twice finalizes twice), ends, returns all events.
 */
export async function feedWithFinalizes(p: Pick<SessionPipelinePort, 'events$' | 'pushAudio' | 'finalize' | 'end'>,
  bytes: Uint8Array, finalizeAt: readonly number[], frameSamples: () => number): Promise<PipelineEvent[]> {
  const events: PipelineEvent[] = [];
  const done = new Promise<void>((resolve, reject) => p.events$.subscribe({
    next: (e) => events.push(e), error: reject, complete: resolve }));
  const total = bytes.length / 2;
  let at = 0, arrival = 0;
  for (const until of [...finalizeAt, total]) {
    while (at < until) {
      const n = Math.min(until - at, frameSamples());
      p.pushAudio(bytes.subarray(2 * at, 2 * (at + n)), arrival++);
      at += n;
    }
    if (until < total) p.finalize();
  }
  await p.end();
  await done;
  return events;
}

/** Pushes `bytes` in frames of `frameBytes` (arrival = frame index * 1000 unless given), ends, returns all events. */
export async function runPipeline(
  p: Pick<SessionPipeline, 'events$' | 'pushAudio' | 'end'>,
  bytes: Uint8Array,
  frameBytes: number,
  between?: (frameIndex: number) => void,
): Promise<PipelineEvent[]> {
  const events = lastValueFrom(p.events$.pipe(toArray()));
  for (let o = 0, k = 0; o < bytes.length; o += frameBytes, k++) {
    p.pushAudio(bytes.subarray(o, Math.min(bytes.length, o + frameBytes)), k);
    between?.(k);
  }
  await p.end();
  return events;
}

export const FAKE_MODEL: StreamModelInfo = {
  name: 'fake-energy',
  tokens: ['<blk>', '▁', "'", ...'abcdefghijklmnopqrstuvwxyz'],
  blankId: 0,
  separatorId: 1,
  vocabSize: 29,
  subsamplingFactor: 4,
  frameMs: 40,
  rightContextFeatureFrames: 3,
};

export interface FakeRun {
  streamId: number;
  frames: number;
  /** Mean log-mel of the window's first frame (identifies the window). */
  firstRowMean: number;
}

/**
 * Deterministic test double of EncoderPool: output frame j of a chunk looks at fbank frames 4j .. 4j+3; when their
 * mean log-mel energy is above `threshold` it emits a letter chosen by the energy (else blank), so speech gives
 * non-empty, chunk-invariant text and silence gives blanks. Stateless (reset is a no-op). Options: `delayMs` (async
 * latency per run), `failAt` (the n-th run rejects).
 */
export class FakeEncoder implements StreamEncoder {
  readonly runs: FakeRun[] = [];
  readonly closed: number[] = [];
  readonly resets: number[] = [];
  #nextId = 1;
  constructor(readonly options: { delayMs?: number; failAt?: number; threshold?: number } = {}) {}

  openStream(): StreamEncoderStream {
    const id = this.#nextId++;
    return {
      id,
      run: (feats, frames) => this.#run(id, feats, frames),
      reset: () => void this.resets.push(id),
      close: () => void this.closed.push(id),
    };
  }

  async #run(streamId: number, feats: Float32Array, frames: number): Promise<EncoderRunResult> {
    const n = this.runs.length;
    let m0 = 0;
    for (let k = 0; k < 80; k++) m0 += feats[k]! / 80;
    this.runs.push({ streamId, frames, firstRowMean: m0 });
    if (this.options.delayMs !== undefined) await new Promise((r) => setTimeout(r, this.options.delayMs));
    else await Promise.resolve();
    if (this.options.failAt === n) throw new Error('fake encoder failure');
    const out = Math.floor((frames - 7) / 4) + 1;
    const V = FAKE_MODEL.vocabSize;
    const logProbs = new Float32Array(out * V).fill(Math.log(0.1 / (V - 1)));
    const threshold = this.options.threshold ?? -9.5;
    for (let j = 0; j < out; j++) {
      let e = 0;
      for (let f = 4 * j; f < 4 * j + 4; f++) for (let k = 0; k < 80; k++) e += feats[f * 80 + k]!;
      e /= 320;
      const token = e > threshold ? 3 + (Math.floor(e * 2) % 26 + 26) % 26 : 0;
      logProbs[j * V + token] = Math.log(0.9);
    }
    return { logProbs, frames: out, vocabSize: V };
  }
}

/**
 * Checks the protocol's ordering rules on pipeline events and returns the kinds with runs of partials collapsed:
 * speech events alternate starting with started; utterance ids are gapless and all messages of utterance n precede
 * those of n + 1; a final follows its speech.stopped; stableText is whole words of text, never shrinks, and the
 * later partials and the final start with it.
 */
export function checkOrder(events: PipelineEvent[]): string[] {
  let speech = false, open = -1, next = 0, stable = '';
  const startsWith = (text: string, prefix: string): boolean =>
    prefix === '' || text === prefix || text.startsWith(prefix + ' ');
  for (const e of events) {
    if (e.kind === 'speech.started' || e.kind === 'speech.stopped') {
      expect(speech).toBe(e.kind === 'speech.stopped');
      speech = e.kind === 'speech.started';
      continue;
    }
    if (open < 0) {
      expect(e.utteranceId).toBe(next);
      open = next++;
      stable = '';
    }
    expect(e.utteranceId).toBe(open);
    expect(e.startMs).toBeLessThanOrEqual(e.endMs);
    expect(startsWith(e.text, stable)).toBe(true);
    if (e.kind === 'partial') {
      expect(startsWith(e.text, e.stableText)).toBe(true);
      expect(e.stableText.length).toBeGreaterThanOrEqual(stable.length);
      stable = e.stableText;
    } else {
      expect(speech).toBe(false);
      open = -1;
    }
  }
  return events.map((e) => e.kind).filter((k, i, a) => !(k === 'partial' && a[i - 1] === 'partial'));
}

/**
 * For a describe block on the real model: a beforeAll that loads the shipped model (`auto` precision) into one encoder
 * pool of one thread and hands the pipeline's deps to `use`, and an afterAll that closes the pool.
 */
export function onRealModel(use: (deps: PipelineDeps) => void): void {
  let pool: EncoderPool | undefined;
  beforeAll(async () => {
    const model = loadModelInfo(MODEL_DIR, { precision: 'auto' });
    pool = await EncoderPool.create({ model, intraOpThreads: 1 });
    use({ encoder: pool, model });
  }, 30_000);
  afterAll(async () => {
    await pool?.close();
  });
}
