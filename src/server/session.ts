/**
 * The Protocol v1 state machine of ONE socket (docs/protocol.md sections 2-8): connected -> started -> ending ->
 * closed. It validates client messages (src/protocol/validate.ts), feeds audio to a {@link SessionPipelinePort},
 * keeps the start, idle and max-duration deadlines ({@link SessionTimers}), and ends the session per section 2
 * ("How a session ends on a fatal error").
 * What it delegates, deciding only when: session.start checks and session.started (session-start.ts), pipeline
 * events -> transcript / speech messages ({@link TranscriptSender}), and flow.pause / flow.resume / GW_ERR_BACKLOG
 * ({@link FlowControl}).
 *
 * Nothing escapes: every entry point catches, and an unexpected exception ends only this session (GW_ERR_INTERNAL,
 * close 1011). All timers are unref'd and cleared when the socket closes.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Subscription } from 'rxjs';
import { CLOSE_CODES, GatewayError, toGatewayError, type GwErrorCode } from '../protocol/errors.js';
import type {
  ClientMessage, FinalReason, ServerMessage, SessionStartMessage, SessionUpdateMessage,
} from '../protocol/messages.js';
import type { SessionConfig } from '../protocol/session-config.js';
import { bytesPerSampleFrame, clientMessageType, parseClientJson, validateClientMessage } from '../protocol/validate.js';
import type { CloseOrigin, Connection, SendResult } from '../transports/transport.js';
import { closeOutcome } from './close-outcome.js';
import type { SessionLimitsConfig } from './config.js';
import { FlowControl } from './flow-control.js';
import { sessionLogger, type Logger } from './logger.js';
import type { LatencyMonitor } from './latency-monitor.js';
import type { GatewayMetrics } from './metrics.js';
import type { PipelineEvent, SessionPipelinePort, SessionServices } from './session-pipeline-port.js';
import { finishPipeline } from './session-finish.js';
import { acceptSessionStart, acceptSessionUpdate, sessionStartedMessage } from './session-start.js';
import { SessionStatsCounter } from './session-stats.js';
import { refusedInState, type SessionState } from './session-state.js';
import { SessionTimers } from './session-timers.js';
import { TextRateLimiter } from './text-rate-limit.js';
import { TranscriptSender } from './transcript-sender.js';

export interface SessionDeps {
  services: SessionServices;
  limits: SessionLimitsConfig;
  logger: Logger;
  metrics?: GatewayMetrics;
  /** The gateway's recent transcript latency (load shedding), fed by this session's transcripts. */
  latency?: LatencyMonitor;
  /** Monotonic clock in ms (default performance.now); also the clock of `arrivalMs` / `newestArrivalMs`. */
  now?: () => number;
  /** Called once when the socket has closed, with the outcome (`client_end`, an error code or `abandoned`). */
  onClosed?: (session: Session, outcome: string) => void;
}

export class Session {
  readonly id = randomUUID();
  private state: SessionState = 'connected';
  private config: SessionConfig | null = null;
  private pipeline: SessionPipelinePort | null = null;
  private subscription: Subscription | null = null;
  private eventsDone: Promise<void> = Promise.resolve();
  private ending: Promise<void> | null = null;
  private markReleased!: () => void;
  /**
   * Resolves when the pipeline is released (fatal error or socket closed). A disposed pipeline never completes, so
   * `finish` also waits for this: else a client leaving mid-finalisation held `shutdown()` (the drain) to its deadline.
   */
  private readonly released = new Promise<void>((resolve) => { this.markReleased = resolve; });
  /** Set when the server decided how the session ends (before closing); `abandoned` if the client closed first. */
  private outcome: string | null = null;
  /** Created with the pipeline at session.start. */
  private transcripts: TranscriptSender | null = null;
  private readonly timers: SessionTimers;
  private readonly stats: SessionStatsCounter;
  private readonly flow: FlowControl;
  private readonly textBudget: TextRateLimiter;
  /** Carries session_id (and the account, from the gateway); from session.start on also the client's tag. */
  private log: Logger;
  private readonly now: () => number;
  private readonly m: GatewayMetrics | undefined;

