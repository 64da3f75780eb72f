/**
 * BaseConnection: the per-connection state machine both carriers share (the rules are in transport.ts's module
 * doc): outbound backpressure and the slow-consumer close, the inbound frame limit, close-once semantics with a
 * close timeout, pings with a payload (flow control's acknowledgement) and their pongs, and who started the close
 * ({@link CloseOrigin}). A carrier subclass implements the `carrier*` primitives and calls `deliver` / `ponged` /
 * `writable` / `carrierRefused` / `carrierClosed` from its events.
 */
import { CLOSE_CODES, GatewayError } from '../protocol/errors.js';
import {
  truncateReason, type CloseOrigin, type Connection, type ConnectionHandler, type SendOptions, type SendResult,
  type TransportOptions,
} from './transport.js';

export abstract class BaseConnection implements Connection {
  closed = false;
  private backpressured = false;
  private gone = false;
  /** `onClose` was queued; it is reported once, by whichever of close() and the carrier's close comes first. */
  private reported = false;
  /** `terminate()` destroyed the socket: the carrier's close that follows is the transport's doing, not the peer's. */
  private terminated = false;
  private closeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    readonly remoteAddress: string,
    protected readonly handler: ConnectionHandler,
    protected readonly options: TransportOptions,
  ) {}

  /** Writes one frame (queued when the socket is busy: `send` has checked the hard limit, the carrier has none). */
  protected abstract carrierSend(data: string | Uint8Array, isBinary: boolean): void;
  protected abstract carrierBufferedAmount(): number;
  /** Sends a close frame. */
  protected abstract carrierEnd(code: number, reason: string): void;
  /** Destroys the socket without a handshake. */
  protected abstract carrierTerminate(): void;
  protected abstract carrierPing(payload: Uint8Array): void;

  send(data: string | Uint8Array, opts?: SendOptions): SendResult {
    if (this.closed) return 'dropped';
    const buffered = this.bufferedAmount();
    if (opts?.droppable === true && buffered > this.options.highWaterMarkBytes) {
      this.backpressured = true;
      return 'dropped';
    }
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    if (buffered + size > this.options.maxBackpressureBytes) {
      this.closeAs(CLOSE_CODES.SLOW_CONSUMER, 'outbound buffer over limit', 'carrier');
      return 'dropped';
    }
    this.carrierSend(data, typeof data !== 'string');
    if (this.bufferedAmount() > this.options.highWaterMarkBytes) {
      this.backpressured = true;
      return 'buffered';
    }
    return 'sent';
  }

  /** 0 once closed: after close() `ws` still holds the unsent bytes until the socket goes, uWebSockets.js does not. */
  bufferedAmount(): number {
    return this.closed ? 0 : this.carrierBufferedAmount();
  }

  /**
   * Reports `onClose` with this code right away (from a microtask), not when the carrier's closing handshake ends:
   * uWebSockets.js ends the socket inside `end()`, but `ws` waits for the peer's echo, which a slow consumer (the very
   * case of 4004) never sends, so the session's pipeline ran on for `closeTimeoutMs`; the session also counted the
   * 1006 that followed as `abandoned`. Reported with origin `'server'`.
   */
  close(code: number, reason: string): void {
    this.closeAs(code, reason, 'server');
  }

  /** `close()` on behalf of `origin`: the server's own call, or a rule the transport enforces (`'carrier'`). */
  private closeAs(code: number, reason: string, origin: 'server' | 'carrier'): void {
    if (this.closed) return;
    this.closed = true;
    if (this.gone) return;
    const truncated = truncateReason(reason);
    this.report(code, truncated, origin);
    this.closeTimer = setTimeout(() => this.terminate(), this.options.closeTimeoutMs);
    this.closeTimer.unref();
    this.carrierEnd(code, truncated);
  }

  ping(payload: Uint8Array): void {
    if (payload.byteLength > 125) throw new RangeError(`ping payload over 125 bytes: ${payload.byteLength}`);
    if (!this.closed && !this.gone) this.carrierPing(payload);
  }

  /**
   * Destroys the socket now: the transport's keepalive dropping a silent peer, or the close timeout after `close()`.
   * `onClose` follows with 1006 and origin `'carrier'` (unless `close()` reported it already).
   */
  terminate(): void {
    this.closed = true;
    this.terminated = true;
    if (!this.gone) this.carrierTerminate();
  }

  /** Carrier event: one whole inbound message; `bytes` may be borrowed (it is copied here when needed). */
  protected deliver(bytes: Uint8Array, isBinary: boolean, owned: boolean): void {
    if (this.closed) return;
    if (bytes.byteLength > this.options.maxPayloadBytes) {
      const msg = `frame of ${bytes.byteLength} bytes exceeds maxPayloadBytes ${this.options.maxPayloadBytes}`;
      const err = new GatewayError('GW_ERR_FRAME_TOO_LARGE', msg);
      if (this.handler.onFrameTooLarge !== undefined) this.handler.onFrameTooLarge(this, err);
      else this.send(JSON.stringify(err.toErrorMessage()));
      // a no-op when the handler closed already (origin 'server')
      this.closeAs(CLOSE_CODES.MESSAGE_TOO_BIG, 'frame too large', 'carrier');
      return;
    }
    if (!isBinary) {
      this.handler.onMessage(this, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'), false);
      return;
    }
    const exact = owned && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    this.handler.onMessage(this, exact ? new Uint8Array(bytes.buffer) : new Uint8Array(bytes), true);
  }

  /** Carrier event: a pong frame; `payload` may be borrowed (it is copied here). */
  protected ponged(payload: Uint8Array): void {
    if (!this.closed) this.handler.onPong(this, new Uint8Array(payload));
  }

  /** Carrier event: the socket became writable / drained some backpressure. */
  protected writable(): void {
    if (!this.backpressured || this.closed) return;
    if (this.bufferedAmount() > this.options.highWaterMarkBytes / 2) return;
    this.backpressured = false;
    this.handler.onDrain(this);
  }

  /**
   * Carrier event: the carrier refused the peer's input (a protocol violation, a frame over its ceiling) and is
   * closing with `code`; reported at once with origin `'carrier'`, not when its closing handshake ends.
   */
  protected carrierRefused(code: number, reason: string): void {
    this.closeAs(code, reason, 'carrier');
  }

  /**
   * Carrier event: the socket is gone (no carrier call is allowed after this). Reports `onClose` unless our own
   * `close()` already did: with `origin` (`'carrier'` when the carrier forced the close itself, else `'peer'`), or
   * `'carrier'` after `terminate()`.
   */
  protected carrierClosed(code: number, reason: string, origin: 'carrier' | 'peer'): void {
    if (this.gone) return;
    this.gone = true;
    this.closed = true;
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
    this.report(code, reason, this.terminated ? 'carrier' : origin);
  }

  /** Queues `onClose` once; from a microtask because uWebSockets.js reports the close from inside `end()`. */
  private report(code: number, reason: string, origin: CloseOrigin): void {
    if (this.reported) return;
    this.reported = true;
    queueMicrotask(() => this.handler.onClose(this, code, reason, origin));
  }
}
