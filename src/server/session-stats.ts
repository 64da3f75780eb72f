/**
 * Per-session counters behind `session.ended.stats` (docs/protocol.md section 5).
 */
import type { AudioEncoding, SessionStats } from '../protocol/messages.js';
import { audioBytesToMs } from '../protocol/validate.js';

export class SessionStatsCounter {
  bytesReceived = 0;
  framesReceived = 0;
  /** Audio that arrived after the session began closing: not transcribed, reported so nothing is lost silently. */
  bytesDiscarded = 0;
  partialsSent = 0;
  partialsDropped = 0;
  finalsSent = 0;
  finalsRejected = 0;
  flowPauses = 0;
  private latencySumMs = 0;
  private latencyMaxMs = 0;

  /** Wall-clock start, ms (the session's `now()` clock). */
  constructor(private readonly startedAtMs: number) {}

  /** Received audio in ms, fractional (0 before the format is known). */
  receivedMs(format: { encoding: AudioEncoding; sampleRateHz: number; channels: 1 | 2 } | null): number {
    return format === null ? 0 : audioBytesToMs(this.bytesReceived, format.encoding, format.sampleRateHz, format.channels);
  }

  recordPartial(latencyMs: number): void {
    this.partialsSent++;
    this.latencySumMs += latencyMs;
    this.latencyMaxMs = Math.max(this.latencyMaxMs, latencyMs);
  }

  /**
   * The wire stats. `backlogMs` is the pipeline's unprocessed audio: processed = received - backlog, so a clean end
   * (backlog 0) reports processed_audio_ms == audio_ms exactly.
   */
  toWire(receivedMs: number, backlogMs: number, nowMs: number): SessionStats {
    const audioMs = Math.round(receivedMs);
    return {
      audio_ms: audioMs,
      processed_audio_ms: backlogMs <= 0 ? audioMs : Math.max(0, Math.round(receivedMs - backlogMs)),
      bytes_received: this.bytesReceived,
      frames_received: this.framesReceived,
      bytes_discarded: this.bytesDiscarded,
      utterances: this.finalsSent,
      partials_sent: this.partialsSent,
      partials_dropped: this.partialsDropped,
      finals_sent: this.finalsSent,
      finals_rejected: this.finalsRejected,
      flow_pauses: this.flowPauses,
      duration_ms: Math.max(0, Math.round(nowMs - this.startedAtMs)),
      partial_latency_mean_ms: this.partialsSent === 0 ? null : round1(this.latencySumMs / this.partialsSent),
      partial_latency_max_ms: this.partialsSent === 0 ? null : this.latencyMaxMs,
    };
  }
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
