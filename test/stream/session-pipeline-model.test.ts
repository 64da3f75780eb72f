/**
 * SessionPipeline on the real model (models/voxgate-conformer-ctc-en, or VOXGATE_TEST_MODEL_DIR) through the real
 * EncoderPool and native decoder. Transcripts of today's checkpoint are poor and will change, so nothing here
 * asserts exact text: chunking invariance compares the pipeline with itself, endpointing asserts structure, and the
 * onset check compares the pipeline's WER with a direct whole-clip decode of the same model. Skipped without a model.
 */
import { describe, expect, it } from 'vitest';
import { FbankExtractor } from '../../src/dsp/fbank.js';
import { encodeMulawSamples } from '../../src/dsp/g711.js';
import { CtcDecoder, ctcText } from '../../src/inference/ctc-decoder.js';
import type { PipelineEvent } from '../../src/stream/pipeline-event.js';
import { SessionPipeline, type PipelineDeps } from '../../src/stream/session-pipeline.js';
import {
  HAVE_MODEL, checkOrder, concat, noise, runPipeline, seconds, sessionConfig, speechClips, onRealModel, toS16,
} from './helpers.js';

/** Word error rate of `hyp` against `ref` (Levenshtein over words / reference words). */
function wer(ref: string, hyp: string): number {
  const r = ref.split(' ').filter(Boolean), h = hyp.split(' ').filter(Boolean);
  let prev = Array.from({ length: h.length + 1 }, (_, j) => j);
  for (let i = 1; i <= r.length; i++) {
    const cur = [i];
    for (let j = 1; j <= h.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (r[i - 1] === h[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return r.length === 0 ? (h.length > 0 ? 1 : 0) : prev[h.length]! / r.length;
}

/** `samples` (16 kHz) at `rateHz` by linear interpolation: the test needs a deterministic wire signal at that rate,
 * not a band-limited one. */
function resampleWhole(samples: Float32Array, rateHz: number): Float32Array {
  const out = new Float32Array(Math.floor((samples.length * rateHz) / 16000));
  for (let i = 0; i < out.length; i++) {
    const t = (i * 16000) / rateHz, k = Math.floor(t), f = t - k;
    out[i] = samples[k]! * (1 - f) + (samples[Math.min(k + 1, samples.length - 1)]! * f);
  }
  return out;
}

/** Interleaved little-endian float32 stereo, the right channel at half the left's level. */
function toF32Stereo(samples: Float32Array): Uint8Array {
  const out = new Uint8Array(samples.length * 8);
  const dv = new DataView(out.buffer);
  samples.forEach((x, i) => {
    dv.setFloat32(8 * i, x, true);
    dv.setFloat32(8 * i + 4, x / 2, true);
  });
  return out;
}

const finalsOf = (events: PipelineEvent[]) => events.filter((e) => e.kind === 'final');
const noArrival = (events: PipelineEvent[]) => events.map((e) => ('newestArrivalMs' in e
  ? { ...e, newestArrivalMs: 0 } : e));

describe.skipIf(!HAVE_MODEL)('SessionPipeline on the real model', () => {
  let deps: PipelineDeps;
  onRealModel((d) => (deps = d));
  const clips = HAVE_MODEL ? speechClips() : [];
  const clip = (set: string) => clips.find((c) => c.set === set)!;
  const two = () => toS16(concat([seconds(0.5), clip('asterisk').samples, seconds(1), clip('an4').samples,
    seconds(0.8)]));


  it('input chunking never changes the output: 20 x 50 ms == 1 s == one frame (partials and finals)', async () => {
    const bytes = two();
    const second = 16000 * 2;
    const results = [];
    for (const frameBytes of [second / 20, second, bytes.length]) {
      results.push(noArrival(await runPipeline(new SessionPipeline(sessionConfig(), deps), bytes, frameBytes)));
    }
    expect(finalsOf(results[0]!)).toHaveLength(2);
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
  }, 30_000);

  it('... and on resampled wires with denoise: 8 kHz mu-law (20 ms, 1 s, odd, one frame), 44.1 kHz stereo float', async () => {
    const samples = concat([seconds(0.5), clip('asterisk').samples, seconds(1), clip('an4').samples, seconds(0.8)]);
    const wires = [
      { config: { encoding: 'mulaw', sampleRateHz: 8000 }, bytes: encodeMulawSamples(resampleWhole(samples, 8000)),
        frames: [160, 8000, 1234] },
      { config: { encoding: 'pcm_f32le', sampleRateHz: 44100, channels: 2 }, bytes: toF32Stereo(resampleWhole(samples, 44100)),
        frames: [8 * 2205, 8 * 4410 * 10, 8 * 997] },
    ] as const;
    for (const w of wires) {
      const config = () => sessionConfig({ ...w.config, denoise: 'spectral' });
      const runs = [];
      for (const frameBytes of [...w.frames, w.bytes.length]) {
        runs.push(noArrival(await runPipeline(new SessionPipeline(config(), deps), w.bytes, frameBytes)));
      }
      expect(finalsOf(runs[0]!).length, w.config.encoding).toBeGreaterThanOrEqual(2);
      for (const r of runs.slice(1)) expect(r, w.config.encoding).toEqual(runs[0]);
    }
  }, 60_000);

  it('two utterances separated by 1 s of silence: two finals, speech.started/stopped around each', async () => {
    const events = await runPipeline(new SessionPipeline(sessionConfig({ chunkMs: 160 }), deps), two(), 1600);
    expect(checkOrder(events).filter((k) => k !== 'partial')).toEqual([
      'speech.started', 'speech.stopped', 'final', 'speech.started', 'speech.stopped', 'final',
    ]);
    const finals = finalsOf(events);
    expect(finals.map((f) => f.reason)).toEqual(['silence', 'silence']);
    expect(finals[0]!.endMs).toBeLessThan(finals[1]!.startMs);
    for (const f of finals) {
      expect(f.words.map((w) => w.word).join(' ')).toBe(f.text);
      for (const w of f.words) {
        expect(w.startMs).toBeGreaterThanOrEqual(f.startMs);
        expect(w.endMs).toBeLessThanOrEqual(f.endMs);
        expect(w.confidence).toBeGreaterThanOrEqual(0);
        expect(w.confidence).toBeLessThanOrEqual(1);
      }
    }
  }, 30_000);

  it('alternatives: each final carries distinct texts, its own first, beam shares summing to <= 1; nothing else changes',
    async () => {
      const plain = noArrival(await runPipeline(new SessionPipeline(sessionConfig(), deps), two(), 1600));
      const nBest = noArrival(await runPipeline(new SessionPipeline(sessionConfig({ alternatives: 4 }), deps), two(), 1600));
      const finals = finalsOf(nBest);
      expect(finals).toHaveLength(2);
      for (const f of finals) {
        const alts = f.alternatives!;
        expect(alts.length).toBeGreaterThan(1); // a real utterance leaves several readings in a beam of 16
        expect(alts.length).toBeLessThanOrEqual(4);
        expect(alts[0]!.text).toBe(f.text);
        expect(new Set(alts.map((a) => a.text)).size).toBe(alts.length);
        for (const a of alts) expect(a.confidence).toBeGreaterThan(0);
        expect(alts.reduce((sum, a) => sum + a.confidence, 0)).toBeLessThanOrEqual(1 + 1e-9);
      }
      expect(nBest.map((e) => (e.kind === 'final' ? { ...e, alternatives: undefined } : e)))
        .toEqual(plain.map((e) => (e.kind === 'final' ? { ...e, alternatives: undefined } : e)));
      // asked for mid-stream (session.update) once the first final is out: only the second final has a list
      const p = new SessionPipeline(sessionConfig(), deps);
      const late: PipelineEvent[] = [];
      const firstFinal = new Promise<void>((resolve) => p.events$.subscribe((e) => {
        late.push(e);
        if (e.kind === 'final') resolve();
      }));
      const bytes = two();
      const gapEnd = 2 * Math.round((500 + clip('asterisk').samples.length / 16 + 900) * 16); // inside the 1 s gap
      for (let o = 0; o < gapEnd; o += 1600) p.pushAudio(bytes.subarray(o, Math.min(gapEnd, o + 1600)), 0);
      await firstFinal;
      p.updateDecoding({ minConfidence: 0.15, alternatives: 4, backgroundRejectionDb: 0 });
      for (let o = gapEnd; o < bytes.length; o += 1600) p.pushAudio(bytes.subarray(o, Math.min(bytes.length, o + 1600)), 0);
      await p.end();
      expect(finalsOf(late).map((f) => f.alternatives?.length ?? 0)).toEqual([0, finals[1]!.alternatives!.length]);
      expect(finalsOf(late)[1]!.alternatives).toEqual(finals[1]!.alternatives);
    }, 30_000);

  it.each([false, true])('background_rejection_db: a talker 20 dB below the first loses its unsure words; the first '
    + 'talker keeps all (interim_results %s)', async (interimResults) => {
    const quietAn4 = clip('an4').samples.map((x) => x * 0.1);
    const bytes = toS16(concat([seconds(0.5), clip('asterisk').samples, seconds(1), quietAn4, seconds(0.8)]));
    const run = async (db: number) => noArrival(await runPipeline(new SessionPipeline(
      sessionConfig({ backgroundRejectionDb: db, interimResults }), deps), bytes, 1600));
    const [plainEvents, gatedEvents] = [await run(0), await run(12)];
    const [plain, gated] = [finalsOf(plainEvents), finalsOf(gatedEvents)];
    expect(plain.map((f) => f.words.length).every((n) => n > 0)).toBe(true);
    expect(gated[0]).toEqual(plain[0]); // the loud talker: nothing dropped
    expect(gated[1]!.words.length).toBeLessThan(plain[1]!.words.length);
    // what is left is a subsequence of what was heard; with nothing left the utterance is rejected, as noise is
    const heard = plain[1]!.words.map((w) => w.word);
    const isSubsequence = (words: readonly string[]): boolean => {
      let at = 0;
      return words.every((w) => (at = heard.indexOf(w, at) + 1) > 0);
    };
    expect(isSubsequence(gated[1]!.words.map((w) => w.word))).toBe(true);
    if (gated[1]!.words.length === 0) expect(gated[1]!.rejected).toEqual({ text: plain[1]!.text, confidence: plain[1]!.confidence });
    if (!interimResults) return;
    // partials are gated too, and stable_text stays a prefix of every later text (checkOrder)
    checkOrder(gatedEvents);
    const partials = (events: PipelineEvent[]): string[] => events.flatMap((e) =>
      e.kind === 'partial' && e.utteranceId === 1 ? [e.text] : []);
    // (here the quiet talker's one word, "yu", never reaches a gated partial)
    const lastWords = (events: PipelineEvent[]): number => partials(events).at(-1)?.split(' ').length ?? 0;
    expect(lastWords(plainEvents)).toBeGreaterThan(0);
    expect(lastWords(gatedEvents)).toBeLessThan(lastWords(plainEvents));
    expect(partials(gatedEvents).every((t) => isSubsequence(t.split(' ').filter((w) => w !== '')))).toBe(true);
  }, 60_000);

  it('finalize() mid-utterance gives a final with reason finalize; interim_results false gives no partials',
    async () => {
      const p = new SessionPipeline(sessionConfig({ interimResults: false }), deps);
      const events = await runPipeline(p, two(), 3200, (k) => {
        if (k === 14) p.finalize(); // after 1.5 s: inside the first clip's speech
      });
      expect(events.some((e) => e.kind === 'partial')).toBe(false);
      const finals = finalsOf(events);
      expect(finals[0]!.reason).toBe('finalize');
      expect(finals[0]!.endMs).toBe(1500); // the cut: what the stages held is flushed into this utterance
      expect(finals.slice(1).map((f) => f.reason)).toEqual(['silence', 'silence']);
      checkOrder(events);
    }, 30_000);

  it('no speech is lost at onset: pipeline WER is no worse than decoding each whole clip directly', async () => {
    let pipelineErrors = 0, directErrors = 0;
    for (const c of clips) {
      const x = concat([seconds(0.6), c.samples, seconds(0.8)]);
      const events = await runPipeline(new SessionPipeline(sessionConfig({ chunkMs: 320, interimResults: false }),
        deps), toS16(x), 1600);
      const text = finalsOf(events).map((f) => f.text).filter(Boolean).join(' ');
      // Direct: every fbank frame of the padded clip through the encoder from frame 0, same chunking.
      const fb = new FbankExtractor();
      const a = fb.push(x), b = fb.flush();
      const feats = new Float32Array(a.length + b.length);
      feats.set(a);
      feats.set(b, a.length);
      const s = deps.encoder.openStream();
      const dec = new CtcDecoder({ vocabSize: deps.model.vocabSize, blankId: deps.model.blankId, separatorId: deps.model.separatorId });
      const T = feats.length / 80, C = 8;
      for (let f = 0; f + 4 * C + 3 <= T; f += 4 * C) {
        const r = await s.run(feats.slice(f * 80, (f + 4 * C + 3) * 80), 4 * C + 3);
        dec.decodeChunk(r.logProbs, r.frames, r.vocabSize);
      }
      s.close();
      const direct = ctcText(dec.finalize().tokens, deps.model.tokens, deps.model.separatorId);
      pipelineErrors += wer(c.reference, text);
      directErrors += wer(c.reference, direct);
    }
    expect(pipelineErrors / clips.length).toBeLessThanOrEqual(directErrors / clips.length + 0.15);
  }, 40_000);

  it('10 s of digital silence (a muted microphone) before speech in a -50 dBFS room: each utterance still ends on '
    + 'silence, as without the silence', async () => {
    const room = concat([seconds(0.5), clip('asterisk').samples, seconds(1.5), clip('an4').samples, seconds(0.8)]);
    const hum = noise(room.length, 5, Math.pow(10, -50 / 20));
    for (let i = 0; i < room.length; i++) room[i] = room[i]! + hum[i]!;
    const withLead = new Float32Array(10 * 16000 + room.length); // exact zeros first (no noise bed)
    withLead.set(room, 10 * 16000);
    const kinds = (events: PipelineEvent[]) => checkOrder(events).filter((k) => k !== 'partial');
    const plain = await runPipeline(new SessionPipeline(sessionConfig(), deps), toS16(room), 1600);
    const afterSilence = await runPipeline(new SessionPipeline(sessionConfig(), deps), toS16(withLead), 1600);
    expect(finalsOf(plain).map((f) => f.reason)).toEqual(['silence', 'silence']);
    expect(kinds(afterSilence)).toEqual(kinds(plain));
    expect(finalsOf(afterSilence).map((f) => f.reason)).toEqual(['silence', 'silence']);
  }, 30_000);

  it('speech open at the end of a stream that stops mid-frame: no time lies past the last sample', async () => {
    // 120 samples (7.5 ms) into the last 10 ms frame: the fbank's last frame reads the reflected end of signal, and
    // its nominal end (frame count x 10 ms) lies 2.5 ms past the audio; end_ms must still not pass audio_ms.
    for (const c of clips) {
      const padded = concat([seconds(0.5), c.samples]);
      const audio = padded.subarray(0, Math.floor(padded.length / 160) * 160 - 40);
      const audioMs = audio.length / 16;
      const events = await runPipeline(new SessionPipeline(sessionConfig(), deps), toS16(audio), 1600);
      const final = finalsOf(events).at(-1)!;
      expect(final.reason, c.set).toBe('session_end');
      for (const e of events) {
        if (e.kind === 'speech.started' || e.kind === 'speech.stopped') {
          expect(e.audioMs, c.set).toBeLessThanOrEqual(audioMs);
        } else {
          expect(e.endMs, `${c.set} ${e.kind}`).toBeLessThanOrEqual(audioMs);
          for (const w of e.kind === 'final' ? e.words : []) expect(w.endMs, c.set).toBeLessThanOrEqual(audioMs);
        }
      }
      expect(final.endMs, c.set).toBe(audioMs);
      checkOrder(events);
    }
  }, 30_000);

  it('latency fields: newestArrivalMs is the arrival of a frame that was pushed, never later than the message', async () => {
    const arrivals: number[] = [];
    const p = new SessionPipeline(sessionConfig({ chunkMs: 160 }), deps);
    const events = await runPipeline(p, two(), 1600, (k) => arrivals.push(k));
    for (const e of events) {
      if (e.kind !== 'partial' && e.kind !== 'final') continue;
      expect(arrivals).toContain(e.newestArrivalMs);
      // Covers its audio: the frame holding the last sample of endMs has arrived (fbank lookahead 17.5 ms).
      expect(e.newestArrivalMs).toBeGreaterThanOrEqual(Math.floor((e.endMs * 16 - 1) / 800));
    }
    const s = p.stats();
    expect(s.processedAudioMs).toBe(s.audioMs);
    expect(s.encoderChunks).toBeGreaterThan(0);
  }, 30_000);
});
