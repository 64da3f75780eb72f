/**
 * Stage 6: utterance segmentation. Turns VAD-labelled fbank frames into utterances and drops the audio between them,
 * so silence never reaches the encoder (hundreds of mostly silent sessions cost no inference).
 *
 * Rules, per 10 ms frame i (decisions from vad.ts, which has onset debouncing but no hangover):
 * - Idle: the last `preRollMs` (default 300) + `onsetFrames` frames are kept in a ring. The first speech frame opens
 *   an utterance that starts with the ring's oldest frame (never before the previous utterance's end), so the onset
 *   run the VAD needed to decide, and the pre-roll before it, reach the model: no phoneme is lost at onset.
 *   `speech.started` reports the onset (first frame of the debouncing run), then `utterance.start` and the ring.
 * - Open: every frame is forwarded (`utterance.frames`). The utterance ends
 *   - after `silenceMs` of consecutive non-speech frames (reason `silence`; `speech.stopped` at the first of them;
 *     the silent frames are still forwarded so the model can emit late tokens), or
 *   - when one more frame would make it longer than `maxUtteranceMs` of audio, pre-roll included (reason
 *     `max_utterance`; at 15000 ms that is exactly 1,500 frames, at 3081 ms 308 frames), or
 *   - on a `finalize` item (reason `finalize`) or the `end` item (its reason), at the current stream position
 *     (`speech.stopped` at the first frame of the trailing non-speech run, if the stream is in one). The stages
 *     before this one flush what they hold on either, so the frames of all audio received before the item have
 *     arrived: the utterance ends at the last sample received. Flushed frames that complete an onset open an
 *     utterance like any other, which the finalize then ends (their audio came before it).
 *   `speech.stopped` always precedes `utterance.end`. If speech goes on after a max_utterance or finalize cut, the next
 *   speech frame opens the next utterance right away (contiguous audio, no overlap). A finalize ends a segment of the
 *   stream (stream-items.ts): the pre-roll ring is emptied there too, so no utterance reaches back across it.
 * Endpointing settings come from `settings$` (latest value wins, applies from the next frame). A value the open
 * utterance already reaches ends it when the value arrives, at the frame boundary the stream is at: a `silenceMs` at or
 * below its trailing non-speech run (reason `silence`; the next frame, speech or not, is not waited for), or a
 * `maxUtteranceMs` at or below what it holds (reason `max_utterance`: one more frame would pass the new maximum).
 * `settings$` emits between items (the pipeline changes settings between pushes, in order with the audio:
 * session-pipeline.ts).
 */
import type { Observable, OperatorFunction } from 'rxjs';
import { FBANK_NUM_BINS } from '../dsp/fbank.js';
import type { FinalReason } from '../protocol/messages.js';
import { statefulOperator, type ControlItem, type FrameBlockItem, type SegmentItem } from './stream-items.js';

/** Fbank frame length, ms. */
export const FRAME_MS = 10;

export interface EndpointSettings {
  silenceMs: number;
  maxUtteranceMs: number;
}

export interface EndpointOptions {
  /** Audio kept before the speech onset and fed with the utterance, ms (multiple of 10). */
  preRollMs: number;
  /** The VAD's onset debouncing run (EnergyVad `onsetFrames`), frames. */
  onsetFrames: number;
}

export const DEFAULT_ENDPOINT_OPTIONS: Readonly<EndpointOptions> = { preRollMs: 300, onsetFrames: 3 };

