/**
 * The items that flow between the per-session RxJS stages (stream/*.ts), the encoder contract those stages consume,
 * and `statefulOperator`, the one helper every synchronous stage is built with.
 *
 * Time base. Every item that carries audio also carries `arrivalMs`: the `performance.now()` (ms) at socket receipt
 * of the NEWEST input audio it depends on. A stage that emits output while consuming input x stamps the output with
 * x's arrival (lookahead means the output needs x); tails emitted on `finalize` / `end` take that item's arrival
 * (the newest audio before it). Audio positions are 10 ms fbank frame indices, counted on from the session start
 * across segments (below): within a segment, frame i starts 10 ms after frame i - 1 (resampling and denoising are
 * time-aligned, so this is also source time).
 *
 * Segments. Control items (`finalize`, `end`) travel in-band so they act at their position in the audio stream;
 * each stage flushes what it holds on either (resampler tail, denoiser tail, the fbank's last frames and their VAD
 * decisions) and forwards the item after that tail, so a finalize ends a segment of the stream exactly as `end` ends
 * the stream, and the stages start afresh after it (keeping only what describes the room: the denoiser's noise
 * estimate, the VAD's noise floor; and the denoiser's first frame and the VAD's high-pass read the audio just before
 * the cut, where a stream's start has zeros: a new frame grid must not turn a converter's offset or a mains hum into
 * a click). The fbank stage reports each segment's end (`SegmentBoundaries`): a segment of N samples has
 * (N + 80) // 160 frames, whose 10 ms grid does not end where its audio does, so the next segment's frames start at
 * the boundary's exact audio time, not at frame end x 10 ms (session-pipeline.ts maps frame times to session times:
 * pipeline-event.ts `SegmentClock`).
 */
import { Observable, type OperatorFunction } from 'rxjs';
import { toGatewayError } from '../protocol/errors.js';
import type { FinalReason } from '../protocol/messages.js';

/** One binary frame as received. `bytes` is only read synchronously during the push. */
export interface AudioBytesItem {
  kind: 'bytes';
  bytes: Uint8Array;
  arrivalMs: number;
}

/** Mono Float32 samples (source rate before `resample`, 16 kHz after). Owned by the receiver. */
export interface SamplesItem {
  kind: 'samples';
  samples: Float32Array;
  arrivalMs: number;
}

/** Fbank frames `firstFrame .. firstFrame + frames - 1` (`frames x 80`, row-major) and the 16 kHz samples pushed. */
export interface FrameBlockItem {
  kind: 'frames';
  feats: Float32Array;
  frames: number;
  firstFrame: number;
  /** The 16 kHz samples whose push produced this block (the VAD consumes them; may be empty). */
  samples: Float32Array;
  /** Per frame, 1 where the VAD is in speech; null before the `vad` stage. */
  speech: Uint8Array | null;
  arrivalMs: number;
}

/** Finalise the open utterance at this position in the stream: the end of a segment (see the file comment). */
export interface FinalizeItem {
  kind: 'finalize';
  /** Arrival of the newest audio before the request. */
  arrivalMs: number;
  /** Audio received before the request, ms since the session start (exact: source samples / rate). */
  audioMs: number;
}

/** No more audio: stages flush their tails, the open utterance ends with `reason`. Followed by completion. */
export interface EndItem {
  kind: 'end';
  reason: FinalReason;
  arrivalMs: number;
  /** All audio received, ms since the session start. */
  audioMs: number;
}

/** Told by the fbank stage where each segment of the stream ends (session-pipeline.ts: pipeline-event.ts
 * `SegmentClock`). */
export interface SegmentBoundaries {
  /** The segment ends after fbank frame `endFrame - 1`, at `audioMs` (a control item's); the next starts there. */
  segmentEnded(endFrame: number, audioMs: number): void;
}

export type ControlItem = FinalizeItem | EndItem;

export interface SpeechStartedItem {
  kind: 'speech.started';
  audioMs: number;
}

export interface SpeechStoppedItem {
  kind: 'speech.stopped';
  audioMs: number;
}

/** An utterance opens; its audio starts at fbank frame `startFrame` (pre-roll included). */
export interface UtteranceStartItem {
  kind: 'utterance.start';
  startFrame: number;
}

/** Fbank frames of the open utterance, contiguous and in order (`frames x 80`; a view, read synchronously). */
export interface UtteranceFramesItem {
  kind: 'utterance.frames';
  feats: Float32Array;
  frames: number;
  firstFrame: number;
  arrivalMs: number;
}

/** The open utterance ends after frame `endFrame - 1`. */
export interface UtteranceEndItem {
  kind: 'utterance.end';
  reason: FinalReason;
  endFrame: number;
  arrivalMs: number;
}

export type SpeechItem = SpeechStartedItem | SpeechStoppedItem;

