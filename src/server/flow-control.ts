/**
 * FlowControl: inbound flow control of one session (docs/protocol.md section 6). After each audio frame and on every
 * event while paused, the pipeline's backlog (audio pushed but not yet through the model) is compared with the limits:
 * `flow.pause` above the high-water mark, `flow.resume` below the low-water mark, GW_ERR_BACKLOG (fatal, close 4003)
 * above the hard limit. Split out of session.ts so the state machine only says when to check and when to stop.
 *
 * While paused the backlog is re-polled every {@link FLOW_POLL_MS}: a client obeying `flow.pause` sends nothing, so
 * `flow.resume` must not wait for audio to arrive. The poll timer is unref'd and cleared by {@link FlowControl.stop}.
 *
 * The hard limit punishes a client that kept sending AFTER it saw `flow.pause`, not the audio that was already in
 * flight: a fast uploader can have seconds of audio in the kernel's socket buffers, and the server reads it in one
 * burst when its event loop comes back (session 13 saw a well-behaved client overshoot the 8 s of slack). So every
 * `flow.pause` is followed by a WebSocket ping with a numbered payload; the client's WebSocket stack echoes it
 * without its application's help, and TCP keeps order, so everything that arrives after that pong was sent after the
 * client saw the pause. Until the pong, in-flight audio is accepted up to {@link BACKLOG_CAP_FACTOR} x the hard limit
 * (checked on arrival, before the DSP stages work through it), which also caps a client whose stack never answers
 * pings, and a single frame carrying more audio than that.
 */
import { GatewayError, toGatewayError } from '../protocol/errors.js';
import type { ServerMessage } from '../protocol/messages.js';
import type { SendResult } from '../transports/transport.js';
import type { SessionLimitsConfig } from './config.js';
import type { GatewayMetrics } from './metrics.js';
import type { SessionStatsCounter } from './session-stats.js';

/**
 * The pipeline's bound on a session's unprocessed audio, as a multiple of the hard limit: what audio in flight before
 * the client saw `flow.pause` may reach (and all that a client whose stack never answers pings may send).
 */
export const BACKLOG_CAP_FACTOR = 2;

/** How often the backlog is re-checked while the client is paused (flow.resume needs no audio to arrive). */
export const FLOW_POLL_MS = 20;

export interface FlowControlDeps {
  limits: Pick<SessionLimitsConfig, 'flowHighWaterMs' | 'flowLowWaterMs' | 'backlogLimitMs'>;
  /** The pipeline's unprocessed audio in ms, or null while the session is not streaming (then nothing happens). */
  backlogMs: () => number | null;
  /** Connection.send's result: a `'dropped'` message never reached the client. */
  send: (msg: ServerMessage) => SendResult;
  /** Sends a WebSocket ping with this payload (Connection.ping). */
  ping: (payload: Uint8Array) => void;
  /** Ends the session with GW_ERR_BACKLOG; also gets anything a poll throws (as a GatewayError). */
  fail: (err: GatewayError) => void;
  /** `flow.resume` was sent: the client may send again. */
  resumed: () => void;
  stats: SessionStatsCounter;
  metrics: GatewayMetrics | undefined;
}

export class FlowControl {
  private pausedNow = false;
  private pollTimer: NodeJS.Timeout | undefined;
  /** Number of the latest flow.pause, the payload of its ping. */
  private pauseNumber = 0;
  /** The client's stack echoed the latest flow.pause's ping: audio arriving now was sent after the pause. */
  private pauseSeen = false;

  constructor(private readonly deps: FlowControlDeps) {}

  /** The client was told `flow.pause` and not yet `flow.resume`. */
  get paused(): boolean {
    return this.pausedNow;
  }

  /**
   * Compares the backlog with the limits and sends `flow.pause` / `flow.resume` on a change. `afterAudio`: called
   * right after an audio push, which also feeds the backlog histogram and enforces the hard limit.
   */
  check(afterAudio: boolean): void {
    const backlog = this.deps.backlogMs();
    if (backlog === null) return;
    const { flowHighWaterMs, flowLowWaterMs, backlogLimitMs } = this.deps.limits;
    const m = this.deps.metrics;
    if (afterAudio) {
      m?.inboundBacklogSeconds.observe(backlog / 1000);
      if (backlog > backlogLimitMs && this.pausedNow && this.pauseSeen) {
        this.deps.fail(new GatewayError('GW_ERR_BACKLOG', `unprocessed audio ${Math.round(backlog)} ms exceeds the `
          + `limit of ${backlogLimitMs} ms (the client kept sending after flow.pause)`));
        return;
      }
      const capMs = BACKLOG_CAP_FACTOR * backlogLimitMs;
      if (backlog > capMs) {
        this.deps.fail(new GatewayError('GW_ERR_BACKLOG', `unprocessed audio ${Math.round(backlog)} ms exceeds the `
          + `in-flight cap of ${capMs} ms`));
        return;
      }
    }
    if (!this.pausedNow && backlog > flowHighWaterMs) {
      this.pausedNow = true;
      // stats.flow_pauses and voxgate_flow_pauses_total count pauses sent. A refused one means the socket closed
      // (maybe at the outbound hard limit by this very send), so the session is ending and its close stops the poll.
      if (this.deps.send({ type: 'flow.pause', buffered_ms: Math.round(backlog) }) !== 'dropped') {
        this.deps.stats.flowPauses++;
        m?.flowPausesTotal.inc();
      }
      this.pauseNumber++;
      this.pauseSeen = false;
      this.deps.ping(pausePayload(this.pauseNumber));
      this.pollTimer = setInterval(() => this.poll(), FLOW_POLL_MS).unref();
    } else if (this.pausedNow && (backlog < flowLowWaterMs || backlog <= 0)) {
      // An empty backlog always resumes: with a low-water mark of 0 (valid config) `< 0` never held, so the client
      // stayed paused, and never idle, until the maximum duration.
      this.pausedNow = false;
      clearInterval(this.pollTimer);
      this.deps.send({ type: 'flow.resume', buffered_ms: Math.round(backlog) });
      this.deps.resumed();
    }
  }

  /**
   * A binary frame of zero bytes: it carries no audio to hold against the limits, but it is a binary audio frame, at
   * each of which `voxgate_inbound_backlog_seconds` is sampled (docs/protocol.md section 10).
   */
  emptyFrame(): void {
    const backlog = this.deps.backlogMs();
    if (backlog !== null) this.deps.metrics?.inboundBacklogSeconds.observe(backlog / 1000);
  }

  /** A pong arrived: if it echoes the latest flow.pause's ping, the client has seen that pause. */
  acknowledged(payload: Uint8Array): void {
    if (this.pausedNow && Buffer.from(payload).equals(pausePayload(this.pauseNumber))) this.pauseSeen = true;
  }

  /** Stops polling (the session is ending or closed); the client is no longer considered paused. */
  stop(): void {
    clearInterval(this.pollTimer);
    this.pausedNow = false;
  }

  private poll(): void {
    try {
      this.check(false);
    } catch (e) {
      this.deps.fail(toGatewayError(e));
    }
  }
}

/** Ping payload of flow.pause number `n` (distinct from keepalive pings, which are empty). */
function pausePayload(n: number): Uint8Array {
  return Buffer.from(`voxgate-flow-${n}`);
}
