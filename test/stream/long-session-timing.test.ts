/**
 * Times over an hour-long session, per wire (rate, encoding, channels, frame sizes, odd and 1-sample ones included):
 * the same speech placed 3598 s later must give the same events with every time exactly 3,598,000 ms later, and a
 * final that ends at the session's end (off the 10 ms grid) must end at the exact audio received. Rounding per input
 * frame, per resampled chunk or per fbank block would add up over the hour's 10^5 frames and show here as a shift
 * that is not exact. The silence before the speech is the codec's silence, which leaves
 * every stage's state (resampler history, VAD floor and high-pass, pre-roll ring) the same in both placements, so
 * the comparison is exact, not a tolerance; the frame sizes are cycled over the whole session, so the speech arrives
 * cut differently in the two placements. Real model (skipped without it); the encoder sees only the speech.
 */
import { describe, expect, it } from 'vitest';
import { encodeMulawSamples } from '../../src/dsp/g711.js';
import { Resampler } from '../../src/dsp/resampler.js';
import type { AudioEncoding } from '../../src/protocol/messages.js';
import type { PipelineEvent } from '../../src/stream/pipeline-event.js';
import { SessionPipeline, type PipelineDeps } from '../../src/stream/session-pipeline.js';
import { HAVE_MODEL, onRealModel, sessionConfig, speechClips } from './helpers.js';

interface Wire {
  sampleRateHz: number;
  encoding: AudioEncoding;
  channels: 1 | 2;
  /** Samples per binary frame, cycled. */
  frames: readonly number[];
}

// 44.1 kHz ran too (session 25: no drift); 11.025 kHz is the same resampling ratio family with odder frames
const WIRES: readonly Wire[] = [
  { sampleRateHz: 8000, encoding: 'mulaw', channels: 1, frames: [160] }, // telephony: 20 ms frames
  { sampleRateHz: 11025, encoding: 'pcm_s16le', channels: 1, frames: [441, 1103, 7, 1, 2205] },
  { sampleRateHz: 48000, encoding: 'pcm_f32le', channels: 2, frames: [960, 1025, 4096, 77] },
];

/** Mono float samples at the wire's rate -> wire bytes (stereo: the right channel at half the left's level). */
function encode(w: Wire, x: Float32Array): Uint8Array {
  if (w.encoding === 'mulaw') return encodeMulawSamples(x);
  const bytesPerSample = w.encoding === 'pcm_f32le' ? 4 : 2;
  const out = new Uint8Array(x.length * bytesPerSample * w.channels);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < x.length; i++) {
    for (let c = 0; c < w.channels; c++) {
      const v = c === 0 ? x[i]! : x[i]! / 2, o = (i * w.channels + c) * bytesPerSample;
      if (bytesPerSample === 4) dv.setFloat32(o, v, true);
      else dv.setInt16(o, Math.max(-32768, Math.min(32767, Math.round(v * 32768))), true);
    }
  }
  return out;
}

/** 16 kHz samples at `rateHz` (band-limited). */
function atRate(x: Float32Array, rateHz: number): Float32Array {
  if (rateHz === 16000) return x;
  const r = new Resampler({ inputRateHz: 16000, outputRateHz: rateHz });
  const a = r.push(x), b = r.flush();
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** One part of a session's audio: `silence` samples of digital silence, or wire bytes. */
type Part = { silence: number } | { bytes: Uint8Array };

interface Run {
  events: PipelineEvent[];
  audioMs: number;
  samples: number;
}

/** Feeds `parts` in the wire's frame sizes (cycled across parts), ends; the events with arrivals zeroed. The
 * session's silence_ms is 1000. */
async function run(deps: PipelineDeps, w: Wire, parts: readonly Part[]): Promise<Run> {
  const p = new SessionPipeline(sessionConfig({ sampleRateHz: w.sampleRateHz, encoding: w.encoding,
    channels: w.channels, silenceMs: 1000 }), deps);
  const events: PipelineEvent[] = [];
  const done = new Promise<void>((resolve, reject) => p.events$.subscribe({
    next: (e) => events.push('newestArrivalMs' in e ? { ...e, newestArrivalMs: 0 } : e), error: reject,
    complete: resolve }));
  const frameBytes = encode(w, new Float32Array(1)).length;
  const quiet = encode(w, new Float32Array(Math.max(...w.frames)));
  let k = 0, samples = 0;
  for (const part of parts) {
    const total = 'silence' in part ? part.silence : part.bytes.length / frameBytes;
    for (let at = 0; at < total;) {
      const n = Math.min(total - at, w.frames[k % w.frames.length]!);
      const src = 'silence' in part ? quiet.subarray(0, n * frameBytes)
        : part.bytes.subarray(at * frameBytes, (at + n) * frameBytes);
      p.pushAudio(src, k++);
      at += n;
      // lets the encoder's results in between, as a socket's turns would
      if (k % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    samples += total;
  }
  await p.end();
  await done;
  return { events, audioMs: p.audioMs(), samples };
}

/** `e` with every audio time moved by `ms`. */
function shifted(e: PipelineEvent, ms: number): PipelineEvent {
  if (e.kind === 'speech.started' || e.kind === 'speech.stopped') return { ...e, audioMs: e.audioMs + ms };
  if (e.kind === 'partial') return { ...e, startMs: e.startMs + ms, endMs: e.endMs + ms };
  return { ...e, startMs: e.startMs + ms, endMs: e.endMs + ms,
    words: e.words.map((x) => ({ ...x, startMs: x.startMs + ms, endMs: x.endMs + ms })) };
}

describe.skipIf(!HAVE_MODEL)('times over an hour-long session', () => {
  let deps: PipelineDeps;
  onRealModel((d) => (deps = d));
  const clips = HAVE_MODEL ? speechClips() : [];
  const clip = (set: string) => clips.find((c) => c.set === set)!.samples;

  for (const w of WIRES) {
    const label = `${w.sampleRateHz} Hz ${w.encoding} x${w.channels}, frames ${w.frames.join('/')}`;
    it(`${label}: speech 3598 s later gives the same events 3,598,000 ms later; the last final ends at the audio sent`,
      async () => {
        const rate = w.sampleRateHz;
        const first = encode(w, atRate(clip('an4'), rate)), second = encode(w, atRate(clip('asterisk'), rate));
        // the second utterance is still open at the end (silence_ms 1000, the tail 0.3 s): its final ends there
        const speech = (leadS: number): Part[] => [{ silence: leadS * rate }, { bytes: first },
          { silence: Math.round(1.5 * rate) }, { bytes: second }, { silence: Math.round(0.3 * rate) + 1 }];
        const early = await run(deps, w, speech(1));
        const late = await run(deps, w, speech(3599));
        // every sample counted, converted to ms once
        expect(late.audioMs, label).toBe((late.samples * 1000) / rate);
        const finals = (r: Run) => r.events.filter((e) => e.kind === 'final');
        expect(finals(early).map((f) => f.reason), label).toEqual(['silence', 'session_end']);
        expect(finals(early)[1]!.endMs, label).toBe(early.audioMs);
        expect(finals(late)[1]?.endMs, label).toBe(late.audioMs);
        expect(late.events, label).toEqual(early.events.map((e) => shifted(e, 3598_000)));
      }, 60_000);
  }
});