  constructor(private readonly conn: Connection, private readonly deps: SessionDeps) {
    this.now = deps.now ?? (() => performance.now());
    this.m = deps.metrics;
    this.log = sessionLogger(deps.logger, this.id);
    this.stats = new SessionStatsCounter(this.now());
    this.textBudget = new TextRateLimiter(this.now(), deps.limits.maxFrameBytes);
    this.flow = new FlowControl({
      limits: deps.limits,
      backlogMs: () => (this.state === 'started' && this.pipeline !== null ? this.pipeline.backlogMs() : null),
      send: (msg) => this.send(msg),
      ping: (payload) => this.conn.ping(payload),
      fail: (err) => this.fail(err),
      // The time held by flow.pause was not idleness: the client gets the whole idle allowance from flow.resume.
      resumed: () => this.timers.touch(),
      stats: this.stats,
      metrics: this.m,
    });
    this.m?.sessionsActive.inc();
    const { limits } = deps;
    this.timers = new SessionTimers(limits, {
      onStartTimeout: () => this.guard(() => {
        if (this.state === 'connected') {
          this.fail(new GatewayError('GW_ERR_START_TIMEOUT', `no session.start within ${limits.startTimeoutMs} ms`));
        }
      }),
      // The client obeying flow.pause sends nothing; that is not idleness.
      onIdleTimeout: () => this.guard(() => (this.flow.paused ? this.timers.touch()
        : this.fail(new GatewayError('GW_ERR_IDLE_TIMEOUT', `no audio and no ping for ${limits.idleTimeoutMs} ms`)))),
      onMaxDuration: () => void this.endWithFinal('GW_ERR_MAX_DURATION', 'max_duration',
        `session reached its maximum duration of ${limits.maxDurationMs} ms`),
    });
    this.log.debug({ remote: conn.remoteAddress }, 'connection opened');
  }

  get currentState(): SessionState { return this.state; }

  /** One inbound frame from the transport. Never throws. */
  handleMessage(data: Uint8Array | string, isBinary: boolean): void {
    try {
      if (this.state === 'closed' || this.outcome !== null) return;
      if (isBinary || typeof data !== 'string') this.onAudio(data as Uint8Array);
      else this.onText(data);
    } catch (e) {
      this.fail(toGatewayError(e));
    }
  }

  /** A fatal error the transport detected (a frame over the limit): ends the session as any other. Never throws. */
  handleError(err: GatewayError): void { this.fail(err); }

  /** A pong from the client's WebSocket stack (flow control's acknowledgement of flow.pause). Never throws. */
  handlePong(payload: Uint8Array): void {
    if (this.state !== 'closed' && this.outcome === null) this.flow.acknowledged(payload);
  }

