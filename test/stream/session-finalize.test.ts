/**
 * session.finalize as a hard segment boundary of the session's audio: the audio the DSP stages still hold when it
 * comes (resampler lookahead, denoiser lag, the fbank's last frames) belongs to the utterance it finalizes, not to a
 * phantom utterance opened by the audio after it; the final ends at the last sample received; the stages restart for
 * later audio without drifting the session's time. Structure on the test-double encoder (FakeEncoder), the reported
 * push-to-talk case on the real model (skipped without it).
 */
import { describe, expect, it } from 'vitest';
import type { DenoiseMode } from '../../src/protocol/messages.js';
import type { PipelineEvent } from '../../src/stream/pipeline-event.js';
import { SessionPipeline, type PipelineDeps } from '../../src/stream/session-pipeline.js';
import { rng as random } from '../native/ctc-fixtures.js';
import {
  FAKE_MODEL, FakeEncoder, HAVE_MODEL, checkOrder, concat, feedWithFinalizes as feed, onRealModel, seconds,
  sessionConfig, speechClips, toS16, wireAt as wire,
} from './helpers.js';

const clips = speechClips();
const asterisk = clips.find((c) => c.set === 'asterisk')!.samples; // "your passwords have been changed"
const RATES = [8000, 16000, 44100] as const;
const MODES: DenoiseMode[] = ['off', 'spectral'];

const speechEvents = (events: PipelineEvent[]) => events.filter((e) => e.kind !== 'partial');

/** 0.5 s of silence, the first `share` of the clip (speech still going), finalize, 1 s of silence, end. */
async function pushToTalk(deps: PipelineDeps, rateHz: number, denoise: DenoiseMode, share: number) {
  const head = concat([seconds(0.5), asterisk.subarray(0, Math.round(share * asterisk.length))]);
  const x = concat([head, seconds(1)]);
  const bytes = wire(x, rateHz);
  const finalizeAt = Math.round((head.length * rateHz) / 16000);
  const p = new SessionPipeline(sessionConfig({ sampleRateHz: rateHz, denoise }), deps);
  const events = await feed(p, bytes, [finalizeAt], () => Math.round(rateHz / 50));
  return { events, finalizeMs: (finalizeAt * 1000) / rateHz };
}

describe('session.finalize in the middle of speech (test-double encoder)', () => {
  for (const rateHz of RATES) {
    for (const denoise of MODES) {
      it(`${rateHz} Hz, denoise ${denoise}: one utterance, ended at the last sample received; no phantom after it`,
        async () => {
          const deps = { encoder: new FakeEncoder(), model: FAKE_MODEL };
          const { events, finalizeMs } = await pushToTalk(deps, rateHz, denoise, 0.6);
          checkOrder(events);
          const marks = speechEvents(events);
          expect(marks.map((e) => e.kind)).toEqual(['speech.started', 'speech.stopped', 'final']);
          const final = marks[2]!;
          expect(final).toMatchObject({ kind: 'final', reason: 'finalize', endMs: finalizeMs });
          expect(marks[1]!.kind === 'speech.stopped' && marks[1]!.audioMs).toBeLessThanOrEqual(finalizeMs);
          for (const e of events) {
            if (e.kind === 'partial' || e.kind === 'final') expect(e.endMs).toBeLessThanOrEqual(finalizeMs);
          }
        });
    }
  }
});

describe('session.finalize with no utterance open', () => {
  it('frames it flushes that complete a speech onset open the utterance it finalizes; the speech after it opens the '
    + 'next at the boundary', async () => {
    const x = concat([seconds(0.5), asterisk, seconds(1)]);
    const bytes = toS16(x);
    const deps = () => ({ encoder: new FakeEncoder(), model: FAKE_MODEL });
    const plain = speechEvents(await feed(new SessionPipeline(sessionConfig(), deps()), bytes, [], () => 320));
    const onsetMs = plain[0]!.kind === 'speech.started' ? plain[0]!.audioMs : NaN;
    // the VAD decides the onset's third frame i at sample 160 i + 160, the fbank has frame i at 160 i + 280
    const i = onsetMs / 10 + 2, at = 160 * i + 220, atMs = at / 16;
    const events = speechEvents(await feed(new SessionPipeline(sessionConfig(), deps()), bytes, [at], () => 320));
    expect(events.map((e) => (e.kind === 'final' ? e.reason : e.kind))).toEqual(['speech.started', 'speech.stopped',
      'finalize', 'speech.started', 'speech.stopped', 'silence']);
    expect(events[0]).toEqual({ kind: 'speech.started', audioMs: onsetMs });
    expect(events[2]).toMatchObject({ startMs: onsetMs - 300, endMs: atMs });
    expect(events[3]).toEqual({ kind: 'speech.started', audioMs: atMs });
    expect(events[5]).toMatchObject({ startMs: atMs });
  });
});

