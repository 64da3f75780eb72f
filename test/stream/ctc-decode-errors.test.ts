/**
 * A hotword list the decoder refuses (CtcSearch.setHotwords throws) is a decoder failure of that session: events$
 * errors with GW_ERR_DECODER and nothing reaches RxJS's unhandled-error path, which rethrows from a timer: in Node an
 * uncaughtException for the whole process, while the session went on with its old list. The list arrives through a
 * subscription to `hotwords$`, outside the items the stage's handlers guard: at subscription (session.start) and on
 * every session.update.
 */
import { BehaviorSubject, Subject, config, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Hotword } from '../../src/inference/ctc-decoder.js';
import { ctcDecode } from '../../src/stream/ctc-decode.js';
import type { PipelineEvent } from '../../src/stream/pipeline-event.js';
import { SessionPipeline } from '../../src/stream/session-pipeline.js';
import type { EncodedItem } from '../../src/stream/stream-items.js';
import { FAKE_MODEL, FakeEncoder, concat, seconds, sessionConfig, speechClips, toS16 } from './helpers.js';

/** Token 29 is outside FAKE_MODEL's vocabulary (29 tokens): the native decoder refuses it. */
const REFUSED: Hotword[] = [{ tokenIds: [3, 29], boost: 2 }];

/** What RxJS reported as unhandled while `run` ran (its report comes from a timer: waited for). */
async function unhandledDuring(run: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const previous = config.onUnhandledError;
  config.onUnhandledError = (e) => seen.push(e);
  try {
    await run();
    await new Promise((resolve) => setTimeout(resolve, 10));
  } finally {
    config.onUnhandledError = previous;
  }
  return seen;
}

/** Subscribes to `events$`; `error` is what it errored with (undefined while it has not). */
function watch(events$: Observable<PipelineEvent>): { error: unknown } {
  const w = { error: undefined as unknown };
  events$.subscribe({ error: (e: unknown) => (w.error = e) });
  return w;
}

const stage = (hotwords$: BehaviorSubject<readonly Hotword[]>) => ctcDecode({ model: FAKE_MODEL, beamSize: 4,
  interimResults: true, minConfidence: 0, hotwords$ });

describe('ctcDecode: a hotword list the decoder refuses', () => {
  it('at subscription (session.start) errors the stage with GW_ERR_DECODER; nothing unhandled', async () => {
    let w!: { error: unknown };
    const hotwords$ = new BehaviorSubject<readonly Hotword[]>(REFUSED);
    const unhandled = await unhandledDuring(async () => {
      w = watch(new Subject<EncodedItem>().pipe(stage(hotwords$)));
    });
    expect(unhandled).toEqual([]);
    expect(w.error).toMatchObject({ code: 'GW_ERR_DECODER', message: expect.stringMatching(/token id 29/) });
    expect(hotwords$.observed).toBe(false); // torn down
  });

  it('in an update errors the stage with GW_ERR_DECODER and tears it down; nothing unhandled', async () => {
    let w!: { error: unknown };
    const hotwords$ = new BehaviorSubject<readonly Hotword[]>([{ tokenIds: [3], boost: 2 }]);
    const input = new Subject<EncodedItem>();
    const unhandled = await unhandledDuring(async () => {
      w = watch(input.pipe(stage(hotwords$)));
      input.next({ kind: 'utterance.start', startFrame: 0 });
      hotwords$.next(REFUSED);
    });
    expect(unhandled).toEqual([]);
    expect(w.error).toMatchObject({ code: 'GW_ERR_DECODER' });
    expect(hotwords$.observed).toBe(false);
    expect(input.observed).toBe(false);
  });
});

describe('SessionPipeline: a hotword list the decoder refuses', () => {
  // A model whose token list runs past its vocabulary: the tokeniser spells 'é' with id 29, which the decoder
  // refuses. loadModelInfo refuses such a model; here it stands for any list the decoder refuses.
  const model = { ...FAKE_MODEL, tokens: [...FAKE_MODEL.tokens, 'é'] };

  it('in session.start: events$ fails with GW_ERR_DECODER when subscribed; nothing unhandled', async () => {
    const enc = new FakeEncoder();
    let p!: SessionPipeline;
    const unhandled = await unhandledDuring(async () => {
      p = new SessionPipeline(sessionConfig({ hotwords: [{ phrase: 'café', boost: 2 }] }), { encoder: enc, model });
    });
    expect(unhandled).toEqual([]);
    expect(watch(p.events$).error).toMatchObject({ code: 'GW_ERR_DECODER' });
    // the stages above the decoder were never subscribed: no encoder stream opened, audio ignored
    expect(() => p.pushAudio(toS16(concat([seconds(0.5), speechClips()[0]!.samples])), 0)).not.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(enc.runs).toEqual([]);
    await expect(p.end()).rejects.toMatchObject({ code: 'GW_ERR_DECODER' });
  });

  it('in session.update: fails the session with GW_ERR_DECODER (end() rejects, later audio ignored); nothing '
    + 'unhandled', async () => {
    const enc = new FakeEncoder();
    const p = new SessionPipeline(sessionConfig(), { encoder: enc, model });
    const speech = toS16(concat([seconds(0.5), speechClips()[0]!.samples]));
    let w!: { error: unknown };
    const unhandled = await unhandledDuring(async () => {
      w = watch(p.events$);
      p.pushAudio(speech.subarray(0, 32000), 0);
      p.updateHotwords([{ phrase: 'café', boost: 2 }]);
      await new Promise((resolve) => setTimeout(resolve, 10));
    });
    expect(unhandled).toEqual([]);
    expect(w.error).toMatchObject({ code: 'GW_ERR_DECODER' });
    expect(enc.closed).toEqual([1]);
    expect(() => p.pushAudio(speech.subarray(32000), 1)).not.toThrow();
    await expect(p.end()).rejects.toMatchObject({ code: 'GW_ERR_DECODER' });
  });
});
