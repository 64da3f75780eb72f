/**
 * Property tests of SessionPipeline on the real model and real speech: seeded random sessions (clips at random levels
 * and gaps, on a 16 kHz, 8 kHz mu-law or 44.1 kHz stereo wire, a random session.start, energy VAD or off, beam or
 * greedy) driven by a script of frames of random sizes with session.finalize (before any audio, twice in a row,
 * mid-frame, after an endpoint) and endpointing updates at random sample positions. Every run must keep the
 * protocol's invariants (docs/protocol.md section 5), and the same script cut into other frame sizes must give
 * exactly the same events. Hotword and decoding updates act when they reach the decoder, so with them only the
 * invariants are checked. Skipped without a model.
 */
import { describe, expect, it } from 'vitest';
import { encodeMulawSamples } from '../../src/dsp/g711.js';
import type { PipelineEvent } from '../../src/stream/pipeline-event.js';
import { SessionPipeline, type PipelineDeps } from '../../src/stream/session-pipeline.js';
import {
  HAVE_MODEL, checkOrder, concat, interleaveS16, seconds, sessionConfig, speechClips, onRealModel, toS16,
} from './helpers.js';
import { rng as random } from '../native/ctc-fixtures.js';

/** A control input at a sample position of the session's audio (before the sample `atSample`). */
type Control = { atSample: number } & (
  | { kind: 'finalize' }
  | { kind: 'endpointing'; silenceMs: number; maxUtteranceMs: number }
  | { kind: 'hotwords'; phrases: string[] }
  | { kind: 'decoding'; minConfidence: number; alternatives: number; backgroundRejectionDb: number });

interface Script {
  /** The wire bytes, `frameBytes` per sample frame. */
  bytes: Uint8Array;
  frameBytes: number;
  controls: Control[];
  config: ReturnType<typeof sessionConfig>;
  deps: Partial<PipelineDeps>;
  audioMs: number;
}

/** Runs `script` in frames whose sizes (in samples) `frameSamples()` draws; controls go in at their positions. After
 * each frame `pause()` may wait (so the encoder's results reach the decoder between inputs). */
async function run(deps: PipelineDeps, script: Script, frameSamples: () => number,
  pause: () => Promise<void> = async () => undefined): Promise<PipelineEvent[]> {
  const p = new SessionPipeline(script.config, { ...deps, ...script.deps });
  const events: PipelineEvent[] = [];
  const done = new Promise<void>((resolve, reject) => p.events$.subscribe({
    next: (e) => events.push(e), error: reject, complete: resolve }));
  const { bytes, frameBytes: b } = script;
  const total = bytes.length / b;
  const apply = (c: Control): void => {
    if (c.kind === 'finalize') p.finalize();
    else if (c.kind === 'endpointing') p.updateEndpointing(c);
    else if (c.kind === 'hotwords') p.updateHotwords(c.phrases.map((phrase) => ({ phrase, boost: 4 })));
    else p.updateDecoding(c);
  };
  let at = 0, arrival = 0;
  for (const c of [...script.controls, null]) {
    const until = c?.atSample ?? total;
    while (at < until) {
      const n = Math.min(until - at, frameSamples());
      p.pushAudio(bytes.subarray(b * at, b * (at + n)), arrival++);
      at += n;
      await pause();
    }
    if (c !== null) apply(c);
  }
  await p.end();
  await done;
  return events;
}

