/**
 * The carrier-neutral socket contract the server layer codes against, and the HTTP helpers that both carriers
 * (uWebSockets.js in uws-server.ts, `ws` + node:http in ws-server.ts) share; how they decide an upgrade is in
 * upgrade.ts. The connection bookkeeping they share (outbound backpressure policy, the inbound frame limit,
 * close-once semantics) is in base-connection.ts; its rules:
 *
 * Backpressure (house style, after the uWebSockets.js backpressure example):
 * - `bufferedAmount()` is the number of outbound bytes accepted by `send` but not yet handed to the kernel.
 * - Above `highWaterMarkBytes` the connection is backpressured: `send` reports `'buffered'` and a `droppable` send
 *   (interim results) is discarded (`'dropped'`) instead of queued. `onDrain` fires once when `bufferedAmount()`
 *   falls back to `highWaterMarkBytes / 2` or less.
 * - A send that would push `bufferedAmount()` above `maxBackpressureBytes` is refused (`'dropped'`) and the
 *   connection is closed with `CLOSE_CODES.SLOW_CONSUMER` (4004).
 *
 * Inbound frame limit: a frame (text or binary) larger than `maxPayloadBytes` is answered with the wire error
 * `GW_ERR_FRAME_TOO_LARGE` (by the handler's `onFrameTooLarge` when it has one) and a close with 1009. The carrier
 * itself is configured with a ceiling of `2 * maxPayloadBytes` ({@link carrierMaxPayloadBytes}) so that such frames
 * can still be received and answered; a frame above the ceiling is cut off by the carrier: `ws` closes with 1009
 * (no wire `error` message), uWebSockets.js drops the TCP connection (the client sees 1006). Either way only that
 * connection ends, and `onClose` reports it as a `'carrier'` close with 1009 on both.
 *
 * Who closed ({@link CloseOrigin}): a peer may itself send a close frame with any code the carrier uses (4004, 1009,
 * 1007, 1002, 1008), so `onClose` says who started the close besides the code. How each carrier tells:
 * - `ws` reports every protocol violation and limit it enforces (frame over `maxPayload`, bad UTF-8, bad framing,
 *   too many fragments, a bad close frame) as an `'error'` event with a `WS_ERR_*` code before it closes; a close
 *   without one, that the transport did not start, is the peer's close frame or a lost connection. Not detectable:
 *   ws's own `maxPendingAutoPongs` cut (a peer flooding pings while not reading) emits nothing and reads as a lost
 *   connection (1006).
 * - uWebSockets.js reports the closes it forces itself as 1006 with its error text as the message ("Received too big
 *   message", "Received invalid UTF-8", "WebSocket timed out from inactivity"); a peer's close frame can never arrive
 *   as 1006 (uWS reports an invalid close code as 1006 with an empty message). Not detectable: this build drops a
 *   connection for broken framing (reserved opcode, unmasked frame) with 1006 and an empty message, exactly like a
 *   lost connection, so that reads as `'peer'`.
 */
import { GatewayError, type GwErrorCode } from '../protocol/errors.js';
import { rejectionBody } from './upgrade.js';

/** Outcome of {@link Connection.send}. */
export type SendResult = 'sent' | 'buffered' | 'dropped';

export interface SendOptions {
  /** May be discarded when the connection is backpressured (interim results). Default false. */
  droppable?: boolean;
}

/**
 * Who started a connection's close, as {@link ConnectionHandler.onClose} reports it:
 * - `'server'`: {@link Connection.close} was called (by the handler, or with 1001 by {@link TransportServer.close}).
 * - `'carrier'`: the transport closed the connection enforcing one of its own rules: a frame over the carrier's
 *   ceiling (1009), a frame that breaks RFC 6455 (1007 bad UTF-8, 1002 broken framing, 1008 too many fragments), the
 *   outbound hard limit (4004), a frame over `maxPayloadBytes` that the handler did not close for itself (1009), or
 *   the keepalive dropping a peer that answers no ping (1006).
 * - `'peer'`: the peer's close frame (whatever its code), or the connection was lost (1006).
 */