/** Output of `endpoint`, input of `encode`. */
export type SegmentItem = SpeechItem | UtteranceStartItem | UtteranceFramesItem | UtteranceEndItem | EndItem;

/** One encoder chunk's log-posteriors, utterance-relative output frames `firstOutputFrame ..`. */
export interface LogProbsItem {
  kind: 'logprobs';
  /** `frames x vocabSize` natural-log posteriors. */
  logProbs: Float32Array;
  frames: number;
  vocabSize: number;
  /** Exclusive end (fbank frame) of the real audio whose outputs this chunk completes. */
  endFrame: number;
  arrivalMs: number;
  /** Level of each real fbank frame the chunk read (dsp/fbank.ts fbankFrameLevelsDb), from frame `firstFrame` on. */
  levels?: { firstFrame: number; db: Float32Array };
}

/** Output of `encode`, input of `ctcDecode`. */
export type EncodedItem = SpeechItem | UtteranceStartItem | LogProbsItem | UtteranceEndItem | EndItem;

// ---------------------------------------------------------------------------------------------------------------
// Encoder contract: the subset of inference/encoder-pool.ts the stream layer consumes (structural, so the real
// EncoderPool and test doubles both fit).

/** What the stages need to know about the model (a subset of inference's ModelInfo). */
export interface StreamModelInfo {
  readonly name: string;
  readonly tokens: readonly string[];
  readonly blankId: number;
  readonly separatorId: number;
  readonly vocabSize: number;
  /** Fbank frames per output frame (4). */
  readonly subsamplingFactor: number;
  /** Output frame length in ms (40). */
  readonly frameMs: number;
  /** Extra fbank frames a chunk needs after its last output frame (3): T = subsampling x C + this. */
  readonly rightContextFeatureFrames: number;
}

export interface EncoderRunResult {
  logProbs: Float32Array;
  frames: number;
  vocabSize: number;
}

/** One session's cached encoder state (inference/encoder-pool.ts `EncoderStream`). */
export interface StreamEncoderStream {
  readonly id: number;
  /** feats: `frames x 80` row-major; the callee may take ownership (transfer) of the buffer. */
  run(feats: Float32Array, frames: number): Promise<EncoderRunResult>;
  /** Zero the caches: the next run starts a new utterance. */
  reset(): void;
  close(): void;
}

/** The shared encoder (inference/encoder-pool.ts `EncoderPool`). */
export interface StreamEncoder {
  openStream(): StreamEncoderStream;
}

// ---------------------------------------------------------------------------------------------------------------

/** Per-subscription handlers of a synchronous stage. */
export interface StageHandlers<I, O> {
  next(item: I, emit: (o: O) => void): void;
  /** Called when the source completes, before completing downstream. */
  complete?(emit: (o: O) => void): void;
  /** Releases per-subscription resources (unsubscribe, error, completion). */
  teardown?(): void;
}

/**
 * Builds an operator whose state lives in the subscribe closure: `setup(emit, fail)` runs once per subscription and
 * returns the handlers; `emit` is also there for a stage that must emit between items, on a change of its own
 * settings (a lowered maximum utterance length in endpoint.ts). Anything a handler throws becomes an error
 * notification (wrapped into a GatewayError with `errorCode`); so does what a stage passes to `fail`, for work outside
 * the handlers (a settings subscription: a throw there would escape to RxJS's unhandled-error report, an
 * uncaughtException, while the stage went on). `fail` may come during setup (a BehaviorSubject's current value);
 * then the handlers are torn down as soon as setup returns them. Teardown runs exactly once however the subscription
 * ends.
 */
export function statefulOperator<I, O>(
  setup: (emit: (o: O) => void, fail: (e: unknown) => void) => StageHandlers<I, O>,
  errorCode: Parameters<typeof toGatewayError>[1] = 'GW_ERR_INTERNAL',
): OperatorFunction<I, O> {
  return (source) =>
    new Observable<O>((subscriber) => {
      const emit = (o: O): void => subscriber.next(o);
      let handlers: StageHandlers<I, O> | undefined;
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        handlers?.teardown?.();
      };
      const fail = (e: unknown): void => {
        if (released) return;
        release();
        subscriber.error(toGatewayError(e, errorCode));
      };
      try {
        handlers = setup(emit, fail);
      } catch (e) {
        fail(e);
        return undefined;
      }
      if (released) {
        handlers.teardown?.();
        return undefined;
      }
      const stage = handlers;
      const subscription = source.subscribe({
        next: (item) => {
          try {
            stage.next(item, emit);
          } catch (e) {
            fail(e);
          }
        },
        error: (e: unknown) => {
          release();
          subscriber.error(e);
        },
        complete: () => {
          try {
            stage.complete?.(emit);
          } catch (e) {
            fail(e);
            return;
          }
          release();
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        release();
      };
    });
}