/** The protocol's invariants that checkOrder does not cover: times, words, pairing, partial dedup. */
function checkInvariants(events: PipelineEvent[], audioMs: number, label: string): void {
  checkOrder(events);
  let started = 0, finals = 0, speechSinceFinal = false, prevPartial: string | null = null;
  let lastEndMs = 0, lastStartedMs = 0, utteranceStartMs: number | null = null, partialEndMs = 0;
  for (const e of events) {
    if (e.kind === 'speech.started' || e.kind === 'speech.stopped') {
      expect(e.audioMs, label).toBeGreaterThanOrEqual(0);
      expect(e.audioMs, label).toBeLessThanOrEqual(audioMs);
      expect(e.audioMs, `${label}: ${e.kind} before the previous one`).toBeGreaterThanOrEqual(lastStartedMs);
      lastStartedMs = e.audioMs;
      if (e.kind === 'speech.started') {
        started++;
        speechSinceFinal = true;
      }
      continue;
    }
    expect(e.startMs, label).toBeGreaterThanOrEqual(0);
    expect(e.endMs, label).toBeLessThanOrEqual(audioMs);
    expect(e.startMs, label).toBeLessThanOrEqual(e.endMs);
    expect(e.startMs, `${label}: utterances overlap`).toBeGreaterThanOrEqual(lastEndMs);
    expect(e.startMs, `${label}: start_ms changed within an utterance`).toBe(utteranceStartMs ?? e.startMs);
    expect(e.endMs, `${label}: end_ms went back`).toBeGreaterThanOrEqual(partialEndMs);
    utteranceStartMs = e.startMs;
    partialEndMs = e.endMs;
    if (e.kind === 'partial') {
      expect(e.text, `${label}: a partial repeats the previous one`).not.toBe(prevPartial);
      if (prevPartial === null) expect(e.text, `${label}: empty first partial`).not.toBe('');
      prevPartial = e.text;
      continue;
    }
    expect(speechSinceFinal, `${label}: final ${e.utteranceId} without speech.started`).toBe(true);
    speechSinceFinal = false;
    prevPartial = null;
    utteranceStartMs = null;
    lastEndMs = e.endMs;
    partialEndMs = 0;
    finals++;
    expect(e.words.map((w) => w.word).join(' '), label).toBe(e.text);
    if (e.text === '') expect(e.confidence, `${label}: confidence of an empty final`).toBe(0);
    if (e.rejected) expect(e.words, label).toEqual([]);
    if (e.alternatives) expect(e.alternatives[0]!.text, label).toBe(e.text);
    let prevEnd = e.startMs;
    for (const w of e.words) {
      expect(w.startMs, `${label}: word ${w.word} out of order`).toBeGreaterThanOrEqual(prevEnd);
      expect(w.endMs, label).toBeGreaterThanOrEqual(w.startMs);
      expect(w.endMs, label).toBeLessThanOrEqual(e.endMs);
      prevEnd = w.endMs;
    }
  }
  expect(finals, `${label}: every speech.started is answered by one final`).toBe(started);
}

/** `samples` (16 kHz) at `rateHz` by linear interpolation: a deterministic wire signal, not a band-limited one. */
function resampleWhole(samples: Float32Array, rateHz: number): Float32Array {
  if (rateHz === 16000) return samples;
  const out = new Float32Array(Math.floor((samples.length * rateHz) / 16000));
  for (let i = 0; i < out.length; i++) {
    const t = (i * 16000) / rateHz, k = Math.floor(t), f = t - k;
    out[i] = samples[k]! * (1 - f) + (samples[Math.min(k + 1, samples.length - 1)]! * f);
  }
  return out;
}

/** Wires a session may use: 16 kHz PCM, 8 kHz mu-law, 44.1 kHz stereo (downmixed; right at half the level). */
const WIRES = [
  { sampleRateHz: 16000, config: {}, encode: (x: Float32Array) => ({ bytes: toS16(x), frameBytes: 2 }) },
  { sampleRateHz: 8000, config: { encoding: 'mulaw', sampleRateHz: 8000 } as const,
    encode: (x: Float32Array) => ({ bytes: encodeMulawSamples(x), frameBytes: 1 }) },
  { sampleRateHz: 44100, config: { sampleRateHz: 44100, channels: 2 } as const,
    encode: (x: Float32Array) => ({ bytes: interleaveS16(toS16(x), toS16(x.map((v) => v / 2))), frameBytes: 4 }) },
];

const noArrival = (events: PipelineEvent[]) => events.map((e) => ('newestArrivalMs' in e
  ? { ...e, newestArrivalMs: 0 } : e));

