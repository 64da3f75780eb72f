/**
 * SessionPipeline end to end with real speech clips and the deterministic test-double encoder (FakeEncoder): event
 * order, endpointing, finalize, max_utterance, interim_results, errors, latency fields, backlog, teardown. The same
 * properties on the real model are in session-pipeline-model.test.ts.
 */
import { lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { encodeMulawSamples } from '../../src/dsp/g711.js';
import { Resampler } from '../../src/dsp/resampler.js';
import { GatewayError } from '../../src/protocol/errors.js';
import type { PipelineEvent } from '../../src/stream/pipeline-event.js';
import { DSP_SLICE_MS, SessionPipeline } from '../../src/stream/session-pipeline.js';
import { shippedTokenLm } from '../native/ctc-fixtures.js';
import {
  FAKE_MODEL, FakeEncoder, checkOrder, concat, runPipeline, seconds, sessionConfig, speechClips, toS16,
} from './helpers.js';

const clips = speechClips();
const asterisk = clips.find((c) => c.set === 'asterisk')!.samples; // "your passwords have been changed"
const down = clips.find((c) => c.set === 'sc_testset_v002')!.samples; // "down"
/** 0.5 s silence, utterance, 1 s silence, utterance, 0.8 s silence (silence = a -70 dBFS noise bed). */
const TWO = concat([seconds(0.5), asterisk, seconds(1), down, seconds(0.8)]);
const TWO_BYTES = toS16(TWO);

function pipeline(o: Parameters<typeof sessionConfig>[0] = {}, encoder = new FakeEncoder()): SessionPipeline {
  return new SessionPipeline(sessionConfig(o), { encoder, model: FAKE_MODEL });
}

const without = (events: PipelineEvent[]) => events.map((e) => ('newestArrivalMs' in e
  ? { ...e, newestArrivalMs: 0 } : e));

describe('SessionPipeline (test-double encoder, real speech)', () => {
  it('two utterances separated by 1 s of silence: two finals, speech.started/stopped around each', async () => {
    const events = await runPipeline(pipeline(), TWO_BYTES, 1600);
    expect(checkOrder(events)).toEqual([
      'speech.started', 'partial', 'speech.stopped', 'final', 'speech.started', 'partial', 'speech.stopped', 'final',
    ]);
    const finals = events.filter((e) => e.kind === 'final');
    expect(finals.map((f) => [f.utteranceId, f.reason])).toEqual([[0, 'silence'], [1, 'silence']]);
    const starts = events.filter((e) => e.kind === 'speech.started').map((e) => e.audioMs);
    const stops = events.filter((e) => e.kind === 'speech.stopped').map((e) => e.audioMs);
    // The onsets lie in the clips: the first after the 0.5 s lead-in, the second after clip + 1 s.
    const clip1EndMs = 500 + (asterisk.length / 16);
    expect(starts[0]).toBeGreaterThanOrEqual(500);
    expect(stops[0]).toBeLessThanOrEqual(clip1EndMs + 100);
    expect(starts[1]).toBeGreaterThanOrEqual(clip1EndMs + 900);
    for (const [k, f] of finals.entries()) {
      expect(f.text.length).toBeGreaterThan(0);
      // The utterance's audio starts with the pre-roll (300 ms before the onset) and ends silenceMs after speech.
      expect(f.startMs).toBeLessThanOrEqual(starts[k]! - 300 + 10);
      expect(f.endMs).toBe(stops[k]! + 500);
      for (const w of f.words) {
        expect(w.startMs).toBeGreaterThanOrEqual(f.startMs);
        expect(w.endMs).toBeLessThanOrEqual(f.endMs);
      }
    }
  });

  it('input chunking never changes the output (20 x 50 ms == 1 s == odd frame sizes == one frame)', async () => {
    const ref = without(await runPipeline(pipeline(), TWO_BYTES, 1600 * 2));
    for (const frameBytes of [50 * 32, 1000 * 32, 2 * 331, TWO_BYTES.length]) {
      expect(without(await runPipeline(pipeline(), TWO_BYTES, frameBytes))).toEqual(ref);
    }
  });

  it('finalize() mid-utterance: final with reason finalize at that position, then the speech goes on', async () => {
    const p = pipeline();
    const cut = 16000 * 1.5; // samples: inside the first clip's speech
    const events = await runPipeline(p, TWO_BYTES, 3200, (k) => {
      if ((k + 1) * 1600 === cut) p.finalize();
    });
    const finals = events.filter((e) => e.kind === 'final');
    expect(finals.map((f) => f.reason)).toEqual(['finalize', 'silence', 'silence']);
    // at the cut: the frames the stages still held (fbank lookahead 17.5 ms) are flushed into this utterance
    expect(finals[0]!.endMs).toBe(1500);
    expect(finals[1]!.startMs).toBe(1500); // contiguous, nothing lost or repeated
    expect(checkOrder(events).filter((k) => k !== 'partial')).toEqual([
      'speech.started', 'speech.stopped', 'final', 'speech.started', 'speech.stopped', 'final',
      'speech.started', 'speech.stopped', 'final',
    ]);
  });

  it('updateEndpointing() lowering maxUtteranceMs below the open utterance cuts it at once, at the last complete frame',
    async () => {
      const p = pipeline();
      const events = await runPipeline(p, TWO_BYTES, 3200, (k) => {
        if ((k + 1) * 1600 === 16000 * 1.5) p.updateEndpointing({ silenceMs: 500, maxUtteranceMs: 1000 });
      });
      const finals = events.filter((e) => e.kind === 'final');
      // the previous test's position, at the last complete fbank frame before it (lookahead 17.5 ms): unlike a
      // finalize, an update is no segment boundary, so the stages keep what they hold (the utterance opened before
      // 0.49 s, so it already holds more than 1000 ms)
      expect(finals[0]).toMatchObject({ reason: 'max_utterance', endMs: 1490 });
      expect(finals[0]!.startMs).toBeLessThan(490);
      expect(finals[1]!.startMs).toBe(1490);
    });

  it('updateEndpointing() lowering silenceMs below the trailing silence ends the utterance at once, at the audio '
    + 'received so far', async () => {
    const ref = await runPipeline(pipeline(), TWO_BYTES, 1600);
    const stoppedMs = ref.find((e) => e.kind === 'speech.stopped')!.audioMs;
    // the first 50 ms frame boundary at least 200 ms into the silence after the first clip (silenceMs 500 not reached)
    const cutMs = Math.ceil((stoppedMs + 200) / 50) * 50;
    const p = pipeline();
    const events = await runPipeline(p, TWO_BYTES, 1600, (k) => {
      if ((k + 1) * 50 === cutMs) p.updateEndpointing({ silenceMs: 100, maxUtteranceMs: 15000 });
    });
    const finals = events.filter((e) => e.kind === 'final');
    expect(events.find((e) => e.kind === 'speech.stopped')).toMatchObject({ audioMs: stoppedMs });
    // the last complete fbank frame before the update (not one 10 ms frame later)
    expect(finals[0]).toMatchObject({ reason: 'silence', endMs: cutMs - 10 });
    expect(finals.map((f) => f.reason)).toEqual(['silence', 'silence']);
  });

  it('a frame over DSP_SLICE_MS: first slice at once, the rest in later turns, with later inputs queued in order', async () => {
    const enc = new FakeEncoder();
    const p = pipeline({}, enc);
    const events = lastValueFrom(p.events$.pipe(toArray()));
    const cut = 16000 * 1.5 * 2; // bytes: 1.5 s, inside the first clip's speech
    p.pushAudio(TWO_BYTES.subarray(0, cut), 0);
    // only the first slice (the 0.5 s of silence before the clip) went through the DSP stages: nothing reached the
    // encoder yet, and the rest waits, counted as unprocessed audio
    expect(enc.runs).toHaveLength(0);
    expect(p.backlogMs()).toBe(1500 - DSP_SLICE_MS);
    await new Promise((r) => setImmediate(r));
    expect(enc.runs.length).toBeGreaterThan(0); // the next slice ran in a later turn
    p.finalize(); // must cut at 1.5 s, after the waiting slice, not where the DSP stages are now
    p.pushAudio(TWO_BYTES.subarray(cut), 1);
    await p.end();
    const finals = (await events).filter((e) => e.kind === 'final');
    // the same cut as finalize() after 50 ms frames (previous test)
    expect(finals.map((f) => [f.reason, f.endMs])).toEqual([['finalize', 1500], ['silence', expect.any(Number)],
      ['silence', expect.any(Number)]]);
    expect(finals[1]!.startMs).toBe(1500);
  });

  it('max_utterance cuts long speech into utterances of at most maxUtteranceMs', async () => {
    const events = await runPipeline(pipeline({ maxUtteranceMs: 1000 }), toS16(concat([seconds(0.3), asterisk,
      seconds(0.7)])), 1600);
    const finals = events.filter((e) => e.kind === 'final');
    expect(finals.some((f) => f.reason === 'max_utterance')).toBe(true);
    for (const f of finals) expect(f.endMs - f.startMs).toBeLessThanOrEqual(1000);
    checkOrder(events);
  });

  it('interim_results false: finals only', async () => {
    const events = await runPipeline(pipeline({ interimResults: false }), TWO_BYTES, 1600);
    expect(checkOrder(events)).toEqual([
      'speech.started', 'speech.stopped', 'final', 'speech.started', 'speech.stopped', 'final',
    ]);
  });

  it('latency fields: newestArrivalMs is the arrival of the newest audio the message covers', async () => {
    const frameSamples = 800; // 50 ms frames, arrival = frame index
    const events = await runPipeline(pipeline({ chunkMs: 160 }), TWO_BYTES, 2 * frameSamples);
    const partials = events.filter((e) => e.kind === 'partial');
    expect(partials.length).toBeGreaterThan(3);
    for (const p of partials) {
      // A partial ends after encoder window whose new frames end at endMs; its last frame (right context) is
      // endMs / 10 + 2, which needs samples up to 160 f + 279 (fbank lookahead).
      const lastFrame = p.endMs / 10 + 2;
      expect(p.newestArrivalMs).toBe(Math.floor((160 * lastFrame + 279) / frameSamples));
    }
    for (const f of events.filter((e) => e.kind === 'final')) {
      // A silence endpoint is decided by the frame endMs / 10 - 1.
      expect(f.newestArrivalMs).toBe(Math.floor((160 * (f.endMs / 10 - 1) + 279) / frameSamples));
    }
  });

  it('no speech is lost at onset: the model is fed from 300 ms before the onset', async () => {
    const enc = new FakeEncoder();
    const events = await runPipeline(pipeline({}, enc), TWO_BYTES, 1600);
    const onset = events.find((e) => e.kind === 'speech.started')!.audioMs;
    const final = events.find((e) => e.kind === 'final')!;
    expect(final.startMs).toBe(onset - 300);
    // The first window's first row is silence (pre-roll), not speech.
    expect(enc.runs[0]!.firstRowMean).toBeLessThan(-10);
  });

  it('silence never reaches the encoder', async () => {
    const enc = new FakeEncoder();
    const p = pipeline({}, enc);
    const events = await runPipeline(p, toS16(concat([seconds(3)])), 1600);
    expect(events).toEqual([]);
    expect(enc.runs).toHaveLength(0);
    expect(p.stats()).toMatchObject({ audioMs: 3000, processedAudioMs: 3000, encoderChunks: 0 });
  });

  it('vad off: every frame is speech, so the whole stream is one utterance from 0 ms, silence included', async () => {
    const enc = new FakeEncoder();
    const p = new SessionPipeline(sessionConfig(), { encoder: enc, model: FAKE_MODEL, vad: 'off' });
    const events = await runPipeline(p, TWO_BYTES, 1600);
    const finals = events.filter((e) => e.kind === 'final');
    expect(finals.map((f) => [f.utteranceId, f.reason, f.startMs])).toEqual([[0, 'session_end', 0]]);
    expect(events.filter((e) => e.kind === 'speech.started').map((e) => e.audioMs)).toEqual([0]);
    // The 0.5 s lead-in silence reached the encoder: its first window's first row is the noise bed.
    expect(enc.runs[0]!.firstRowMean).toBeLessThan(-10);
    expect(p.stats().encoderChunks).toBeGreaterThan(0);
    expect(() => new SessionPipeline(sessionConfig(), { encoder: enc, model: FAKE_MODEL, vad: 'webrtc' as 'off' }))
      .toThrow(/vad must be one of energy\|off, got "webrtc"/);
  });

  it('backlogMs() counts audio waiting for the encoder; 0 and processed == received after end()', async () => {
    const p = pipeline({}, new FakeEncoder({ delayMs: 5 }));
    const done = lastValueFrom(p.events$.pipe(toArray()));
    p.pushAudio(TWO_BYTES, 0); // 5 s at once, far faster than real time
    const backlog = p.backlogMs();
    expect(backlog).toBeGreaterThan(1000);
    expect(backlog).toBeLessThanOrEqual(p.audioMs());
    await p.end();
    await done;
    expect(p.backlogMs()).toBe(0);
    const s = p.stats();
    expect(s.processedAudioMs).toBe(s.audioMs);
    expect(s.peakBacklogMs).toBe(backlog);
    expect(s).toMatchObject({ finals: 2, utterances: 2 });
  });

  it('an encoder failure errors events$ with GW_ERR_INFERENCE; end() rejects; later pushes are ignored', async () => {
    const enc = new FakeEncoder({ failAt: 1 });
    const p = pipeline({}, enc);
    const err = lastValueFrom(p.events$).catch((e: unknown) => e);
    p.pushAudio(TWO_BYTES, 0);
    expect(((await err) as GatewayError).code).toBe('GW_ERR_INFERENCE');
    expect(enc.closed).toEqual([1]);
    expect(() => p.pushAudio(TWO_BYTES.subarray(0, 320), 1)).not.toThrow();
    await expect(p.end()).rejects.toMatchObject({ code: 'GW_ERR_INFERENCE' });
  });

  it('throws GW_ERR_PARTIAL_SAMPLE synchronously (state untouched) and GW_ERR_SESSION_ENDED after end()', async () => {
    const p = pipeline({ encoding: 'pcm_s16le', channels: 2 });
    const events = lastValueFrom(p.events$.pipe(toArray()));
    expect(() => p.pushAudio(new Uint8Array(6), 0)).toThrow(expect.objectContaining({ code: 'GW_ERR_PARTIAL_SAMPLE' }));
    expect(p.audioMs()).toBe(0);
    p.pushAudio(new Uint8Array(8), 1);
    expect(p.audioMs()).toBe(2 / 16);
    await p.end();
    expect(() => p.pushAudio(new Uint8Array(4), 2)).toThrow(expect.objectContaining({ code: 'GW_ERR_SESSION_ENDED' }));
    expect(await events).toEqual([]);
  });

  it('end(reason) finalises an open utterance with that reason; dispose() frees the encoder stream', async () => {
    const enc = new FakeEncoder();
    const p = pipeline({}, enc);
    const events = lastValueFrom(p.events$.pipe(toArray()));
    p.pushAudio(toS16(concat([seconds(0.5), asterisk])), 0); // ends inside speech
    await p.end('shutdown');
    const kinds = (await events).map((e) => (e.kind === 'final' ? `final:${e.reason}` : e.kind));
    expect(kinds.slice(-2)).toEqual(['speech.stopped', 'final:shutdown']);
    expect(enc.closed).toEqual([1]);
    const q = pipeline({}, enc);
    q.pushAudio(TWO_BYTES.subarray(0, 32000), 0);
    q.dispose();
    expect(enc.closed).toEqual([1, 2]);
  });

  it('end() after dispose() (and an end() still draining when dispose() comes) rejects at once with '
    + 'GW_ERR_SESSION_ENDED; after a clean end it still resolves', async () => {
    const settled = (q: Promise<void>): Promise<unknown> => Promise.race([q.then(() => 'resolved', (e: unknown) => e),
      new Promise((r) => setImmediate(() => r('pending')))]);
    const abandoned = pipeline();
    abandoned.pushAudio(TWO_BYTES.subarray(0, 32000), 0);
    abandoned.dispose();
    expect(await settled(abandoned.end())).toMatchObject({ code: 'GW_ERR_SESSION_ENDED' });
    const draining = pipeline();
    draining.pushAudio(TWO_BYTES, 0); // slices wait: the end item queues behind them
    const ending = draining.end();
    draining.dispose();
    expect(await settled(ending)).toMatchObject({ code: 'GW_ERR_SESSION_ENDED' });
    const clean = pipeline();
    await clean.end();
    clean.dispose();
    expect(await settled(clean.end())).toBe('resolved');
  });

  it('8 kHz mu-law stereo input gives the same utterance structure', async () => {
    const r = new Resampler({ inputRateHz: 16000, outputRateHz: 8000 });
    const x8 = Float32Array.from([...r.push(TWO), ...r.flush()]);
    const mono = encodeMulawSamples(x8);
    const stereo = new Uint8Array(mono.length * 2);
    for (let i = 0; i < mono.length; i++) stereo[2 * i] = stereo[2 * i + 1] = mono[i]!;
    const events = await runPipeline(pipeline({ encoding: 'mulaw', sampleRateHz: 8000, channels: 2 }), stereo, 800);
    expect(checkOrder(events).filter((k) => k !== 'partial')).toEqual([
      'speech.started', 'speech.stopped', 'final', 'speech.started', 'speech.stopped', 'final',
    ]);
  });

  it("denoise 'spectral' keeps the structure; hotword updates are validated against the vocabulary", async () => {
    const p = pipeline({ denoise: 'spectral', hotwords: [{ phrase: 'passwords', boost: 2 }] });
    expect(() => p.updateHotwords([{ phrase: 'naïve', boost: 2 }])).toThrow(
      expect.objectContaining({ code: 'GW_ERR_BAD_HOTWORD' }));
    p.updateHotwords([{ phrase: 'changed', boost: 3 }]);
    p.updateEndpointing({ silenceMs: 300, maxUtteranceMs: 15000 });
    const events = await runPipeline(p, TWO_BYTES, 1600);
    expect(events.filter((e) => e.kind === 'final')).toHaveLength(2);
  });

  it('the greedy decoder: same utterance structure; hotwords refused with GW_ERR_BAD_HOTWORD; no LM, no unknown kind',
    async () => {
      const deps = { encoder: new FakeEncoder(), model: FAKE_MODEL, decoder: 'greedy' } as const;
      expect(() => new SessionPipeline(sessionConfig({ hotwords: [{ phrase: 'down', boost: 2 }] }), deps)).toThrow(
        expect.objectContaining({ code: 'GW_ERR_BAD_HOTWORD' }));
      expect(() => new SessionPipeline(sessionConfig(), { ...deps, decoder: 'viterbi' as 'greedy' })).toThrow(
        expect.objectContaining({ code: 'GW_ERR_BAD_CONFIG', message: expect.stringContaining('"viterbi"') }));
      expect(() => new SessionPipeline(sessionConfig(), { ...deps, lm: { lm: shippedTokenLm() } })).toThrow(
        expect.objectContaining({ code: 'GW_ERR_BAD_CONFIG', message: expect.stringContaining('no token LM') }));
      const p = new SessionPipeline(sessionConfig(), deps);
      expect(() => p.updateHotwords([{ phrase: 'changed', boost: 3 }])).toThrow(
        expect.objectContaining({ code: 'GW_ERR_BAD_HOTWORD' }));
      p.updateHotwords([]);
      const events = await runPipeline(p, TWO_BYTES, 1600);
      expect(checkOrder(events)).toEqual([
        'speech.started', 'partial', 'speech.stopped', 'final', 'speech.started', 'partial', 'speech.stopped', 'final',
      ]);
    });
});
