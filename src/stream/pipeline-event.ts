/**
 * The events a SessionPipeline emits (the server maps them 1:1 to wire messages, adding seq and latency_ms), and the
 * surface a per-session pipeline offers the server (SessionPipeline and MultichannelPipeline both have it).
 */
import type { Observable } from 'rxjs';
import type { FinalReason } from '../protocol/messages.js';
import type { Hotword } from '../protocol/session-config.js';
import type { DecodeSettings } from './ctc-decode.js';

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

/**
 * `e` with every time past `audioMs` moved back to it (the same object when none is). Why: at the end of the stream
 * the fbank's last frame reads the reflected end of the signal, and its nominal end (frames x 10 ms) lies up to 5 ms
 * past the last sample received, so a final ending there (and its speech.stopped, its last word) would claim audio
 * the client never sent. Earlier times are never past the audio received when they are emitted.
 */
export function clampToAudio(e: PipelineEvent, audioMs: number): PipelineEvent {
  if (e.kind === 'speech.started' || e.kind === 'speech.stopped') {
    return e.audioMs > audioMs ? { ...e, audioMs } : e;
  }
  if (e.endMs <= audioMs) return e;
  const at = (ms: number): number => Math.min(ms, audioMs);
  return e.kind === 'partial' ? { ...e, startMs: at(e.startMs), endMs: audioMs }
    : { ...e, startMs: at(e.startMs), endMs: audioMs,
      words: e.words.map((w) => ({ ...w, startMs: at(w.startMs), endMs: at(w.endMs) })) };
}