  /** The socket closed; `origin` is who started it. Never throws. */
  handleClose(code: number, reason: string, origin: CloseOrigin): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    try {
      this.clearTimers();
      this.release();
      let outcome = this.outcome;
      if (outcome === null) {
        // The transport enforcing a rule (its error code) or the client leaving (`abandoned`, whatever its code).
        const closed = closeOutcome(code, origin);
        if (closed !== 'abandoned') this.m?.countError(closed);
        outcome = closed;
      }
      this.m?.sessionsActive.dec();
      this.m?.sessionsTotal.inc({ reason: outcome });
      const receivedMs = this.stats.receivedMs(this.config);
      this.log.info({ outcome, close_code: code, close_reason: reason, close_origin: origin,
        stats: this.stats.toWire(receivedMs, this.backlog(), this.now()) }, 'session closed');
      this.deps.onClosed?.(this, outcome);
    } catch (e) {
      this.log.error({ err: e }, 'error while closing session');
    }
  }

  /**
   * Drain (SIGTERM): a started session transcribes what it holds, finalises (`reason: shutdown`), then gets
   * GW_ERR_SHUTTING_DOWN, `session.ended` and close 1001; an unstarted one gets the error and 1001. A session already
   * ending after `session.end` just finishes. Resolves when the session has sent its last message.
   */
  shutdown(): Promise<void> {
    return this.endWithFinal('GW_ERR_SHUTTING_DOWN', 'shutdown', 'server is shutting down');
  }

  /**
   * Immediate shutdown (`gateway.close()`; the drain's deadline, whose `message` says so): nothing more is transcribed
   * or finalised. The client gets GW_ERR_SHUTTING_DOWN, `session.ended` (reason `error`) once started, and close 1001;
   * counted as GW_ERR_SHUTTING_DOWN. A no-op once the session decided its end.
   */
  shutdownNow(message = 'server is shutting down; the session ends without finalising'): void {
    this.fail(new GatewayError('GW_ERR_SHUTTING_DOWN', message));
  }

  // --- Inbound ---------------------------------------------------------------------------------------------

  private onText(text: string): void {
    const overBudget = this.textBudget.take(text.length, this.now());
    if (overBudget !== null) return this.fail(overBudget);
    let msg: ClientMessage;
    try {
      const value = parseClientJson(text, this.deps.limits.maxFrameBytes);
      // The state decides before the fields do (session-state.ts).
      const refused = refusedInState(this.state, clientMessageType(value));
      if (refused !== null) return this.fail(refused);
      msg = validateClientMessage(value);
    } catch (e) {
      this.fail(toGatewayError(e));
      return;
    }
    switch (msg.type) {
      case 'ping':
        this.timers.touch();
        this.send(msg.id === undefined ? { type: 'pong' } : { type: 'pong', id: msg.id });
        break;
      case 'session.start': this.start(msg); break;
      case 'session.update': this.update(msg); break;
      case 'session.finalize': this.transcripts?.flushRequested(); this.pipeline?.finalize(); break;
      case 'session.end': this.endByClient(); break;
    }
  }

  private start(msg: SessionStartMessage): void {
    const { services, limits } = this.deps;
    const { config, pipeline } = acceptSessionStart(msg, services);
    this.config = config;
    this.pipeline = pipeline;
    if (config.tag !== null) this.log = this.log.child({ tag: config.tag });
    this.transcripts = new TranscriptSender({ send: (out, droppable) => this.send(out, droppable),
      isClosed: () => this.conn.closed, now: this.now, stats: this.stats, metrics: this.m, latency: this.deps.latency,
      interimResults: config.interimResults, numerals: config.numerals });
    this.eventsDone = new Promise<void>((resolve, reject) => {
      this.subscription = pipeline.events$.subscribe({
        next: (ev) => this.onPipelineEvent(ev),
        error: (e: unknown) => reject(toGatewayError(e, 'GW_ERR_INFERENCE')),
        complete: () => resolve(),
      });
    });
    // A pipeline failure while streaming ends the session; during ending it is awaited (and handled) there.
    this.eventsDone.catch((e: GatewayError) => {
      if (this.state === 'started') this.fail(e);
    });
    this.state = 'started';
    this.send(sessionStartedMessage(this.id, config, services, limits));
    this.timers.started();
    this.log.info({ encoding: config.encoding, sample_rate_hz: config.sampleRateHz, channels: config.channels,
      chunk_ms: config.chunkMs, hotwords: config.hotwords.length, denoise: config.denoise }, 'session started');
  }

  private update(msg: SessionUpdateMessage): void {
    const { config, reply } = acceptSessionUpdate(msg, this.config!, this.pipeline!,
      () => this.transcripts!.flushRequested());
    this.config = config;
    this.transcripts!.update({ numerals: config.numerals });
    this.send(reply);
  }

  private onAudio(bytes: Uint8Array): void {
    if (this.state === 'connected') {
      this.fail(new GatewayError('GW_ERR_NOT_STARTED', 'binary audio before session.start'));
      return;
    }
    if (this.state === 'ending') {
      // Closing (session.end, drain or max duration): the audio is not transcribed, so it is counted in
      // session.ended's bytes_discarded and the first such frame gets an error: never lost silently. An empty frame
      // carries no audio to lose, so it neither gets the error nor uses it up.
      if (this.stats.bytesDiscarded === 0 && bytes.byteLength > 0) {
        this.fail(new GatewayError('GW_ERR_SESSION_ENDED', 'audio after the session began closing is not transcribed'
          + ' (counted in session.ended stats.bytes_discarded)'));
      }
      this.stats.bytesDiscarded += bytes.byteLength;
      return;
    }
    const config = this.config!;
    const frameBytes = bytesPerSampleFrame(config.encoding, config.channels);
    if (bytes.byteLength % frameBytes !== 0) {
      throw new GatewayError('GW_ERR_PARTIAL_SAMPLE', `binary frame must be a multiple of ${frameBytes} bytes `
        + `(${config.encoding}, ${config.channels} channel(s)), got ${bytes.byteLength}`);
    }
    this.timers.touch();
    this.stats.bytesReceived += bytes.byteLength;
    this.stats.framesReceived++;
    if (bytes.byteLength === 0) return this.flow.emptyFrame();
    this.m?.audioSecondsTotal.inc(bytes.byteLength / frameBytes / config.sampleRateHz);
    this.pipeline!.pushAudio(bytes, this.now());
    this.flow.check(true);
  }

  // --- Outbound --------------------------------------------------------------------------------------------

  private onPipelineEvent(ev: PipelineEvent): void {
    this.guard(() => {
      if (this.state === 'closed' || this.outcome !== null) return;
      this.transcripts!.send(ev);
      if (this.flow.paused) this.flow.check(false);
    });
  }

  private send(msg: ServerMessage, droppable = false): SendResult {
    if (this.conn.closed) return 'dropped';
    return this.conn.send(JSON.stringify(msg), droppable ? { droppable: true } : undefined);
  }

  private sendEnded(errorCode?: GwErrorCode): void {
    const receivedMs = this.stats.receivedMs(this.config);
    const stats = this.stats.toWire(receivedMs, this.backlog(), this.now());
    this.send(errorCode === undefined
      ? { type: 'session.ended', session_id: this.id, audio_ms: stats.audio_ms, reason: 'client_end', stats }
      : { type: 'session.ended', session_id: this.id, audio_ms: stats.audio_ms, reason: 'error', error_code: errorCode,
        stats });
  }

  // --- Ending ----------------------------------------------------------------------------------------------

  /** `session.end`: transcribe everything, final (`session_end`), `session.ended`, close 1000. */
  private endByClient(): void {
    this.ending = this.finish('session_end').then((ok) => {
      if (!ok || this.outcome !== null) return;
      this.outcome = 'client_end';
      this.sendEnded();
      this.conn.close(CLOSE_CODES.NORMAL, 'session ended');
    }).catch((e: unknown) => this.fail(toGatewayError(e)));
  }

  /** MAX_DURATION / SHUTTING_DOWN: open utterance finalised first, then the fatal error (section 2, step 1). */
  private endWithFinal(code: GwErrorCode, reason: FinalReason, message: string): Promise<void> {
    if (this.state === 'closed' || this.outcome !== null) return this.ending ?? Promise.resolve();
    if (this.state === 'connected') {
      this.fail(new GatewayError(code, message));
      return Promise.resolve();
    }
    if (this.state === 'ending') return this.ending ?? Promise.resolve();
    this.ending = this.finish(reason).then((ok) => {
      if (ok) this.fail(new GatewayError(code, message));
    }).catch((e: unknown) => this.fail(toGatewayError(e)));
    return this.ending;
  }

  /**
   * Enters `ending`, lets the pipeline decode what it holds and emit its last events, within the deadlines of
   * session-finish.ts. Resolves false when the session failed or closed meanwhile (the failure is already handled).
   */
  private async finish(reason: FinalReason): Promise<boolean> {
    this.state = 'ending';
    this.clearTimers();
    this.transcripts?.flushRequested();
    try {
      await finishPipeline(this.pipeline!, reason, { eventsDone: this.eventsDone, released: this.released,
        limits: this.deps.limits, log: this.log });
    } catch (e) {
      this.fail(toGatewayError(e, 'GW_ERR_INFERENCE'));
      return false;
    }
    return this.state === 'ending' && this.outcome === null && !this.conn.closed;
  }

  /**
   * Sends `error`. Non-fatal: that's all. Fatal: the pipeline is abandoned (no finalisation), a started session gets
   * `session.ended` (reason error), and the socket closes with the code's close code.
   */
  private fail(err: GatewayError): void {
    try {
      if (this.state === 'closed' || this.outcome !== null) return;
      // voxgate_errors_total counts errors sent. A refused one means the socket closed, maybe at the outbound hard
      // limit by this very send: that close is how the session ends, and handleClose counts it as such.
      if (this.send(err.toErrorMessage()) === 'dropped') return;
      this.m?.countError(err.code);
      if (!err.fatal) {
        this.log.debug({ code: err.code, err_message: err.message }, 'non-fatal error');
        return;
      }
      this.log.warn({ code: err.code, err_message: err.message }, 'session ends on a fatal error');
      this.outcome = err.code;
      this.clearTimers();
      if (this.state === 'started' || this.state === 'ending') this.sendEnded(err.code);
      this.release();
      this.conn.close(err.closeCode, err.code);
    } catch (e) {
      this.log.error({ err: e }, 'error while failing a session');
      this.conn.close(CLOSE_CODES.INTERNAL_ERROR, 'GW_ERR_INTERNAL');
    }
  }

  /** Runs `fn`; anything thrown ends this session with its GatewayError (GW_ERR_INTERNAL for the unexpected). */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.fail(toGatewayError(e));
    }
  }

  private clearTimers(): void {
    this.timers.stop();
    this.flow.stop();
  }

  /** Stops listening to the pipeline and frees it (idempotent; harmless after a clean end). */
  private release(): void {
    this.markReleased();
    this.subscription?.unsubscribe();
    try {
      this.pipeline?.dispose();
    } catch (e) {
      this.log.warn({ err: e }, 'pipeline dispose failed');
    }
  }

  private backlog(): number {
    try { return this.pipeline?.backlogMs() ?? 0; } catch { return 0; }
  }
}