export type CloseOrigin = 'server' | 'carrier' | 'peer';

/** One open WebSocket, valid from `onOpen` until `onClose`. */
export interface Connection {
  /** Unique per process (UUID). */
  readonly id: string;
  /** Peer IP address as text (IPv4-mapped IPv6 addresses are reported as plain IPv4). */
  readonly remoteAddress: string;
  /**
   * Queues a frame: a string goes out as a text frame, bytes as a binary frame. The bytes are copied or written
   * before `send` returns, so the caller may reuse its buffer. Never throws; after `close()` it returns `'dropped'`.
   */
  send(data: string | Uint8Array, opts?: SendOptions): SendResult;
  /** Outbound bytes queued in user space (not yet accepted by the kernel). 0 once closed. */
  bufferedAmount(): number;
  /**
   * Starts the closing handshake with `code` and `reason` (UTF-8, cut to 123 bytes). Idempotent. `onClose` follows
   * at once (from a microtask, never synchronously from inside `close()`), without waiting for the handshake. If the
   * peer does not complete the handshake within `closeTimeoutMs` the socket is destroyed.
   */
  close(code: number, reason: string): void;
  /** True once `close()` was called or the carrier reported the socket closed. */
  readonly closed: boolean;
  /**
   * Sends a WebSocket ping (RFC 6455 section 5.5.2) carrying `payload` (at most 125 bytes), which the peer's
   * WebSocket stack echoes in a pong without its application's help. TCP keeps order, so when that pong arrives
   * every frame the peer sent before it saw the ping has arrived too. No-op once closed.
   */
  ping(payload: Uint8Array): void;
}