export function endpoint(
  settings$: Observable<EndpointSettings>,
  options: Partial<EndpointOptions> = {},
): OperatorFunction<FrameBlockItem | ControlItem, SegmentItem> {
  const o = { ...DEFAULT_ENDPOINT_OPTIONS, ...options };
  const capacity = Math.round(o.preRollMs / FRAME_MS) + o.onsetFrames;
  const D = FBANK_NUM_BINS;
  return statefulOperator((emitNow) => {
    let settings: EndpointSettings = { silenceMs: 500, maxUtteranceMs: 15000 };
    // Idle ring of the newest frames: slot (ringFirst + k) % capacity holds frame ringFirstFrame + k.
    const ring = new Float32Array(capacity * D);
    const ringArrival = new Float64Array(capacity);
    let ringFirst = 0, ringLen = 0, ringFirstFrame = 0;
    let open = false, startFrame = 0, silenceRun = 0, nextFrame = 0, lastArrivalMs = 0;
    /** One more frame would make the open utterance (frames startFrame .. nextFrame - 1) longer than the maximum. */
    const isFull = (): boolean => (nextFrame + 1 - startFrame) * FRAME_MS > settings.maxUtteranceMs;

    const emitRing = (emit: (s: SegmentItem) => void): void => {
      let k = 0;
      while (k < ringLen) {
        const arrivalMs = ringArrival[(ringFirst + k) % capacity]!;
        let n = 1;
        while (k + n < ringLen && ringArrival[(ringFirst + k + n) % capacity] === arrivalMs) n++;
        const feats = new Float32Array(n * D);
        for (let j = 0; j < n; j++) {
          const slot = (ringFirst + k + j) % capacity;
          feats.set(ring.subarray(slot * D, slot * D + D), j * D);
        }
        emit({ kind: 'utterance.frames', feats, frames: n, firstFrame: ringFirstFrame + k, arrivalMs });
        k += n;
      }
      ringLen = 0;
    };

    const close = (reason: FinalReason, stoppedFrame: number, arrivalMs: number, emit: (s: SegmentItem) => void) => {
      emit({ kind: 'speech.stopped', audioMs: stoppedFrame * FRAME_MS });
      emit({ kind: 'utterance.end', reason, endFrame: nextFrame, arrivalMs });
      open = false;
      ringLen = 0;
    };

    /** The trailing non-speech run has reached `silenceMs`. */
    const isSilenceEnd = (): boolean => silenceRun * FRAME_MS >= settings.silenceMs;

    // Checked in the order a frame checks them, so a value change ends an utterance where the frame that reached the
    // new value would have ended it.
    const settingsSub = settings$.subscribe((s) => {
      settings = s;
      if (!open) return;
      if (isSilenceEnd()) close('silence', nextFrame - silenceRun, lastArrivalMs, emitNow);
      else if (isFull()) close('max_utterance', nextFrame - silenceRun, lastArrivalMs, emitNow);
    });

    const onBlock = (b: FrameBlockItem, emit: (s: SegmentItem) => void): void => {
      const speech = b.speech!;
      lastArrivalMs = b.arrivalMs;
      let runStart = 0; // first row of b not yet forwarded
      const flushRun = (end: number): void => {
        if (end > runStart) {
          emit({ kind: 'utterance.frames', feats: b.feats.subarray(runStart * D, end * D), frames: end - runStart,
            firstFrame: b.firstFrame + runStart, arrivalMs: b.arrivalMs });
        }
        runStart = end;
      };
      for (let k = 0; k < b.frames; k++) {
        const i = b.firstFrame + k;
        nextFrame = i + 1;
        if (!open) {
          if (ringLen === 0) ringFirstFrame = i;
          const slot = (ringFirst + ringLen) % capacity;
          ring.set(b.feats.subarray(k * D, k * D + D), slot * D);
          ringArrival[slot] = b.arrivalMs;
          if (ringLen < capacity) ringLen++;
          else {
            ringFirst = (ringFirst + 1) % capacity;
            ringFirstFrame++;
          }
          if (speech[k] === 1) {
            open = true;
            startFrame = ringFirstFrame;
            silenceRun = 0;
            emit({ kind: 'speech.started', audioMs: Math.max(ringFirstFrame, i - o.onsetFrames + 1) * FRAME_MS });
            emit({ kind: 'utterance.start', startFrame });
            emitRing(emit);
            runStart = k + 1;
          }
          continue;
        }
        silenceRun = speech[k] === 1 ? 0 : silenceRun + 1;
        if (isSilenceEnd()) {
          flushRun(k + 1);
          close('silence', i - silenceRun + 1, b.arrivalMs, emit);
        } else if (isFull()) {
          flushRun(k + 1);
          close('max_utterance', i + 1 - silenceRun, b.arrivalMs, emit);
        }
        if (!open) runStart = k + 1;
      }
      if (open) flushRun(b.frames);
    };

    return {
      next(item, emit) {
        if (item.kind === 'frames') {
          onBlock(item, emit);
          return;
        }
        // speech.stopped where speech stopped: at the first frame of a trailing non-speech run, as a silence
        // endpoint would put it (a client that finalizes 300 ms after its last word did not speak until then)
        if (open) close(item.kind === 'end' ? item.reason : 'finalize', nextFrame - silenceRun, item.arrivalMs, emit);
        ringLen = 0;
        if (item.kind === 'end') {
          nextFrame = 0;
          emit(item);
        }
      },
      teardown() {
        settingsSub.unsubscribe();
      },
    };
  });
}
