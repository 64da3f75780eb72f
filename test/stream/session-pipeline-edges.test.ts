/**
 * Edge cases of a session's life that the structure tests do not reach: empty binary frames, session.finalize in
 * the silence after speech, a session abandoned from inside its own event handler in the middle of a large frame,
 * and a final whose best hypothesis holds only word separators. Real model and real speech where the pipeline runs
 * end to end (skipped without a model).
 */
import { BehaviorSubject, from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ctcDecode, type DecodeSettings } from '../../src/stream/ctc-decode.js';
import type { PipelineEvent } from '../../src/stream/pipeline-event.js';
import { SessionPipeline, type PipelineDeps } from '../../src/stream/session-pipeline.js';
import type { EncodedItem } from '../../src/stream/stream-items.js';
import {
  FAKE_MODEL, HAVE_MODEL, concat, runPipeline, seconds, sessionConfig, speechClips, onRealModel, toS16,
} from './helpers.js';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe.skipIf(!HAVE_MODEL)('SessionPipeline edges on the real model', () => {
  let deps: PipelineDeps;
  onRealModel((d) => (deps = d));
  const clips = HAVE_MODEL ? speechClips() : [];
  const asterisk = () => clips.find((c) => c.set === 'asterisk')!.samples;


  it('an empty binary frame carries no audio: a final after it reports the arrival of the last frame that did',
    async () => {
      const bytes = toS16(concat([seconds(0.5), asterisk()]));
      for (const close of ['finalize', 'end'] as const) {
        const p = new SessionPipeline(sessionConfig(), deps);
        const events = lastValueFrom(p.events$.pipe(toArray()));
        let k = 0;
        for (let o = 0; o < bytes.length; o += 1600) p.pushAudio(bytes.subarray(o, o + 1600), k++);
        p.pushAudio(new Uint8Array(0), 1e6); // a keep-alive: no samples
        if (close === 'finalize') p.finalize();
        await p.end();
        const final = (await events).find((e) => e.kind === 'final')!;
        expect(final.kind === 'final' && final.reason, close).toBe(close === 'finalize' ? 'finalize' : 'session_end');
        expect(final.kind === 'final' && final.newestArrivalMs, close).toBe(k - 1);
      }
    }, 30_000);

  it('session.finalize in the silence after speech: speech.stopped is where speech stopped, as without it',
    async () => {
      // A push-to-talk client releases its button 300 ms after the last word, before the 500 ms silence endpoint.
      const bytes = toS16(concat([seconds(0.5), asterisk(), seconds(1)]));
      const plain = await runPipeline(new SessionPipeline(sessionConfig(), deps), bytes, 320);
      const stoppedMs = plain.find((e) => e.kind === 'speech.stopped')!.audioMs;
      expect(plain.find((e) => e.kind === 'final')).toMatchObject({ reason: 'silence', endMs: stoppedMs + 500 });
      const p = new SessionPipeline(sessionConfig(), deps);
      const events = await runPipeline(p, bytes, 320, (k) => {
        if ((k + 1) * 10 === stoppedMs + 300) p.finalize();
      });
      expect(events.filter((e) => e.kind !== 'partial').map((e) => e.kind))
        .toEqual(['speech.started', 'speech.stopped', 'final']);
      expect(events.find((e) => e.kind === 'speech.stopped')!.audioMs).toBe(stoppedMs);
      expect(events.find((e) => e.kind === 'final')).toMatchObject({ reason: 'finalize' });
    }, 30_000);

  it('abandoned from its own event handler in the middle of a large frame: the rest of the frame is dropped, never '
    + 'run, and stays unprocessed', async () => {
    // A server that finds its client too slow while sending speech.started disposes the pipeline right there,
    // inside pushAudio's first slice.
    const bytes = toS16(concat([seconds(0.2), asterisk(), seconds(0.5), asterisk(), seconds(0.5), asterisk()]));
    let dspCalls = 0;
    const p = new SessionPipeline(sessionConfig(), { ...deps, now: () => dspCalls++ });
    const seen: PipelineEvent[] = [];
    p.events$.subscribe((e) => {
      seen.push(e);
      if (e.kind === 'speech.started') p.dispose();
    });
    p.pushAudio(bytes, 0);
    expect(seen.map((e) => e.kind)).toEqual(['speech.started']);
    const after = { stats: p.stats(), calls: dspCalls };
    expect(after.stats.processedAudioMs).toBeLessThan(1000); // only the first 500 ms slice reached the stages
    for (let k = 0; k < 20; k++) await turn();
    expect(dspCalls, 'slices ran after dispose').toBe(after.calls);
    expect(p.stats().processedAudioMs).toBe(after.stats.processedAudioMs);
    expect(seen).toHaveLength(1);
  }, 30_000);
});

describe('ctcDecode final of separators only', () => {
  it('a hypothesis of word separators alone is an empty final with confidence 0, like no token at all', async () => {
    // The search may keep a lone separator (a breath between blanks): no word, so nothing to be confident about.
    const V = FAKE_MODEL.vocabSize, T = 4;
    const logProbs = new Float32Array(T * V).fill(Math.log(0.01 / (V - 1)));
    const { separatorId, blankId } = FAKE_MODEL;
    for (let t = 0; t < T; t++) logProbs[t * V + (t === 1 ? separatorId : blankId)] = Math.log(0.99);
    for (const decoder of ['beam', 'greedy'] as const) {
      const items: EncodedItem[] = [{ kind: 'utterance.start', startFrame: 0 },
        { kind: 'logprobs', logProbs, frames: T, vocabSize: V, endFrame: 16, arrivalMs: 0 },
        { kind: 'utterance.end', reason: 'silence', endFrame: 16, arrivalMs: 0 }];
      const events = await lastValueFrom(from(items).pipe(ctcDecode({ model: FAKE_MODEL, decoder, beamSize: 4,
        interimResults: true, minConfidence: 0.15, hotwords$: new BehaviorSubject([]),
        settings$: new BehaviorSubject<DecodeSettings>({ minConfidence: 0.15, alternatives: 1,
          backgroundRejectionDb: 0 }),
      }), toArray()));
      expect(events, decoder).toMatchObject([{ kind: 'final', text: '', words: [], confidence: 0 }]);
    }
  });
});