/** What the transport knows about an upgrade request, before the WebSocket handshake. */
export interface UpgradeRequest {
  /** URL path without the query string, e.g. `/v1/stream`. */
  path: string;
  query: URLSearchParams;
  /** Request headers, lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  remoteAddress: string;
}

/** {@link UpgradeRequest} plus whatever {@link UpgradeGate.authorise} returned as `context`. */
export interface UpgradeInfo extends UpgradeRequest {
  context: unknown;
}

export type UpgradeStatus = 401 | 404 | 429 | 503;

export type GateDecision =
  | { ok: true; context?: unknown }
  | { ok: false; status: UpgradeStatus; code: GwErrorCode; message: string };

/**
 * Decides every valid WebSocket opening handshake on any path (wrong path, API key, session limit, draining); broken
 * handshakes are refused before it (upgrade.ts). A rejection is answered with the HTTP status and the JSON body
 * `{"type":"error","code","message","fatal":true}` before the handshake.
 * Synchronous on purpose: nothing of the request may be touched after an await in uWebSockets.js.
 */
export interface UpgradeGate {
  authorise(req: UpgradeRequest): GateDecision;
}

export interface HttpRequestInfo {
  method: string;
  path: string;
  query: URLSearchParams;
}

export interface HttpResponseInit {
  status: number;
  headers?: Record<string, string>;
  body: string | Uint8Array;
}

/** A plain GET endpoint on the WebSocket port (`/healthz`, `/readyz`, `/metrics`). */
export type HttpRoute = (req: HttpRequestInfo) => Promise<HttpResponseInit> | HttpResponseInit;

/** Routes by exact path. Unknown paths get 404, other methods than GET and HEAD 405, a throwing route 500. */
export type HttpRoutes = Readonly<Record<string, HttpRoute>>;

/** Callbacks of one transport. Exceptions thrown by them are not caught by the transport. */
export interface ConnectionHandler {
  onOpen(conn: Connection, info: UpgradeInfo): void;
  /**
   * One whole message. Text frames arrive as `string`; binary frames as a `Uint8Array` that the handler owns: it has
   * its own ArrayBuffer (byteOffset 0, exact length) that the transport never touches again. Not called after
   * `close()`.
   */
  onMessage(conn: Connection, data: Uint8Array | string, isBinary: boolean): void;
  /**
   * Optional: a frame over `maxPayloadBytes` arrived (not delivered). The handler answers it and closes with
   * `err.closeCode` (a started session sends `session.ended` first, docs/protocol.md section 2); the transport
   * closes with 1009 afterwards if it did not. Without it the transport sends the `error` and closes itself.
   */
  onFrameTooLarge?(conn: Connection, err: GatewayError): void;
  /** The connection left the backpressured state (see module doc). */
  onDrain(conn: Connection): void;
  /** A pong arrived (the echo of a `ping`, or an unsolicited one). Not called after `close()`. */
  onPong(conn: Connection, payload: Uint8Array): void;
  /**
   * Exactly once per opened connection; `origin` says who started the close ({@link CloseOrigin}).
   * - `'server'`: that `close()` call's code and reason, right after the call (the socket may still be flushing).
   * - `'carrier'`: the code the carrier closed with and its error text as `reason`. uWebSockets.js drops the TCP
   *   connection without a close frame; its code is then the one RFC 6455 gives its reason (1009 message too big,
   *   1007 invalid UTF-8), or 1006 for its idle timeout.
   * - `'peer'`: the peer's code and reason: 1005 when its close frame had no code, 1006 for an abnormal drop.
   */
  onClose(conn: Connection, code: number, reason: string, origin: CloseOrigin): void;
}

export type TransportKind = 'uws' | 'ws';

export interface TransportServer {
  readonly kind: TransportKind;
  /** True only when uWebSockets.js runs on its native binary (never for `ws`). */
  readonly nativeBinary: boolean;
  /**
   * Resolves with the bound port (useful with port 0). Rejects with GW_ERR_BAD_CONFIG when it cannot bind, naming the
   * reason (EADDRINUSE, EADDRNOTAVAIL, EACCES); `close()` it then too, which frees what the carrier set up.
   */
  listen(host: string, port: number): Promise<number>;
  /** Closes the listening socket; open connections continue. Idempotent. */
  stopAccepting(): void;
  /**
   * Stops accepting, closes every connection with 1001 (reported with origin `'server'`), waits up to
   * `closeTimeoutMs`, then destroys the rest.
   */
  close(): Promise<void>;
}

export interface TransportOptions {
  /** Largest inbound frame in bytes; bigger ones get GW_ERR_FRAME_TOO_LARGE and close 1009. */
  maxPayloadBytes: number;
  /** Transport keepalive: pings are sent, and a peer silent this long (s) is dropped. 0 disables; else [8, 960]. */
  idleTimeoutS: number;
  /** Soft outbound mark in bytes: above it `send` reports 'buffered' and droppable sends are dropped. */
  highWaterMarkBytes: number;
  /** Hard outbound limit in bytes: a send beyond it closes the connection with 4004. */
  maxBackpressureBytes: number;
  /** How long (ms) a closing handshake may take before the socket is destroyed. */
  closeTimeoutMs: number;
  /** Serve `https:` / `wss:` with these credentials (null: plain `http:` / `ws:`). */
  tls: TlsCredentials | null;
}

/** A certificate chain and its private key, as PEM text and as the files they came from (uWS reads the files). */
export interface TlsCredentials {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export const DEFAULT_TRANSPORT_OPTIONS: Readonly<TransportOptions> = {
  maxPayloadBytes: 1024 * 1024,
  idleTimeoutS: 60,
  highWaterMarkBytes: 256 * 1024,
  maxBackpressureBytes: 4 * 1024 * 1024,
  closeTimeoutMs: 5000,
  tls: null,
};

function badConfig(message: string): GatewayError {
  return new GatewayError('GW_ERR_BAD_CONFIG', message);
}

function checkInt(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw badConfig(`${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
  }
}

/** Throws GW_ERR_BAD_CONFIG quoting the first bad value. */
export function validateTransportOptions(o: TransportOptions): TransportOptions {
  checkInt('maxPayloadBytes', o.maxPayloadBytes, 1024, 64 * 1024 * 1024);
  if (o.idleTimeoutS !== 0) checkInt('idleTimeoutS', o.idleTimeoutS, 8, 960);
  checkInt('highWaterMarkBytes', o.highWaterMarkBytes, 1024, 1024 * 1024 * 1024);
  checkInt('maxBackpressureBytes', o.maxBackpressureBytes, 1024, 1024 * 1024 * 1024);
  if (o.maxBackpressureBytes <= o.highWaterMarkBytes) {
    throw badConfig(
      `maxBackpressureBytes must exceed highWaterMarkBytes (${o.highWaterMarkBytes}), got ${o.maxBackpressureBytes}`,
    );
  }
  checkInt('closeTimeoutMs', o.closeTimeoutMs, 10, 60_000);
  return o;
}

/** Options with defaults applied, validated. */
export function resolveTransportOptions(o: Partial<TransportOptions> = {}): TransportOptions {
  return validateTransportOptions({ ...DEFAULT_TRANSPORT_OPTIONS, ...o });
}

/** The frame ceiling configured on the carrier (see module doc). */
export function carrierMaxPayloadBytes(o: TransportOptions): number {
  return 2 * o.maxPayloadBytes;
}

/**
 * Path and query of an HTTP request target exactly as sent, split at the first `?`. No normalisation: `/v1/stream/..`
 * forms, `//host/...` and absolute-form targets are not `/v1/stream`. uWebSockets.js hands over the raw path and
 * query; the ws carrier uses this too (WHATWG URL parsing resolved dot segments and read `//v1/stream` as a host, and
 * throws on some targets), so both carriers route every target alike.
 */
export function splitRequestTarget(target: string): { path: string; query: URLSearchParams } {
  const q = target.indexOf('?');
  if (q < 0) return { path: target, query: new URLSearchParams() };
  return { path: target.slice(0, q), query: new URLSearchParams(target.slice(q + 1)) };
}

/** `::ffff:1.2.3.4` -> `1.2.3.4`. */
export function normaliseAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

const encoder = new TextEncoder();

/** Cuts a close reason to the 123 bytes RFC 6455 allows, on a code point boundary. */
export function truncateReason(reason: string): string {
  if (encoder.encode(reason).byteLength <= 123) return reason;
  let out = '';
  let bytes = 0;
  for (const ch of reason) {
    const n = encoder.encode(ch).byteLength;
    if (bytes + n > 123) break;
    out += ch;
    bytes += n;
  }
  return out;
}

const NOT_FOUND: HttpResponseInit = { status: 404, headers: { 'content-type': 'text/plain' }, body: 'not found\n' };

/**
 * Runs the route for a plain HTTP request: 404 for an unknown path, 405 for a method other than GET and HEAD, 500 when
 * the route throws or rejects (the response then carries only the error code, never a stack). HEAD (load balancers'
 * health checks often probe with it) gets GET's whole response here; the carrier sends its status and headers only,
 * with GET's Content-Length or none (RFC 9110 section 9.3.2), which it can tell only from the body.
 */
export async function dispatchHttpRoute(routes: HttpRoutes, req: HttpRequestInfo): Promise<HttpResponseInit> {
  const route = Object.prototype.hasOwnProperty.call(routes, req.path) ? routes[req.path] : undefined;
  if (route === undefined) return NOT_FOUND;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return { status: 405, headers: { allow: 'GET, HEAD', 'content-type': 'text/plain' }, body: 'method not allowed\n' };
  }
  try {
    return await route(req);
  } catch (e) {
    const code: GwErrorCode = e instanceof GatewayError ? e.code : 'GW_ERR_INTERNAL';
    return { status: 500, headers: { 'content-type': 'application/json' }, body: rejectionBody(code, 'route failed') };
  }
}