describe('session.finalize keeps the session time exact', () => {
  const x = concat([seconds(4.2), asterisk, seconds(1)]);
  const bytes = toS16(x);
  // 20 finalizes in the silence before the speech, segments of 1679 samples: 10 frames each ((N + 80) // 160), so
  // counting whole frames per segment would lose 4.9 ms at each, 99 ms in all
  const finalizeAt = Array.from({ length: 20 }, (_, k) => 1679 * (k + 1));
  const deps = () => ({ encoder: new FakeEncoder(), model: FAKE_MODEL });

  it('speech.started, start_ms and end_ms of a later utterance are those of the session without finalizes, to the '
    + 'frame', async () => {
    const plain = speechEvents(await feed(new SessionPipeline(sessionConfig(), deps()), bytes, [], () => 320));
    const cut = speechEvents(await feed(new SessionPipeline(sessionConfig(), deps()), bytes, finalizeAt, () => 320));
    expect(cut.map((e) => e.kind)).toEqual(plain.map((e) => e.kind));
    expect(cut.map((e) => e.kind)).toEqual(['speech.started', 'speech.stopped', 'final']);
    const times = (e: PipelineEvent): number[] => (e.kind === 'final' ? [e.startMs, e.endMs]
      : e.kind === 'partial' ? [] : [e.audioMs]);
    for (const [k, e] of cut.entries()) {
      const ref = times(plain[k]!);
      times(e).forEach((t, j) => expect(Math.abs(t - ref[j]!), `${e.kind} ${t} vs ${ref[j]}`).toBeLessThan(10));
    }
  });

  it('the same audio and finalize positions in other frame sizes give the same events', async () => {
    const r = random(7);
    const positions = [...finalizeAt, 4.2 * 16000 + Math.round(0.5 * asterisk.length), x.length - 3];
    for (const denoise of MODES) {
      const run = (size: () => number) => feed(new SessionPipeline(sessionConfig({ denoise }), deps()), bytes,
        positions, size);
      const a = await run(() => 320);
      const b = await run(() => 1 + Math.floor(r() * 3000));
      const noArrival = (events: PipelineEvent[]) => events.map((e) => ('newestArrivalMs' in e
        ? { ...e, newestArrivalMs: 0 } : e));
      expect(noArrival(b), denoise).toEqual(noArrival(a));
      expect(speechEvents(a).filter((e) => e.kind === 'final').map((e) => e.kind === 'final' && e.reason), denoise)
        .toEqual(['finalize', 'silence']);
    }
  });
});

describe.skipIf(!HAVE_MODEL)('session.finalize in the middle of speech on the real model', () => {
  let deps: PipelineDeps;
  onRealModel((d) => (deps = d));

  it('push-to-talk release at 50% and 80% of a clip, then 1 s of room noise: no phantom utterance', async () => {
    const phantoms: string[] = [], ends: string[] = [];
    for (const rateHz of RATES) {
      for (const denoise of MODES) {
        for (const share of [0.5, 0.8]) {
          const { events, finalizeMs } = await pushToTalk(deps, rateHz, denoise, share);
          const marks = speechEvents(events);
          const label = `${rateHz} ${denoise} ${share}`;
          if (marks.length !== 3) {
            phantoms.push(`${label}: ${marks.map((e) => (e.kind === 'final' ? `final(${e.reason},"${e.text}")` : e.kind))}`);
          }
          const final = marks.find((e) => e.kind === 'final');
          if (final?.kind !== 'final' || final.reason !== 'finalize' || final.endMs !== finalizeMs) {
            ends.push(`${label}: ${final?.kind === 'final' ? `${final.reason} ${final.endMs}` : 'none'} vs ${finalizeMs}`);
          }
        }
      }
    }
    expect(phantoms).toEqual([]);
    expect(ends).toEqual([]);
  }, 120_000);
});
