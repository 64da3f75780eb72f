/**
 * Hostile audio content on the real model: pcm_f32le samples that are NaN, infinite, denormal, huge or out of
 * [-1, 1], and signals that are legal but extreme (long digital silence, DC offset, a full-scale square wave, one
 * full-scale click, stereo channels in opposite phase), at 8000, 16000, 44100 and 47999 Hz, denoise off and on.
 * Every feature the encoder is fed and every log-prob it returns must be finite, the session must end normally (the
 * decoder stage reads NaN and infinities as 0 and clamps to [-1, 1], docs/protocol.md section 4: none of this needs an
 * error), the speech in it must still be transcribed, and a clean session batched with hostile ones in the same model
 * calls must get the events it gets alone. Skipped without a model.
 */
import { lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { EncoderPool } from '../../src/inference/encoder-pool.js';
import { loadModelInfo } from '../../src/inference/nemo-ctc-model.js';
import type { DenoiseMode } from '../../src/protocol/messages.js';
import type { PipelineEvent } from '../../src/stream/pipeline-event.js';
import { SessionPipeline, type PipelineDeps } from '../../src/stream/session-pipeline.js';
import type { EncoderRunResult, StreamEncoder, StreamEncoderStream } from '../../src/stream/stream-items.js';
import { HAVE_MODEL, MODEL_DIR, concat, onRealModel, seconds, sessionConfig, speechClips, toS16 } from './helpers.js';

const countNonFinite = (x: Float32Array): number => x.reduce((n, v) => (Number.isFinite(v) ? n : n + 1), 0);

/** The real encoder, passed through: counts the non-finite values in what goes in and what comes out. */
class FiniteWatch implements StreamEncoder {
  runs = 0;
  badFeats = 0;
  badLogProbs = 0;
  constructor(private readonly inner: StreamEncoder) {}

  openStream(): StreamEncoderStream {
    const s = this.inner.openStream();
    return {
      id: s.id,
      run: async (feats, frames): Promise<EncoderRunResult> => {
        this.runs++;
        this.badFeats += countNonFinite(feats);
        const out = await s.run(feats, frames);
        this.badLogProbs += countNonFinite(out.logProbs);
        return out;
      },
      reset: () => s.reset(),
      close: () => s.close(),
    };
  }
}

/** `x` (16 kHz) at `rateHz`, linear interpolation: a deterministic wire signal, not a band-limited one. */
function atRate(x: Float32Array, rateHz: number): Float32Array {
  const out = new Float32Array(Math.floor((x.length * rateHz) / 16000));
  for (let i = 0; i < out.length; i++) {
    const t = (i * 16000) / rateHz, k = Math.floor(t), f = t - k;
    out[i] = x[k]! * (1 - f) + x[Math.min(k + 1, x.length - 1)]! * f;
  }
  return out;
}

/** Interleaved little-endian float32 (one channel, or two of equal length). */
function f32le(...channels: Float32Array[]): Uint8Array {
  const n = channels[0]!.length, c = channels.length;
  const out = new Uint8Array(4 * n * c);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < n; i++) channels.forEach((ch, k) => dv.setFloat32(4 * (i * c + k), ch[i]!, true));
  return out;
}

interface Wire {
  bytes: Uint8Array;
  channels: 1 | 2;
}

/** Speech between noise-bed pauses, at `rateHz`, with `mark` applied to every sample (index, value) -> value. */
function speechWith(speech: Float32Array, rateHz: number, mark: (i: number, v: number) => number): Wire {
  const x = atRate(concat([seconds(0.4), speech, seconds(0.6)]), rateHz);
  return { bytes: f32le(x.map((v, i) => mark(i, v))), channels: 1 };
}

function hostileWires(speech: Float32Array, rateHz: number): Record<string, Wire> {
  const ms = (t: number) => Math.round((t * rateHz) / 1000);
  const inBurst = (i: number) => i >= ms(900) && i < ms(920); // 20 ms inside the speech
  const zeros = (s: number) => new Float32Array(Math.round(s * rateHz));
  // After a noise bed, so that the VAD has learnt a floor and feeds the tone to the model.
  const square = atRate(concat([seconds(0.5), seconds(3), seconds(0.5)]), rateHz);
  for (let i = ms(500); i < ms(3500); i++) square[i] = Math.floor((2 * 1000 * i) / rateHz) % 2 ? -1 : 1;
  const click = zeros(6);
  click[3 * rateHz] = 1;
  const silent = zeros(8);
  silent.set(atRate(speech, rateHz), 4 * rateHz);
  const stereo = atRate(concat([seconds(0.4), speech, seconds(0.6)]), rateHz);
  return {
    nan: speechWith(speech, rateHz, (i, v) => (i % 97 === 0 || inBurst(i) ? NaN : v)),
    infinity: speechWith(speech, rateHz, (i, v) => (i % 89 === 0 || inBurst(i) ? (i & 1 ? Infinity : -Infinity) : v)),
    denormal: speechWith(speech, rateHz, (i, v) => (inBurst(i) ? 1e-40 : v * 1e-38 + (i & 1 ? 1e-45 : -1e-45))),
    huge: speechWith(speech, rateHz, (i, v) => (inBurst(i) ? (i & 1 ? 3.4e38 : -1e38) : v * 1e38)),
    'over-range': speechWith(speech, rateHz, (_, v) => 6 * v),
    'dc-offset': speechWith(speech, rateHz, (_, v) => 0.6 + v),
    'long digital silence': { bytes: f32le(silent), channels: 1 },
    'full-scale square': { bytes: f32le(square), channels: 1 },
    'one click in silence': { bytes: f32le(click), channels: 1 },
    'opposite-phase stereo': { bytes: f32le(stereo, stereo.map((v) => -v)), channels: 2 },
  };
}

