/** Operator tests of encode and ctcDecode: window geometry, ordering, errors, teardown (endpoint: endpoint.test.ts). */
import { BehaviorSubject, Subject, from, lastValueFrom, of, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/protocol/errors.js';
import type { Hotword } from '../../src/inference/ctc-decoder.js';
import { hotwordsFromPhrases } from '../../src/inference/hotword-tokens.js';
import { ctcDecode, wholeWordPrefix } from '../../src/stream/ctc-decode.js';
import { encode } from '../../src/stream/encode.js';
import type { PipelineEvent } from '../../src/stream/pipeline-event.js';
import type {
  ControlItem, EncodedItem, SegmentItem, StreamEncoder, StreamEncoderStream,
} from '../../src/stream/stream-items.js';
import { TOKENS, idsOf } from '../native/ctc-fixtures.js';
import { FAKE_MODEL } from './helpers.js';

const END: ControlItem = { kind: 'end', reason: 'session_end', arrivalMs: 1e6, audioMs: 0 };

/** A recording encoder: keeps a copy of every window; output frame j carries the window's row value 4j. */
function recorder(delayMs = 0): StreamEncoder & { windows: Float32Array[]; log: string[] } {
  const windows: Float32Array[] = [];
  const log: string[] = [];
  return {
    windows,
    log,
    openStream(): StreamEncoderStream {
      log.push('open');
      return {
        id: 1,
        async run(feats, frames) {
          windows.push(feats.slice(0, frames * 80));
          log.push(`run${frames}`);
          await new Promise((r) => setTimeout(r, delayMs));
          const out = Math.floor((frames - 7) / 4) + 1;
          return { logProbs: new Float32Array(out * 29).fill(-3), frames: out, vocabSize: 29 };
        },
        reset: () => void log.push('reset'),
        close: () => void log.push('close'),
      };
    },
  };
}

function utterance(start: number, n: number, blockFrames: number): SegmentItem[] {
  const items: SegmentItem[] = [{ kind: 'utterance.start', startFrame: start }];
  for (let f = 0; f < n; f += blockFrames) {
    const k = Math.min(blockFrames, n - f);
    const feats = new Float32Array(k * 80);
    for (let j = 0; j < k; j++) feats.fill(start + f + j, j * 80, (j + 1) * 80);
    items.push({ kind: 'utterance.frames', feats, frames: k, firstFrame: start + f, arrivalMs: start + f + k });
  }
  items.push({ kind: 'utterance.end', reason: 'silence', endFrame: start + n, arrivalMs: 5000 });
  return items;
}

const rowIds = (w: Float32Array): number[] => Array.from({ length: w.length / 80 }, (_, j) => w[j * 80]!);

describe('encode', () => {
  const opts = (encoder: StreamEncoder, chunkFrames = 2) =>
    ({ encoder, model: FAKE_MODEL, chunkFrames, maxPendingMs: 60000 });

  it('cuts 4C+3 windows with hop 4C, pads the last chunks with the last frame, resets after the utterance', async () => {
    for (const blockFrames of [1, 5, 100]) {
      const enc = recorder();
      const out = await lastValueFrom(from([...utterance(10, 30, blockFrames), END]).pipe(encode(opts(enc)), toArray()));
      // C = 2: T = 11, hop 8. 30 frames: windows at 10, 18 (full), then 14 left: 26..36 full (11 real frames),
      // 34..39 -> c = 2 with 6 real frames + 5 padding.
      expect(enc.windows.map(rowIds)).toEqual([
        [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
        [18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28],
        [26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36],
        [34, 35, 36, 37, 38, 39, 39, 39, 39, 39, 39],
      ]);
      expect(enc.log).toEqual(['open', 'run11', 'run11', 'run11', 'run11', 'reset', 'close']);
      const lp = out.filter((o) => o.kind === 'logprobs');
      expect(lp.map((o) => o.endFrame)).toEqual([18, 26, 34, 40]);
      // Newest audio of each window: the frame block holding its last real frame.
      const arrivalOf = (frame: number): number => 10 + (Math.floor((frame - 10) / blockFrames) + 1) * blockFrames;
      expect(lp.map((o) => o.arrivalMs)).toEqual([20, 28, 36, 39].map((f) => Math.min(40, arrivalOf(f))));
    }
  });

  it('keeps audio order: events queue behind running chunks; completion waits for the queue', async () => {
    const enc = recorder(5);
    const items: SegmentItem[] = [{ kind: 'speech.started', audioMs: 0 }, ...utterance(0, 40, 40),
      { kind: 'speech.stopped', audioMs: 400 }, { kind: 'speech.started', audioMs: 900 }, ...utterance(90, 9, 9), END];
    const out = await lastValueFrom(from(items).pipe(encode(opts(enc)), toArray()));
    // Same order as the input although every chunk resolves 5 ms later and the other items are synchronous.
    expect(out.map((o) => o.kind)).toEqual([
      'speech.started', 'utterance.start', 'logprobs', 'logprobs', 'logprobs', 'logprobs', 'logprobs',
      'utterance.end', 'speech.stopped', 'speech.started', 'utterance.start', 'logprobs', 'logprobs', 'utterance.end',
      'end',
    ]);
    expect(enc.log.filter((l) => l === 'reset')).toHaveLength(2);
    expect(enc.log.at(-1)).toBe('close');
  });

  it('reports pending audio while chunks wait; errors with GW_ERR_BACKLOG past maxPendingMs', async () => {
    const enc = recorder(5);
    const meter = { pendingMs: 0, peakPendingMs: 0, chunks: 0, outputFrames: 0, busyMs: 0 };
    const done = lastValueFrom(from(utterance(0, 80, 80)).pipe(encode({ ...opts(enc), meter }), toArray()));
    await done;
    expect(meter.peakPendingMs).toBe(800);
    expect(meter.pendingMs).toBe(0);
    const failing = { pendingMs: 0, peakPendingMs: 0, chunks: 0, outputFrames: 0, busyMs: 0 };
    const err = await lastValueFrom(from(utterance(0, 80, 80))
      .pipe(encode({ ...opts(recorder(5)), maxPendingMs: 300, meter: failing }))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('GW_ERR_BACKLOG');
    // the audio never run through the model stays counted (the session reports processed = received - pending)
    expect(failing.pendingMs).toBeGreaterThan(300);
  });

  it('an encoder failure errors with GW_ERR_INFERENCE and closes the stream', async () => {
    const log: string[] = [];
    const enc: StreamEncoder = {
      openStream: () => ({ id: 1, run: () => Promise.reject(new Error('onnx boom')), reset() {},
        close: () => void log.push('close') }),
    };
    const err = await lastValueFrom(from(utterance(0, 20, 20)).pipe(encode(opts(enc)))).catch((e: unknown) => e);
    expect((err as GatewayError).code).toBe('GW_ERR_INFERENCE');
    expect((err as GatewayError).message).toContain('onnx boom');
    expect(log).toEqual(['close']);
  });

  it('unsubscribing closes the stream and drops results still in flight', async () => {
    const enc = recorder(20);
    const input = new Subject<SegmentItem>();
    const got: EncodedItem[] = [];
    const sub = input.pipe(encode(opts(enc))).subscribe((o) => got.push(o));
    utterance(0, 30, 30).slice(0, 2).forEach((i) => input.next(i));
    expect(enc.log).toEqual(['open', 'run11']);
    sub.unsubscribe();
    expect(enc.log).toEqual(['open', 'run11', 'close']);
    expect(input.observed).toBe(false);
    await new Promise((r) => setTimeout(r, 40));
    expect(got.filter((g) => g.kind === 'logprobs')).toHaveLength(0);
  });
});

/** Log-probs (V = 29) whose argmax per frame spells `spec`: '_' blank, ' ' separator, letters a-z. */
function spell(spec: string, p = 0.9): Float32Array {
  const V = 29;
  const lp = new Float32Array(spec.length * V).fill(Math.log((1 - p) / (V - 1)));
  [...spec].forEach((ch, t) => {
    const id = ch === '_' ? 0 : ch === ' ' ? 1 : ch.charCodeAt(0) - 97 + 3;
    lp[t * V + id] = Math.log(p);
  });
  return lp;
}

async function decodeRun(chunks: string[], interimResults = true, start = 50): Promise<PipelineEvent[]> {
  const items: EncodedItem[] = [{ kind: 'utterance.start', startFrame: start }];
  let frames = 0;
  chunks.forEach((c, k) => {
    frames += c.length;
    items.push({ kind: 'logprobs', logProbs: spell(c), frames: c.length, vocabSize: 29, endFrame: start + 4 * frames,
      arrivalMs: 100 + k });
  });
  items.push({ kind: 'utterance.end', reason: 'finalize', endFrame: start + 4 * frames, arrivalMs: 999 });
  return lastValueFrom(from(items).pipe(
    ctcDecode({ model: FAKE_MODEL, beamSize: 4, interimResults, minConfidence: 0, hotwords$: of([]) }), toArray()));
}

describe('ctcDecode', () => {
  it('partials on text change with whole-word, never-shrinking stable text; final with session-time words', async () => {
    const ev = await decodeRun(['h_i_', ' _th', 'e_re', '____']);
    const partials = ev.filter((e) => e.kind === 'partial');
    expect(partials.map((p) => p.text)).toEqual(['hi', 'hi th', 'hi there']);
    let prev = '';
    for (const p of partials) {
      expect(p.text === p.stableText || p.text.startsWith(p.stableText + ' ') || p.stableText === '').toBe(true);
      expect(p.stableText.length).toBeGreaterThanOrEqual(prev.length);
      expect(p.utteranceId).toBe(0);
      expect(p.startMs).toBe(500);
      prev = p.stableText;
    }
    expect(partials.map((p) => p.newestArrivalMs)).toEqual([100, 101, 102]);
    expect(partials.map((p) => p.endMs)).toEqual([660, 820, 980]);
    const final = ev.at(-1)!;
    expect(final).toMatchObject({ kind: 'final', utteranceId: 0, text: 'hi there', reason: 'finalize', startMs: 500,
      endMs: 1140, newestArrivalMs: 999 });
    if (final.kind !== 'final') throw new Error('unreachable');
    expect(final.words.map((w) => [w.word, w.startMs, w.endMs])).toEqual([['hi', 500, 620], ['there', 740, 980]]);
    expect(final.confidence).toBeGreaterThan(0.5);
    expect(final.confidence).toBeLessThanOrEqual(1);
  });

  it('stable text ends only at a word boundary every beam shares', () => {
    // Best "you an y", every beam shares "you an": another beam may be "you an" itself and still grow "and".
    const tokens = Int32Array.from(idsOf('you an y'));
    expect(wholeWordPrefix(tokens, 6, TOKENS, 1)).toBe(3); // "you"
    expect(wholeWordPrefix(tokens, 7, TOKENS, 1)).toBe(6); // the separator is shared: "you an"
    expect(wholeWordPrefix(tokens, 2, TOKENS, 1)).toBe(0);
  });

  it('interimResults false: only the final', async () => {
    const ev = await decodeRun(['h_i_', ' _th'], false);
    expect(ev.map((e) => e.kind)).toEqual(['final']);
  });

  it('every utterance gets one final, also with empty text; ids count utterances', async () => {
    const items: EncodedItem[] = [
      { kind: 'utterance.start', startFrame: 0 },
      { kind: 'logprobs', logProbs: spell('____'), frames: 4, vocabSize: 29, endFrame: 16, arrivalMs: 1 },
      { kind: 'utterance.end', reason: 'silence', endFrame: 16, arrivalMs: 1 },
      { kind: 'utterance.start', startFrame: 20 },
      { kind: 'logprobs', logProbs: spell('_ok_'), frames: 4, vocabSize: 29, endFrame: 36, arrivalMs: 2 },
      { kind: 'utterance.end', reason: 'silence', endFrame: 36, arrivalMs: 2 },
    ];
    const ev = await lastValueFrom(from(items).pipe(
      ctcDecode({ model: FAKE_MODEL, beamSize: 4, interimResults: true, minConfidence: 0, hotwords$: of([]) }), toArray()));
    expect(ev.map((e) => `${e.kind}:${'utteranceId' in e ? e.utteranceId : ''}:${'text' in e ? e.text : ''}`))
      .toEqual(['final:0:', 'partial:1:ok', 'final:1:ok']);
    expect(ev[0]).toMatchObject({ confidence: 0, words: [] });
  });

  it('an utterance none of whose words reaches minConfidence gets an empty final with what was heard', async () => {
    // A click: one frame where "n" barely beats the rest (posterior 0.1), as the search fills a 30 ms noise burst.
    const click = new Float32Array([...spell('_'), ...spell('n', 0.1), ...spell('__')]);
    const items: EncodedItem[] = [
      { kind: 'utterance.start', startFrame: 0 },
      { kind: 'logprobs', logProbs: click, frames: 4, vocabSize: 29, endFrame: 16, arrivalMs: 1 },
      { kind: 'utterance.end', reason: 'silence', endFrame: 16, arrivalMs: 1 },
      { kind: 'utterance.start', startFrame: 20 },
      { kind: 'logprobs', logProbs: spell('_ok_'), frames: 4, vocabSize: 29, endFrame: 36, arrivalMs: 2 },
      { kind: 'utterance.end', reason: 'silence', endFrame: 36, arrivalMs: 2 },
    ];
    const finals = async (minConfidence: number, interimResults = false): Promise<PipelineEvent[]> =>
      lastValueFrom(from(items).pipe(
        ctcDecode({ model: FAKE_MODEL, beamSize: 4, interimResults, minConfidence, hotwords$: of([]) }), toArray()));
    const [rejected, kept] = await finals(0.15);
    expect(rejected).toMatchObject({ kind: 'final', utteranceId: 0, text: '', words: [], confidence: 0,
      rejected: { text: 'n' } });
    if (rejected?.kind !== 'final') throw new Error('unreachable');
    expect(rejected.rejected!.confidence).toBeCloseTo(0.1, 2);
    expect(kept).toMatchObject({ kind: 'final', utteranceId: 1, text: 'ok' });
    expect(kept).not.toHaveProperty('rejected');
    const off = await finals(0);
    expect(off.map((e) => (e.kind === 'final' ? e.text : e.kind))).toEqual(['n', 'ok']);
    // The click's partial waits (a bot must not barge in on it); a confident word's partial does not.
    const kinds = (ev: PipelineEvent[]): string[] => ev.map((e) => `${e.kind}:${'text' in e ? e.text : ''}`);
    expect(kinds(await finals(0.15, true))).toEqual(['final:', 'partial:ok', 'final:ok']);
    expect(kinds(await finals(0, true))).toEqual(['partial:n', 'final:n', 'partial:ok', 'final:ok']);
  });

  it('never rejects an utterance whose partials committed stable words (stable_text stays a prefix of the final)', async () => {
    // "a d b" goes out (b reaches minConfidence 0.28; a and d do not), every beam shares "a ": stable "a". Then a
    // hotword update makes "a d c" best, whose every word is below 0.28: rejecting it would take back "a".
    const V = 29;
    const frame = (probs: Record<string, number>): number[] => {
      const rest = (1 - Object.values(probs).reduce((s, p) => s + p, 0)) / (V - Object.keys(probs).length);
      const lp = new Array<number>(V).fill(Math.log(rest));
      for (const [ch, p] of Object.entries(probs)) lp[ch === '_' ? 0 : ch === ' ' ? 1 : ch.charCodeAt(0) - 94] = Math.log(p);
      return lp;
    };
    const word = (ch: string): number[][] => [frame({ [ch]: 0.2 }), frame({ [ch]: 0.2 }), frame({ [ch]: 0.2 })];
    const chunk = Float32Array.from([...word('a'), frame({ ' ': 0.9 }), ...word('d'), frame({ ' ': 0.9 }),
      frame({ b: 0.3, c: 0.25 }), frame({ _: 0.9 })].flat());
    const hotwords$ = new BehaviorSubject<readonly Hotword[]>([]);
    const input = new Subject<EncodedItem>();
    const events: PipelineEvent[] = [];
    input.pipe(ctcDecode({ model: FAKE_MODEL, beamSize: 4, interimResults: true, minConfidence: 0.28, hotwords$ }))
      .subscribe((e) => events.push(e));
    input.next({ kind: 'utterance.start', startFrame: 0 });
    input.next({ kind: 'logprobs', logProbs: chunk, frames: 10, vocabSize: V, endFrame: 40, arrivalMs: 1 });
    expect(events).toMatchObject([{ kind: 'partial', text: 'a d b', stableText: 'a' }]);
    hotwords$.next(hotwordsFromPhrases([{ phrase: 'd c', boost: 5 }], TOKENS, { separatorId: 1 }));
    input.next({ kind: 'utterance.end', reason: 'finalize', endFrame: 40, arrivalMs: 2 });
    expect(events[1]).toMatchObject({ kind: 'final', text: 'a d c' });
    expect(events[1]).not.toHaveProperty('rejected');
  });

  it('errors with GW_ERR_DECODER on a bad matrix and unsubscribes from hotwords$', async () => {
    const hotwords$ = new BehaviorSubject<readonly { tokenIds: number[]; boost: number }[]>([]);
    const items: EncodedItem[] = [{ kind: 'utterance.start', startFrame: 0 },
      { kind: 'logprobs', logProbs: new Float32Array(5), frames: 4, vocabSize: 29, endFrame: 16, arrivalMs: 1 }];
    const err = await lastValueFrom(from(items).pipe(
      ctcDecode({ model: FAKE_MODEL, beamSize: 4, interimResults: true, minConfidence: 0, hotwords$ }))).catch((e: unknown) => e);
    expect((err as GatewayError).code).toBe('GW_ERR_DECODER');
    expect(hotwords$.observed).toBe(false);
  });
});
