/**
 * The events a SessionPipeline emits (the server maps them 1:1 to wire messages, adding seq and latency_ms), the
 * surface a per-session pipeline offers the server (SessionPipeline and MultichannelPipeline both have it), and the
 * clock that gives the events their session times (`SegmentClock`).
 */
import type { Observable } from 'rxjs';
import type { FinalReason } from '../protocol/messages.js';
import type { Hotword } from '../protocol/session-config.js';
import type { DecodeSettings } from './ctc-decode.js';
import { FRAME_MS } from './endpoint.js';
import type { SegmentBoundaries } from './stream-items.js';

export interface PipelineWord {
  word: string;
  /** Audio time since session start, ms (40 ms resolution). */
  startMs: number;
  endMs: number;
  /** In [0, 1]. */
  confidence: number;
}

/** Only on events of a multichannel session (multichannel-pipeline.ts): the input channel, 0 left, 1 right. */
interface ChannelTag {
  channel?: number;
}

export type PipelineEvent = ChannelTag & (
  /** The VAD saw speech begin at `audioMs` (audio time since session start). */
  | { kind: 'speech.started'; audioMs: number }
  /** The open speech region ended at `audioMs` (always before the final of its utterance). */
  | { kind: 'speech.stopped'; audioMs: number }
  | {
    kind: 'partial'; utteranceId: number; text: string; stableText: string; startMs: number; endMs: number;
    /** performance.now() at receipt of the newest audio this partial covers: latency_ms = send time - this. */
    newestArrivalMs: number;
  }
  | {
    kind: 'final'; utteranceId: number; text: string; words: PipelineWord[]; confidence: number; startMs: number;
    endMs: number; reason: FinalReason; newestArrivalMs: number;
    /** With session.start `alternatives` > 1, on kept finals: distinct texts, best first (the first is `text`). */
    alternatives?: { text: string; confidence: number }[];
    /** Set when the utterance was rejected as noise (then text '', no words, confidence 0): what was heard. */
    rejected?: { text: string; confidence: number };
  });

/** The per-session pipeline as the server's session.ts uses it (SessionPipeline, MultichannelPipeline). */
export interface SessionPipelinePort {
  /**
   * Completes after `end()`; errors with a GatewayError (INFERENCE / DECODER / ...). May be hot: the session
   * subscribes right after creating the pipeline, before any audio.
   */
  readonly events$: Observable<PipelineEvent>;
  /** Audio in the negotiated format; `arrivalMs` on the session's `now()` clock. May throw GatewayError. */
  pushAudio(bytes: Uint8Array, arrivalMs: number): void;
  /** Finalise the open utterance once all audio pushed so far is decoded. */
  finalize(): void;
  /** No more audio: decode everything, finalise with `reason`, complete `events$`. */
  end(reason?: FinalReason): Promise<void>;
  updateHotwords(hotwords: Hotword[]): void;
  updateEndpointing(e: { silenceMs: number; maxUtteranceMs: number }): void;
  /** session.update's min_confidence / alternatives / background_rejection_db, from the audio not yet decoded on. */
  updateDecoding(d: DecodeSettings): void;
  /** Audio pushed but not yet run through the model, ms. */
  backlogMs(): number;
  /**
   * Abandons the session (fatal error, socket closed without session.end): tears the stages down, frees the encoder;
   * an `end()` pending or called later rejects at once with GW_ERR_SESSION_ENDED (nothing was flushed).
   */
  dispose(): void;
}

/** A segment of the stream (stream-items.ts, "Segments"): frames `startFrame ..` from session time `startMs` on;
 * `endFrame` / `endMs` once its end is known (Infinity before). */
interface Segment {
  startFrame: number;
  startMs: number;
  endFrame: number;
  endMs: number;
}

/**
 * Session times of a pipeline's events. The stages time events in frame time (fbank frame index x 10 ms; endpoint.ts,
 * ctc-decode.ts), which within a segment is the session time shifted by where the segment started: each finalize
 * restarts the frame grid at its exact audio position, and a segment's frame count ((N + 80) // 160 for N samples)
 * ends up to 5 ms before or after its audio. So an event is placed in its segment (by its start; a speech.stopped in
 * that of its speech.started), shifted, and a time at or past the segment's last frame is the segment's end: a final
 * that ends at a finalize or at the end of the session ends at the last sample received, neither before it nor in
 * audio the client never sent. Without finalizes the only segment starts at 0 and only the end clamps.
 */
export class SegmentClock implements SegmentBoundaries {
  /** From the segment of the last event on; events come in audio order, so earlier ones are done with. */
  readonly #segments: Segment[] = [{ startFrame: 0, startMs: 0, endFrame: Infinity, endMs: Infinity }];
  /** The segment of the open speech region. */
  #speech: Segment = this.#segments[0]!;

  segmentEnded(endFrame: number, audioMs: number): void {
    const last = this.#segments[this.#segments.length - 1]!;
    last.endFrame = endFrame;
    last.endMs = audioMs;
    this.#segments.push({ startFrame: endFrame, startMs: audioMs, endFrame: Infinity, endMs: Infinity });
  }

  /** `e` in session time (the same object when no time moves). */
  toSessionTime(e: PipelineEvent): PipelineEvent {
    if (e.kind === 'speech.stopped') return this.#moved(e, this.#at(this.#speech, e.audioMs));
    if (e.kind === 'speech.started') {
      this.#speech = this.#segmentOf(e.audioMs);
      return this.#moved(e, this.#at(this.#speech, e.audioMs));
    }
    const segment = this.#segmentOf(e.startMs);
    const startMs = this.#at(segment, e.startMs), endMs = this.#at(segment, e.endMs);
    if (e.kind === 'partial') return startMs === e.startMs && endMs === e.endMs ? e : { ...e, startMs, endMs };
    let words = e.words;
    if (words.some((w) => this.#at(segment, w.startMs) !== w.startMs || this.#at(segment, w.endMs) !== w.endMs)) {
      words = words.map((w) => ({ ...w, startMs: this.#at(segment, w.startMs), endMs: this.#at(segment, w.endMs) }));
    }
    return startMs === e.startMs && endMs === e.endMs && words === e.words ? e : { ...e, startMs, endMs, words };
  }

  /** The segment whose frames hold frame time `frameMs` (the latest of several that start there: only the last of
   * them has frames). */
  #segmentOf(frameMs: number): Segment {
    let k = this.#segments.length - 1;
    while (k > 0 && this.#segments[k]!.startFrame * FRAME_MS > frameMs) k--;
    this.#segments.splice(0, k);
    return this.#segments[0]!;
  }

  #at(segment: Segment, frameMs: number): number {
    if (frameMs >= segment.endFrame * FRAME_MS) return segment.endMs;
    // the whole-ms frame offset first: the segment's frame 0 is exactly its startMs (a boundary's speech.stopped and
    // the next speech.started must compare equal, not a rounding apart)
    return Math.min(segment.startMs + (frameMs - segment.startFrame * FRAME_MS), segment.endMs);
  }

  #moved<E extends { audioMs: number }>(e: E, audioMs: number): E {
    return audioMs === e.audioMs ? e : { ...e, audioMs };
  }
}