describe.skipIf(!HAVE_MODEL)('SessionPipeline properties on the real model', () => {
  let deps: PipelineDeps;
  onRealModel((d) => (deps = d));
  const clips = HAVE_MODEL ? speechClips() : [];


  /** A seeded session: 1-4 clips at random levels with random gaps on a random wire, random settings, controls at
   * random positions; `timed`: also hotword and decoding updates (they act when they reach the decoder). */
  function script(seed: number, timed: boolean): Script {
    const r = random(seed);
    const parts: Float32Array[] = [seconds(r() * 0.8)];
    for (let n = 1 + Math.floor(r() * 4); n > 0; n--) {
      const gain = 0.1 + r() * 1.7;
      parts.push(clips[Math.floor(r() * clips.length)]!.samples.map((x) => x * gain), seconds(0.1 + r() * 1.2));
    }
    const samples = concat(parts, seed);
    const wire = WIRES[Math.floor(r() * WIRES.length)]!;
    const { bytes, frameBytes } = wire.encode(resampleWhole(samples, wire.sampleRateHz));
    const total = bytes.length / frameBytes;
    const controls: Control[] = [];
    for (let n = Math.floor(r() * 6); n > 0; n--) {
      const atSample = Math.floor(r() * total);
      const pick = r();
      if (pick < 0.5) controls.push({ atSample, kind: 'finalize' });
      else if (pick < 0.7 || !timed) {
        controls.push({ atSample, kind: 'endpointing', silenceMs: 100 + 10 * Math.floor(r() * 60),
          maxUtteranceMs: 1000 + 10 * Math.floor(r() * 300) });
      } else if (pick < 0.85) {
        const phrases = ['password', 'bear', 'down', 'six'].filter(() => r() < 0.5);
        controls.push({ atSample, kind: 'hotwords', phrases });
      } else {
        controls.push({ atSample, kind: 'decoding', minConfidence: r() < 0.5 ? 0 : 0.3 * r(),
          alternatives: 1 + Math.floor(r() * 4), backgroundRejectionDb: r() < 0.5 ? 0 : 5 + 15 * r() });
      }
      if (r() < 0.3) controls.push({ atSample, kind: 'finalize' }); // twice in a row, or right after an update
    }
    if (r() < 0.2) controls.push({ atSample: 0, kind: 'finalize' }); // before any audio
    controls.sort((a, b) => a.atSample - b.atSample);
    const silenceMs = 100 + 10 * Math.floor(r() * 80);
    const greedy = !timed && r() < 0.2;
    const config = sessionConfig({ ...wire.config, chunkMs: 80 * (1 + Math.floor(r() * 8)), silenceMs,
      maxUtteranceMs: Math.max(silenceMs + 10, 1000 + 10 * Math.floor(r() * 300)),
      minConfidence: r() < 0.5 ? 0 : 0.15, interimResults: r() < 0.8, denoise: r() < 0.2 ? 'spectral' : 'off',
      alternatives: r() < 0.3 ? 3 : 1, backgroundRejectionDb: r() < 0.3 ? 12 : 0 });
    const deps: Partial<PipelineDeps> = { vad: r() < 0.15 ? 'off' : 'energy',
      ...(greedy ? { decoder: 'greedy' } : {}) };
    return { bytes, frameBytes, controls, config, deps, audioMs: (total * 1000) / wire.sampleRateHz };
  }

  it('random sessions keep every invariant, and other frame sizes give the same events (30 seeds)', async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const s = script(seed, false);
      const r = random(1000 + seed);
      const a = await run(deps, s, () => 1 + Math.floor(r() * 4000));
      checkInvariants(a, s.audioMs, `seed ${seed}`);
      const b = await run(deps, s, () => (r() < 0.5 ? 320 : 1 + Math.floor(r() * 30000)));
      expect(noArrival(b), `seed ${seed}`).toEqual(noArrival(a));
    }
  }, 300_000);

  it('... and with hotword and decoding updates mid-stream, every invariant (30 seeds)', async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const s = script(5000 + seed, true);
      const r = random(9000 + seed);
      const pause = () => (r() < 0.3
        ? new Promise<void>((resolve) => setTimeout(resolve, r() * 10)) : Promise.resolve());
      checkInvariants(await run(deps, s, () => 1 + Math.floor(r() * 8000), pause), s.audioMs, `seed ${5000 + seed}`);
    }
  }, 300_000);
});
