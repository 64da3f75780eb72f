/**
 * TranscriptSender: turns one session's pipeline events into wire messages (docs/protocol.md section 5):
 * `speech.started` / `speech.stopped`, `transcript.partial` and `transcript.final`, with `seq`, `latency_ms`, the
 * per-session stats and the gateway metrics. Split out of session.ts so the state machine only decides *whether* an
 * event may be sent (session still open); what goes on the wire, and what is counted, is decided here.
 *
 * Rules kept here: partials are droppable under outbound backpressure (counted in `partials_dropped`, unless the
 * socket had already closed) and a dropped partial does not use up a `seq`; a partial whose text equals the previous
 * partial of the same utterance is not sent; a final clears that memory. Only what was sent is counted as sent.
 * Load shedding (latency-monitor.ts) is fed the lag of each partial and of each final the endpointer ended, which is
 * its `latency_ms` except for audio that arrived before a flush request (`session.finalize`, the session's end, a
 * `session.update` that may end the utterance): that lag counts from the request (see `lagMs`).
 */
import { formatNumerals } from '../inference/numerals.js';
import type { ServerMessage, TranscriptAlternative } from '../protocol/messages.js';
import type { SendResult } from '../transports/transport.js';
import type { LatencyMonitor } from './latency-monitor.js';
import type { GatewayMetrics } from './metrics.js';
import type { PipelineEvent } from './session-pipeline-port.js';
import type { SessionStatsCounter } from './session-stats.js';

export interface TranscriptSenderDeps {
  /** Sends one message; a droppable one may come back `dropped` under outbound backpressure. */
  send: (msg: ServerMessage, droppable?: boolean) => SendResult;
  /** Whether the socket has closed (a drop then is not backpressure and is not counted). */
  isClosed: () => boolean;
  /** The session's monotonic clock in ms, the clock of the events' `newestArrivalMs`. */
  now: () => number;
  stats: SessionStatsCounter;
  metrics: GatewayMetrics | undefined;
  /** The gateway's recent latency (load shedding); every sent partial and final is recorded. */
  latency: LatencyMonitor | undefined;
  /** `session.start.interim_results`: false sends no partials at all. */
  interimResults: boolean;
  /** `session.start.numerals`: finals carry `formatted_text`. */
  numerals: boolean;
}

/** Deps that `session.update` may change; from the next message sent on. */
export type TranscriptSenderSettings = Pick<TranscriptSenderDeps, 'numerals'>;

export class TranscriptSender {
  /** Sequence number of the next transcript message; advances only when one is sent. */
  private seq = 0;
  /** Per channel (-1 without multichannel): the last partial sent, so that an unchanged text is not sent again. */
  private readonly lastPartial = new Map<number, { utteranceId: number; text: string }>();
  /** When the latest flush was asked for ({@link TranscriptSender.flushRequested}); -Infinity before any. */
  private flushRequestedMs = -Infinity;

  constructor(private deps: TranscriptSenderDeps) {}

  update(settings: TranscriptSenderSettings): void {
    this.deps = { ...this.deps, ...settings };
  }

  /**
   * The pipeline was asked to decode all audio received so far now: `session.finalize`, the session's end, or a
   * `session.update` that may end the open utterance at once.
   */
  flushRequested(): void {
    this.flushRequestedMs = this.deps.now();
  }

