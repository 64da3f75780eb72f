/** The events a SessionPipeline emits (the server maps them 1:1 to wire messages, adding seq and latency_ms). */
import type { FinalReason } from '../protocol/messages.js';

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
    /** Set when the utterance was rejected as noise (then text '', no words, confidence 0): what was heard. */
    rejected?: { text: string; confidence: number };
  });
