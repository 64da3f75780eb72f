/**
 * A {@link Session} without a socket: the exact server state machine (validation, seq, flow control, ending) driven
 * in-process through an in-memory {@link Connection}. The CLI's `transcribe` / `eval` without `--url` use it, so the
 * in-process path produces the same wire messages as a real server.
 */
import { randomUUID } from 'node:crypto';
import { GatewayError } from '../protocol/errors.js';
import { PROTOCOL_LIMITS, type ServerMessage, type SessionStartMessage } from '../protocol/messages.js';
import type { CloseOrigin, Connection, SendOptions, SendResult } from '../transports/transport.js';
import { DEFAULT_SESSION_LIMITS, type SessionLimitsConfig } from './config.js';
import { createLogger, type Logger } from './logger.js';
import type { GatewayMetrics } from './metrics.js';
import type { SessionServices } from './session-pipeline-port.js';
import { Session } from './session.js';

class LocalConnection implements Connection {
  readonly id = randomUUID();
  readonly remoteAddress = 'in-process';
  closed = false;
  onClose: ((code: number, reason: string, origin: CloseOrigin) => void) | undefined;
  onPong: ((payload: Uint8Array) => void) | undefined;

  constructor(private readonly deliver: (msg: ServerMessage) => void) {}

  send(data: string | Uint8Array, _opts?: SendOptions): SendResult {
    if (this.closed) return 'dropped';
    // Copy the message through JSON exactly as a socket would.
    this.deliver(JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString('utf8')) as ServerMessage);
    return 'sent';
  }

  bufferedAmount(): number {
    return 0;
  }

  /** Nothing is ever in flight in-process: the "peer" echoes at once, as a WebSocket stack would. */
  ping(payload: Uint8Array): void {
    if (!this.closed) queueMicrotask(() => this.onPong?.(new Uint8Array(payload)));
  }

  /** The session closing (the server's side). */
  close(code: number, reason: string): void {
    this.end(code, reason, 'server');
  }

  /** The in-process client leaving, as a client closing its socket. */
  leave(code: number, reason: string): void {
    this.end(code, reason, 'peer');
  }

  private end(code: number, reason: string, origin: CloseOrigin): void {
    if (this.closed) return;
    this.closed = true;
    queueMicrotask(() => this.onClose?.(code, reason, origin));
  }
}

export interface LocalSessionOptions {
  services: SessionServices;
  limits?: Partial<SessionLimitsConfig>;
  logger?: Logger;
  metrics?: GatewayMetrics;
  /** The session's monotonic clock in ms (default performance.now): rate limits and latencies are measured on it. */
  now?: () => number;
}

/** One in-process session. Messages arrive through `onMessage`; `closed` resolves with the close code. */
export class LocalSession {
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly conn: LocalConnection;
  private readonly session: Session;
  private readonly listeners = new Set<(msg: ServerMessage) => void>();

  constructor(options: LocalSessionOptions) {
    this.conn = new LocalConnection((msg) => {
      for (const l of this.listeners) l(msg);
    });
    this.closed = new Promise((resolve) => {
      this.conn.onClose = (code, reason, origin) => {
        this.session.handleClose(code, reason, origin);
        resolve({ code, reason });
      };
    });
    this.conn.onPong = (payload) => this.session.handlePong(payload);
    this.session = new Session(this.conn, {
      services: options.services,
      limits: { ...DEFAULT_SESSION_LIMITS, ...options.limits },
      logger: options.logger ?? createLogger({ level: 'silent' }),
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
      ...(options.now === undefined ? {} : { now: options.now }),
    });
  }

  /** True once the connection closed (the client left, or the server closed it): nothing more can be sent. */
  get isClosed(): boolean {
    return this.conn.closed;
  }

  /** Calls `listener` for every server message, in order. Returns an unsubscribe. */
  onMessage(listener: (msg: ServerMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A client text message (object form, serialised like a socket client would). Throws GW_ERR_SESSION_ENDED
   *  once closed. */
  sendJson(msg: SessionStartMessage | { type: string; [k: string]: unknown }): void {
    this.receive(JSON.stringify(msg), false);
  }

  /** Binary audio; split at the frame limit on sample boundaries of `frameBytes` (empty: one empty frame, as a socket
   *  client can send). The bytes are copied. Throws GW_ERR_SESSION_ENDED once closed, also between the parts of a
   *  split frame. */
  sendAudio(bytes: Uint8Array, frameBytes = 4): void {
    const step = PROTOCOL_LIMITS.maxFrameBytes - (PROTOCOL_LIMITS.maxFrameBytes % frameBytes);
    if (bytes.byteLength === 0) this.receive(new Uint8Array(0), true);
    for (let off = 0; off < bytes.byteLength; off += step) {
      this.receive(bytes.slice(off, Math.min(off + step, bytes.byteLength)), true);
    }
  }

  /** Abandons the session (like a client closing its socket). */
  abandon(): void {
    this.conn.leave(1000, 'client closed');
  }

  /**
   * The session hears of a close only from a microtask (as from a socket's close event), so until then it would take
   * what follows: after `abandon()` audio was pushed into the pipeline of a session the client had left, and after the
   * server's close it vanished without a word. A closed socket refuses both.
   */
  private receive(data: string | Uint8Array, isBinary: boolean): void {
    if (this.conn.closed) {
      throw new GatewayError('GW_ERR_SESSION_ENDED', 'the session\'s connection is closed: nothing more can be sent');
    }
    this.session.handleMessage(data, isBinary);
  }
}