  /** Sends what `ev` maps to (possibly nothing). Throws only what `send` throws. */
  send(ev: PipelineEvent): void {
    const { stats, metrics: m } = this.deps;
    const channel = ev.channel === undefined ? {} : { channel: ev.channel };
    const partialKey = ev.channel ?? -1;
    switch (ev.kind) {
      case 'speech.started':
      case 'speech.stopped':
        this.deps.send({ type: ev.kind, ...channel, audio_ms: Math.round(ev.audioMs) });
        break;
      case 'partial': {
        if (!this.deps.interimResults) break;
        const last = this.lastPartial.get(partialKey);
        if (last !== undefined && last.utteranceId === ev.utteranceId && last.text === ev.text) break;
        const latencyMs = this.latencyMs(ev.newestArrivalMs);
        const result = this.deps.send({ type: 'transcript.partial', ...channel, utterance_id: ev.utteranceId,
          seq: this.seq, text: ev.text, stable_text: ev.stableText, start_ms: Math.round(ev.startMs),
          end_ms: Math.round(ev.endMs), latency_ms: latencyMs }, true);
        if (result === 'dropped') {
          if (this.deps.isClosed()) break;
          stats.partialsDropped++;
          m?.partialsDroppedTotal.inc();
          break;
        }
        this.seq++;
        this.lastPartial.set(partialKey, { utteranceId: ev.utteranceId, text: ev.text });
        stats.recordPartial(latencyMs);
        this.deps.latency?.record(this.lagMs(ev.newestArrivalMs), this.deps.now());
        m?.partialsSentTotal.inc();
        m?.partialLatencySeconds.observe(latencyMs / 1000);
        break;
      }
      case 'final': {
        const latencyMs = this.latencyMs(ev.newestArrivalMs);
        const result = this.deps.send({ type: 'transcript.final', ...channel, utterance_id: ev.utteranceId, seq: this.seq,
          text: ev.text,
          words: ev.words.map((w) => ({ word: w.word, start_ms: Math.round(w.startMs), end_ms: Math.round(w.endMs),
            confidence: w.confidence })),
          confidence: ev.confidence, start_ms: Math.round(ev.startMs), end_ms: Math.round(ev.endMs),
          latency_ms: latencyMs, reason: ev.reason,
          ...(this.deps.numerals ? { formatted_text: formatNumerals(ev.words.map((w) => w.word)) } : {}),
          ...(ev.alternatives ? { alternatives: ev.alternatives.map((a) => this.alternative(a)) } : {}),
          ...(ev.rejected ? { rejected: ev.rejected } : {}) });
        // A final is never dropped for backpressure: refused means the socket closed (maybe by this very send, at the
        // hard limit), so it was not sent and is not counted as sent.
        if (result === 'dropped') break;
        this.seq++;
        this.lastPartial.delete(partialKey);
        stats.finalsSent++;
        m?.finalsTotal.inc();
        if (ev.rejected) {
          stats.finalsRejected++;
          m?.finalsRejectedTotal.inc();
        }
        m?.finalLatencySeconds.observe(latencyMs / 1000);
        // Endpointer ends only: after finalize or session.end the "newest audio" may be long past (a client that
        // stops sending, then finalizes), which says nothing about the gateway's load. A silence or max_utterance
        // end can be a flush too (a session.update lowering endpointing ends the utterance at once): `lagMs`.
        if (ev.reason === 'silence' || ev.reason === 'max_utterance') {
          this.deps.latency?.record(this.lagMs(ev.newestArrivalMs), this.deps.now());
        }
        break;
      }
    }
  }

  private alternative(a: { text: string; confidence: number }): TranscriptAlternative {
    if (!this.deps.numerals) return { text: a.text, confidence: a.confidence };
    return { text: a.text, confidence: a.confidence, formatted_text: formatNumerals(a.text === '' ? [] : a.text.split(' ')) };
  }

  /**
   * How long the server sat on a partial, ms. A chunk that no later audio completed is decoded only when a flush is
   * asked for, so a client that stops sending mid-utterance and finalizes seconds later gets partials whose
   * `latency_ms` is its own pause: one such partial made the p90 of a quiet gateway pass --overload-latency-ms, and
   * every new session got 503 for 5 s. Audio that arrived before the request therefore counts from the request.
   */
  private lagMs(newestArrivalMs: number): number {
    return this.latencyMs(Math.max(newestArrivalMs, this.flushRequestedMs));
  }

  /** Send time minus the arrival of the newest audio the result depends on, ms (0 when that is unknown). */
  private latencyMs(newestArrivalMs: number): number {
    return Number.isFinite(newestArrivalMs) ? Math.max(0, Math.round(this.deps.now() - newestArrivalMs)) : 0;
  }
}
