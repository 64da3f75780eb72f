/** Operator tests of endpoint: segmentation rules, any block size, settings changes mid-utterance, teardown. */
import { BehaviorSubject, Subject, from, lastValueFrom, of, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { endpoint, FRAME_MS, type EndpointSettings } from '../../src/stream/endpoint.js';
import { MAX_PRE_ROLL_MS, validatePipelineDeps } from '../../src/stream/session-pipeline.js';
import { PROTOCOL_LIMITS } from '../../src/protocol/messages.js';
import type { ControlItem, FrameBlockItem, SegmentItem } from '../../src/stream/stream-items.js';

/** Frame blocks whose row i is filled with the value i (so frames can be traced), speech flags from `speech`. */
function blocks(speech: number[], blockFrames: number, arrival = (k: number) => k): FrameBlockItem[] {
  const out: FrameBlockItem[] = [];
  for (let f = 0, k = 0; f < speech.length; f += blockFrames, k++) {
    const n = Math.min(blockFrames, speech.length - f);
    const feats = new Float32Array(n * 80);
    for (let j = 0; j < n; j++) feats.fill(f + j, j * 80, (j + 1) * 80);
    out.push({ kind: 'frames', feats, frames: n, firstFrame: f, samples: new Float32Array(0),
      speech: Uint8Array.from(speech.slice(f, f + n)), arrivalMs: arrival(k) });
  }
  return out;
}

const pattern = (...runs: [number, number][]): number[] => runs.flatMap(([v, n]) => new Array<number>(n).fill(v));
const END: ControlItem = { kind: 'end', reason: 'session_end', arrivalMs: 1e6, audioMs: 0 };

/** Segment items with utterance.frames expanded to one `f<frame>` entry per frame (block-size independent). */
function flatten(items: SegmentItem[]): string[] {
  return items.flatMap((s) => {
    if (s.kind !== 'utterance.frames') {
      if (s.kind === 'utterance.end') return [`end:${s.reason}@${s.endFrame}`];
      if (s.kind === 'utterance.start') return [`start@${s.startFrame}`];
      if (s.kind === 'end') return ['END'];
      return [`${s.kind}@${s.audioMs}`];
    }
    return Array.from({ length: s.frames }, (_, j) => {
      expect(s.feats[j * 80]).toBe(s.firstFrame + j);
      return `f${s.firstFrame + j}`;
    });
  });
}

async function segment(input: (FrameBlockItem | ControlItem)[], settings: EndpointSettings): Promise<SegmentItem[]> {
  return lastValueFrom(from(input).pipe(endpoint(of(settings)), toArray()));
}

const range = (a: number, b: number): string[] => Array.from({ length: b - a }, (_, i) => `f${a + i}`);

describe('endpoint', () => {
  const settings = { silenceMs: 500, maxUtteranceMs: 15000 };

  it('opens at onset with 300 ms pre-roll, ends after silenceMs of non-speech; any block size', async () => {
    const speech = pattern([0, 100], [1, 50], [0, 100]);
    for (const size of [1, 7, 1000]) {
      const out = flatten(await segment([...blocks(speech, size), END], settings));
      expect(out).toEqual([
        'speech.started@980', 'start@68', ...range(68, 200), 'speech.stopped@1500', 'end:silence@200', 'END',
      ]);
    }
  });

  it('silence never reaches the encoder; the pre-roll never reaches back into the previous utterance', async () => {
    const speech = pattern([0, 10], [1, 20], [0, 50], [0, 10], [1, 5], [0, 60]);
    const out = flatten(await segment([...blocks(speech, 13), END], settings));
    expect(out).toEqual([
      'speech.started@80', 'start@0', ...range(0, 80), 'speech.stopped@300', 'end:silence@80',
      'speech.started@880', 'start@80', ...range(80, 145), 'speech.stopped@950', 'end:silence@145', 'END',
    ]);
  });

  it('cuts at maxUtteranceMs and reopens at once while speech goes on', async () => {
    const out = flatten(await segment([...blocks(pattern([1, 250]), 16), END], { silenceMs: 500, maxUtteranceMs: 1000 }));
    expect(out).toEqual([
      'speech.started@0', 'start@0', ...range(0, 100), 'speech.stopped@1000', 'end:max_utterance@100',
      'speech.started@1000', 'start@100', ...range(100, 200), 'speech.stopped@2000', 'end:max_utterance@200',
      'speech.started@2000', 'start@200', ...range(200, 250), 'speech.stopped@2500', 'end:session_end@250', 'END',
    ]);
    // not a multiple of 10 ms: never longer than the maximum (1009 ms -> 100 frames, not 101)
    const odd = flatten(await segment([...blocks(pattern([1, 150]), 16), END], { silenceMs: 500, maxUtteranceMs: 1009 }));
    expect(odd.slice(0, 104)).toEqual(['speech.started@0', 'start@0', ...range(0, 100), 'speech.stopped@1000',
      'end:max_utterance@100']);
  });

  it('a max_utterance cut in trailing silence: speech.stopped says where speech stopped, as finalize does', async () => {
    // speech frames 0..79, then non-speech: the 1000 ms maximum falls 200 ms into the silence (before: @1000)
    const out = flatten(await segment([...blocks(pattern([1, 80], [0, 100]), 16), END],
      { silenceMs: 500, maxUtteranceMs: 1000 }));
    expect(out).toEqual(['speech.started@0', 'start@0', ...range(0, 100), 'speech.stopped@800', 'end:max_utterance@100',
      'END']);
    // the same through a session.update that lowers the maximum below what the utterance holds
    const settings$ = new BehaviorSubject<EndpointSettings>({ silenceMs: 500, maxUtteranceMs: 15000 });
    const got: SegmentItem[] = [];
    const input = new Subject<FrameBlockItem | ControlItem>();
    input.pipe(endpoint(settings$)).subscribe((x) => got.push(x));
    blocks(pattern([1, 80], [0, 20]), 10).forEach((x) => input.next(x));
    settings$.next({ silenceMs: 500, maxUtteranceMs: 900 });
    expect(flatten(got).slice(-2)).toEqual(['speech.stopped@800', 'end:max_utterance@100']);
  });

  it('finalize closes the open utterance at its stream position; is a no-op when idle', async () => {
    const b = blocks(pattern([0, 40], [1, 60]), 20);
    const input = [{ kind: 'finalize' as const, arrivalMs: 0, audioMs: 0 }, ...b.slice(0, 4), { kind: 'finalize' as const, arrivalMs: 3, audioMs: 400 },
      ...b.slice(4), END];
    const out = flatten(await segment(input, settings));
    expect(out).toEqual([
      'speech.started@380', 'start@8', ...range(8, 80), 'speech.stopped@800', 'end:finalize@80',
      'speech.started@800', 'start@80', ...range(80, 100), 'speech.stopped@1000', 'end:session_end@100', 'END',
    ]);
  });

  it('applies new settings from the next frame and unsubscribes from settings$ on teardown', async () => {
    const settings$ = new BehaviorSubject<EndpointSettings>({ silenceMs: 2000, maxUtteranceMs: 15000 });
    const input = new Subject<FrameBlockItem | ControlItem>();
    const out: SegmentItem[] = [];
    const sub = input.pipe(endpoint(settings$)).subscribe((s) => out.push(s));
    expect(settings$.observed).toBe(true);
    const b = blocks(pattern([1, 10], [0, 30], [0, 10]), 10);
    b.slice(0, 4).forEach((x) => input.next(x));
    expect(out.some((s) => s.kind === 'utterance.end')).toBe(false);
    settings$.next({ silenceMs: 350, maxUtteranceMs: 15000 }); // 300 ms of silence so far: 5 frames short
    expect(out.some((s) => s.kind === 'utterance.end')).toBe(false);
    input.next(b[4]!);
    expect(out.find((s) => s.kind === 'utterance.end')).toMatchObject({ reason: 'silence', endFrame: 45 });
    sub.unsubscribe();
    expect(settings$.observed).toBe(false);
  });

  // A session.update that lowers silence_ms below the trailing silence the open utterance already holds: that silence
  // is an endpoint under the new value, so the utterance ends where the stream is, when the update arrives; waiting for
  // the next frame ended it one frame late, or never when that frame was speech (the run started over).
  describe('a lowered silenceMs in trailing silence', () => {
    /** 10 speech frames, 30 silent ones (300 ms), then `silenceMs`, then `next` frames. */
    function lowered(silenceMs: number, next: number[]): { atUpdate: string[]; all: string[] } {
      const settings$ = new BehaviorSubject<EndpointSettings>({ silenceMs: 2000, maxUtteranceMs: 15000 });
      const input = new Subject<FrameBlockItem | ControlItem>();
      const out: SegmentItem[] = [];
      input.pipe(endpoint(settings$)).subscribe((s) => out.push(s));
      const b = blocks(pattern([1, 10], [0, 30], ...next.map((v): [number, number] => [v, 1])), 10);
      b.slice(0, 4).forEach((x) => input.next(x));
      const before = out.length;
      settings$.next({ silenceMs, maxUtteranceMs: 15000 });
      const atUpdate = flatten(out.slice(before));
      b.slice(4).forEach((x) => input.next(x));
      input.next(END);
      return { atUpdate, all: flatten(out) };
    }
    const opened = ['speech.started@0', 'start@0', ...range(0, 40)];

    it('already passed or exactly reached: ends at once at the current frame boundary (reason silence)', () => {
      for (const silenceMs of [100, 300]) {
        for (const next of [new Array<number>(10).fill(0), new Array<number>(10).fill(1)]) {
          const { atUpdate, all } = lowered(silenceMs, next);
          expect(atUpdate, `${silenceMs} ${next[0]}`).toEqual(['speech.stopped@100', 'end:silence@40']);
          expect(all.slice(0, opened.length + 2), `${silenceMs} ${next[0]}`).toEqual([...opened, ...atUpdate]);
        }
      }
      // the speech after the cut is a new utterance (its pre-roll reaches back to the cut, not before it)
      expect(lowered(100, new Array<number>(10).fill(1)).all.slice(opened.length + 2)).toEqual([
        'speech.started@400', 'start@40', ...range(40, 50), 'speech.stopped@500', 'end:session_end@50', 'END']);
    });

    it('not yet reached: ends once the silence reaches it', () => {
      const { atUpdate, all } = lowered(310, new Array<number>(10).fill(0));
      expect(atUpdate).toEqual([]);
      expect(all).toEqual([...opened, 'f40', 'speech.stopped@100', 'end:silence@41', 'END']);
    });
  });

  // A session.update that lowers max_utterance_ms below what the open utterance already holds: the utterance must
  // never grow past the new maximum, so it ends where the stream is, when the update arrives.
  describe('a lowered maxUtteranceMs mid-utterance', () => {
    /** 50 frames (500 ms) of an open utterance, then `maxMs`, then `after` (optional), then 50 more speech frames. */
    function lowered(maxMs: number, after?: number): { atUpdate: string[]; all: string[] } {
      const settings$ = new BehaviorSubject<EndpointSettings>({ silenceMs: 500, maxUtteranceMs: 15000 });
      const input = new Subject<FrameBlockItem | ControlItem>();
      const out: SegmentItem[] = [];
      input.pipe(endpoint(settings$)).subscribe((s) => out.push(s));
      const b = blocks(pattern([1, 100]), 10);
      b.slice(0, 5).forEach((x) => input.next(x));
      const before = out.length;
      settings$.next({ silenceMs: 500, maxUtteranceMs: maxMs });
      if (after !== undefined) settings$.next({ silenceMs: 500, maxUtteranceMs: after });
      const atUpdate = flatten(out.slice(before));
      b.slice(5).forEach((x) => input.next(x));
      input.next(END);
      return { atUpdate, all: flatten(out) };
    }
    const opened = ['speech.started@0', 'start@0', ...range(0, 50)];

    it('already passed: cuts at once at the current frame boundary, then applies to the next utterances', () => {
      const { atUpdate, all } = lowered(300);
      expect(atUpdate).toEqual(['speech.stopped@500', 'end:max_utterance@50']);
      expect(all).toEqual([...opened, 'speech.stopped@500', 'end:max_utterance@50',
        'speech.started@500', 'start@50', ...range(50, 80), 'speech.stopped@800', 'end:max_utterance@80',
        'speech.started@800', 'start@80', ...range(80, 100), 'speech.stopped@1000', 'end:session_end@100', 'END']);
    });

    it('exactly reached, or one more frame would pass it: cuts at once; one frame short: after that frame', () => {
      for (const maxMs of [500, 505]) {
        const { atUpdate, all } = lowered(maxMs);
        expect(atUpdate, `${maxMs}`).toEqual(['speech.stopped@500', 'end:max_utterance@50']);
        expect(all.slice(opened.length + 2, opened.length + 4), `${maxMs}`).toEqual(['speech.started@500', 'start@50']);
      }
      const { atUpdate, all } = lowered(510);
      expect(atUpdate).toEqual([]);
      expect(all.slice(0, opened.length + 3)).toEqual([...opened, 'f50', 'speech.stopped@510', 'end:max_utterance@51']);
    });

    it('raised again: no cut before the new maximum (latest value wins)', () => {
      const back = lowered(510, 15000);
      expect(back.atUpdate).toEqual([]);
      expect(back.all).toEqual([...opened, ...range(50, 100), 'speech.stopped@1000', 'end:session_end@100', 'END']);
      // Raised after the cut: the cut stays, the next utterance runs to the raised maximum.
      const after = lowered(300, 15000);
      expect(after.atUpdate).toEqual(['speech.stopped@500', 'end:max_utterance@50']);
      expect(after.all.slice(opened.length + 2)).toEqual(['speech.started@500', 'start@50', ...range(50, 100),
        'speech.stopped@1000', 'end:session_end@100', 'END']);
    });
  });
});

describe('pre-roll against max_utterance_ms', () => {
  // An utterance opens holding the pre-roll and the onset frames; max_utterance_ms is checked from the next frame on.
  it('the largest pre-roll the pipeline accepts keeps utterances within the smallest max_utterance_ms a client may set',
    async () => {
      expect(() => validatePipelineDeps({ preRollMs: MAX_PRE_ROLL_MS + 10 })).toThrow(
        `preRollMs must be a multiple of 10 in [0, ${MAX_PRE_ROLL_MS}], got ${MAX_PRE_ROLL_MS + 10}`);
      validatePipelineDeps({ preRollMs: MAX_PRE_ROLL_MS });
      const maxUtteranceMs = PROTOCOL_LIMITS.minMaxUtteranceMs;
      const input = [...blocks(pattern([0, 200], [1, 400]), 7), END];
      const out = await lastValueFrom(from(input).pipe(
        endpoint(of({ silenceMs: 500, maxUtteranceMs }), { preRollMs: MAX_PRE_ROLL_MS }), toArray()));
      const lengths: number[] = [];
      let startFrame = -1;
      for (const s of out) {
        if (s.kind === 'utterance.start') startFrame = s.startFrame;
        if (s.kind === 'utterance.end') lengths.push((s.endFrame - startFrame) * FRAME_MS);
      }
      expect(lengths.length).toBeGreaterThan(1);
      for (const ms of lengths) expect(ms).toBeLessThanOrEqual(maxUtteranceMs);
    });
});