/** Runs one session in 20 ms frames; resolves with its events and the error it ended with, if any. */
async function session(
  p: SessionPipeline, w: Wire, rateHz: number,
): Promise<{ events: PipelineEvent[]; error: unknown }> {
  const events: PipelineEvent[] = [];
  const done = lastValueFrom(p.events$.pipe(toArray())).then(() => null, (e: unknown) => e);
  p.events$.subscribe({ next: (e) => events.push(e), error: () => undefined });
  const frame = 4 * w.channels * (rateHz / 50 | 0);
  for (let o = 0, k = 0; o < w.bytes.length; o += frame, k++) p.pushAudio(w.bytes.subarray(o, o + frame), 20 * k);
  await p.end().catch(() => undefined);
  return { events, error: await done };
}

/**
 * Events without arrival times, confidences to 4 decimals: a row's log-probs may differ with the batch size at float
 * rounding on other CPUs (the pool's own batching test allows 1e-5), which is not a batch mate's influence.
 */
function comparable(events: PipelineEvent[]): unknown[] {
  const c = (x: number) => Math.round(x * 1e4) / 1e4;
  return events.map((e) => {
    if (e.kind === 'partial') return { ...e, newestArrivalMs: 0 };
    if (e.kind !== 'final') return e;
    const words = e.words.map((w) => ({ ...w, confidence: c(w.confidence) }));
    return { ...e, newestArrivalMs: 0, confidence: c(e.confidence), words };
  });
}

const RATES = [8000, 16000, 44100, 47999];
const DENOISE: DenoiseMode[] = ['off', 'spectral'];

describe.skipIf(!HAVE_MODEL)('hostile audio content on the real model', () => {
  let deps: PipelineDeps;
  onRealModel((d) => (deps = d));
  const speech = HAVE_MODEL ? speechClips().find((c) => c.set === 'asterisk')!.samples : new Float32Array(0);

  for (const rateHz of RATES) {
    for (const denoise of DENOISE) {
      it(`${rateHz} Hz, denoise ${denoise}: finite features and log-probs, normal end, the speech gets through`,
        async () => {
          for (const [name, w] of Object.entries(hostileWires(speech, rateHz))) {
            const watch = new FiniteWatch(deps.encoder);
            const config = sessionConfig({ encoding: 'pcm_f32le', sampleRateHz: rateHz, channels: w.channels,
              denoise });
            const pipeline = new SessionPipeline(config, { ...deps, encoder: watch });
            const { events, error } = await session(pipeline, w, rateHz);
            expect({ name, error, badFeats: watch.badFeats, badLogProbs: watch.badLogProbs })
              .toEqual({ name, error: null, badFeats: 0, badLogProbs: 0 });
            const finals = events.filter((e) => e.kind === 'final');
            expect(finals.length, name).toBe(events.filter((e) => e.kind === 'speech.started').length);
            if (name === 'opposite-phase stereo' || name === 'one click in silence') expect(events, name).toEqual([]);
            if (name === 'full-scale square') expect(watch.runs, name).toBeGreaterThan(0);
            if (['nan', 'infinity', 'over-range', 'dc-offset', 'long digital silence'].includes(name)) {
              expect(finals.some((f) => f.kind === 'final' && f.text !== ''), name).toBe(true);
            }
          }
        }, 60_000);
    }
  }

  it('a clean session batched with hostile ones in the same model calls gets the events it gets alone', async () => {
    // A pool of its own that waits 5 ms to fill a batch, so that chunks of all sessions share model calls.
    const pool = await EncoderPool.create({ model: loadModelInfo(MODEL_DIR, { precision: 'auto' }), intraOpThreads: 1,
      batchWindowMs: 5 });
    try {
      const rateHz = 16000;
      const clean: Wire = { bytes: toS16(concat([seconds(0.4), speech, seconds(0.6)])), channels: 1 };
      const cleanConfig = sessionConfig({ encoding: 'pcm_s16le', sampleRateHz: rateHz });
      const alone = await session(new SessionPipeline(cleanConfig, { ...deps, encoder: pool }), clean, rateHz);
      expect(alone.events.filter((e) => e.kind === 'final').length).toBeGreaterThan(0);
      const before = pool.stats();
      const hostile = hostileWires(speech, rateHz);
      const watch = new FiniteWatch(pool);
      const mates = ['nan', 'infinity', 'huge', 'over-range', 'dc-offset', 'full-scale square'].map((name) => {
        const config = sessionConfig({ encoding: 'pcm_f32le', sampleRateHz: rateHz, denoise: 'spectral' });
        return session(new SessionPipeline(config, { ...deps, encoder: watch }), hostile[name]!, rateHz);
      });
      const together = await session(new SessionPipeline(cleanConfig, { ...deps, encoder: pool }), clean, rateHz);
      await Promise.all(mates);
      const after = pool.stats();
      expect((after.chunks - before.chunks) / (after.batches - before.batches)).toBeGreaterThan(2);
      expect(watch.runs).toBeGreaterThan(20); // the mates' audio did reach the shared model calls
      expect([watch.badFeats, watch.badLogProbs]).toEqual([0, 0]);
      expect(together.error).toBeNull();
      expect(comparable(together.events)).toEqual(comparable(alone.events));
    } finally {
      await pool.close();
    }
  }, 60_000);
});
