/**
 * {@link TransportServer} on uWebSockets.js (https://github.com/uNetworking/uWebSockets.js, v20.30 via the
 * @trufflesuite/uws-js-unofficial build; docs/index.d.ts of the package is the API reference).
 *
 * - Every upgrade on any path goes through `app.ws('/*').upgrade`, where the gate decides synchronously; plain GETs
 *   go through `app.any('/*')` to the {@link HttpRoutes}.
 * - Message `ArrayBuffer`s are valid only during the callback: they are copied before the handler sees them.
 * - uWS calls the close handler synchronously from inside `ws.end()` and every method of a closed socket throws, so
 *   {@link BaseConnection} guards all calls with its `gone` flag and defers `onClose` to a microtask.
 * - The package's JavaScript fallback (used when the binary fails to load) cannot serve this adapter: it matches ws
 *   patterns literally (never `/*`) and throws "not implemented" for a custom `upgrade` handler, i.e. the gate would
 *   never run. `listen()` therefore rejects with GW_ERR_BAD_CONFIG unless `nativeBinary` is true; use 'ws' instead.
 * - This build has no `WebSocket.pause()/resume()`: inbound flow cannot be throttled at the socket (TCP) level. The
 *   server layer must use protocol-level flow control (`flow.pause`) and close with BACKLOG on abuse.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';
import { CLOSE_CODES, GatewayError } from '../protocol/errors.js';
import {
  carrierMaxPayloadBytes,
  decideUpgrade,
  dispatchHttpRoute,
  normaliseAddress,
  offeredProtocols,
  rejectionBody,
  rejectionHeaders,
  type ConnectionHandler,
  type HttpResponseInit,
  type HttpRoutes,
  type TransportOptions,
  type TransportServer,
  type UpgradeGate,
  type UpgradeInfo,
  type UpgradeRequest,
} from './transport.js';
import { BaseConnection } from './base-connection.js';

type UwsModule = typeof UWS;

const requireCjs = createRequire(import.meta.url);
let uwsModule: UwsModule | undefined;

/** True when uWebSockets.js loads with its native binary on this platform/Node ABI (loads the module). */
export function uwsNativeAvailable(): boolean {
  return isNativeUws(loadUws());
}

/** Loads uWebSockets.js once (lazily, so that a `ws`-only process never loads the native binary). */
export function loadUws(): UwsModule {
  uwsModule ??= requireCjs('uWebSockets.js') as UwsModule;
  return uwsModule;
}

/**
 * True when `mod` (the package's exports) is the native `.node` addon and not the JavaScript fallback that the
 * package's src/uws.js silently substitutes when the binary fails to load (or when UWS_USE_FALLBACK is set).
 *
 * src/uws.js returns `require('../binaries/uws_<platform>_<arch>_<abi>.node')` itself, so the native case leaves a
 * `require.cache` entry whose filename ends in `.node` and whose `exports` is the very same object. If the cache was
 * cleared, fall back to checking that `App` is a native function (the fallback's `App` is plain JavaScript).
 */
export function isNativeUws(mod: object): boolean {
  let cacheKnowsModule = false;
  for (const [file, entry] of Object.entries(requireCjs.cache)) {
    if (entry?.exports !== mod) continue;
    if (file.endsWith('.node')) return true;
    cacheKnowsModule = true;
  }
  if (cacheKnowsModule) return false;
  const app = (mod as { App?: unknown }).App;
  return typeof app === 'function' && /\{\s*\[native code\]\s*\}$/.test(Function.prototype.toString.call(app));
}

/**
 * The closes uWebSockets.js forces itself (its `forceClose`): reported to the close handler as 1006 with one of these
 * texts as the message (uWebSockets src/WebSocketProtocol.h), where a lost connection has an empty message and a peer's
 * close frame its own code (an invalid one, 1006 included, arrives as 1006 with an empty message: it cannot pose as
 * one of these). Each maps to the close code RFC 6455 gives that reason. The locked build (v20.30) has the first
 * four; newer ones add the last two, listed so that an upgrade keeps counting them right (their "Received TCP FIN
 * before WebSocket close frame" needs no entry: the peer left, as with a lost connection).
 */
const UWS_FORCED_CLOSE_CODES: ReadonlyMap<string, number> = new Map([
  ['Received too big message', CLOSE_CODES.MESSAGE_TOO_BIG],
  ['Received too big message, or other inflation error', CLOSE_CODES.MESSAGE_TOO_BIG],
  ['Received invalid UTF-8', 1007],
  // sendPingsAutomatically: the peer answered no ping within idleTimeout (the keepalive)
  ['WebSocket timed out from inactivity', 1006],
  ['Received invalid WebSocket frame', 1002],
  ['Received invalid close payload', 1002],
]);

interface UserData {
  info: UpgradeInfo;
  conn?: UwsConnection;
}

class UwsConnection extends BaseConnection {
  constructor(
    private readonly ws: UWS.WebSocket<UserData>,
    info: UpgradeInfo,
    handler: ConnectionHandler,
    options: TransportOptions,
  ) {
    super(randomUUID(), info.remoteAddress, handler, options);
  }

  protected carrierSend(data: string | Uint8Array, isBinary: boolean): 'ok' | 'dropped' {
    let status = 1;
    // Cork so a send from a timer or promise (outside a uWS callback) still goes out in one syscall.
    this.ws.cork(() => {
      status = this.ws.send(data, isBinary, false);
    });
    return status === 2 ? 'dropped' : 'ok'; // 0 = backpressure (queued), 1 = sent, 2 = dropped
  }

  protected carrierBufferedAmount(): number {
    return this.ws.getBufferedAmount();
  }

  protected carrierEnd(code: number, reason: string): void {
    this.ws.cork(() => this.ws.end(code, reason));
  }

  protected carrierTerminate(): void {
    this.ws.close();
  }

  protected carrierPing(payload: Uint8Array): void {
    this.ws.cork(() => this.ws.ping(payload));
  }

  handlePong(message: ArrayBuffer): void {
    this.ponged(new Uint8Array(message));
  }

  handleMessage(message: ArrayBuffer, isBinary: boolean): void {
    this.deliver(new Uint8Array(message), isBinary, false);
  }

  handleDrain(): void {
    this.writable();
  }

  /** Called for every close, ours included (BaseConnection then reported it already). */
  handleClose(code: number, message: ArrayBuffer): void {
    const reason = Buffer.from(message).toString('utf8');
    const forcedCode = code === 1006 ? UWS_FORCED_CLOSE_CODES.get(reason) : undefined;
    if (forcedCode === undefined) this.carrierClosed(code, reason, 'peer');
    else this.carrierClosed(forcedCode, reason, 'carrier');
  }
}

function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
}

/**
 * `headOnly` (HEAD): status and headers, without a Content-Length, which RFC 9110 section 9.3.2 allows only as GET's
 * (`end('')` wrote 0). Not `endWithoutBody(length)`: this build then drops the connection's next request.
 */
function writeResponse(res: UWS.HttpResponse, r: HttpResponseInit, headOnly = false): void {
  res.cork(() => {
    res.writeStatus(statusLine(r.status));
    for (const [k, v] of Object.entries(r.headers ?? {})) res.writeHeader(k, v);
    if (headOnly) res.endWithoutBody();
    else res.end(r.body);
  });
}

function readRequest(res: UWS.HttpResponse, req: UWS.HttpRequest): UpgradeRequest {
  const headers: Record<string, string> = {};
  req.forEach((k, v) => {
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  });
  return {
    path: req.getUrl(),
    query: new URLSearchParams(req.getQuery() ?? ''),
    headers,
    remoteAddress: normaliseAddress(Buffer.from(res.getRemoteAddressAsText()).toString()),
  };
}

export class UwsServer implements TransportServer {
  readonly kind = 'uws' as const;
  readonly nativeBinary: boolean;
  private readonly uws: UwsModule;
  private readonly app: UWS.TemplatedApp;
  private listenSocket: UWS.us_listen_socket | undefined;
  private readonly connections = new Set<UwsConnection>();
  private allClosed: (() => void) | undefined;

  constructor(
    private readonly options: TransportOptions,
    private readonly handler: ConnectionHandler,
    private readonly gate: UpgradeGate,
    private readonly routes: HttpRoutes,
  ) {
    this.uws = loadUws();
    this.nativeBinary = isNativeUws(this.uws);
    this.app = options.tls === null ? this.uws.App()
      : this.uws.SSLApp({ cert_file_name: options.tls.certFile, key_file_name: options.tls.keyFile });
    this.app.ws<UserData>('/*', {
      maxPayloadLength: carrierMaxPayloadBytes(options),
      maxBackpressure: options.maxBackpressureBytes,
      closeOnBackpressureLimit: 0,
      idleTimeout: options.idleTimeoutS,
      sendPingsAutomatically: options.idleTimeoutS > 0,
      compression: this.uws.DISABLED,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => {
        const data = ws.getUserData();
        const conn = new UwsConnection(ws, data.info, this.handler, this.options);
        data.conn = conn;
        this.connections.add(conn);
        this.handler.onOpen(conn, data.info);
      },
      message: (ws, message, isBinary) => ws.getUserData().conn?.handleMessage(message, isBinary),
      drain: (ws) => ws.getUserData().conn?.handleDrain(),
      pong: (ws, message) => ws.getUserData().conn?.handlePong(message),
      close: (ws, code, message) => {
        const conn = ws.getUserData().conn;
        if (conn === undefined) return;
        conn.handleClose(code, message);
        this.connections.delete(conn);
        if (this.connections.size === 0) this.allClosed?.();
      },
    });
    this.app.any('/*', (res, req) => this.http(res, req));
  }

  private upgrade(res: UWS.HttpResponse, req: UWS.HttpRequest, context: UWS.us_socket_context_t): void {
    const request = readRequest(res, req);
    const decision = decideUpgrade(this.gate, request);
    if (!decision.ok) {
      const body = rejectionBody(decision.code, decision.message);
      writeResponse(res, { status: decision.status, headers: rejectionHeaders(decision.status), body });
      return;
    }
    const userData: UserData = { info: { ...request, context: decision.context } };
    // the first protocol offered, as ws answers (decideUpgrade refused a malformed offer)
    const protocol = offeredProtocols(request.headers['sec-websocket-protocol'] ?? '')?.[0] ?? '';
    res.cork(() => {
      res.upgrade(
        userData,
        req.getHeader('sec-websocket-key'),
        protocol,
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    });
  }

  private http(res: UWS.HttpResponse, req: UWS.HttpRequest): void {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const request = {
      method: req.getCaseSensitiveMethod().toUpperCase(),
      path: req.getUrl(),
      query: new URLSearchParams(req.getQuery() ?? ''),
    };
    void dispatchHttpRoute(this.routes, request).then((r) => {
      if (!aborted) writeResponse(res, r, request.method === 'HEAD');
    });
  }

  listen(host: string, port: number): Promise<number> {
    if (!this.nativeBinary) {
      const msg = 'uWebSockets.js runs its JavaScript fallback, not the native binary (see uws-server.ts); use transport "ws"';
      return Promise.reject(new GatewayError('GW_ERR_BAD_CONFIG', msg));
    }
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (socket) => {
        if (socket === false) {
          reject(new GatewayError('GW_ERR_BAD_CONFIG', `cannot listen on ${host}:${port}`));
          return;
        }
        this.listenSocket = socket;
        resolve(this.uws.us_socket_local_port(socket as unknown as UWS.us_socket));
      });
    });
  }

  stopAccepting(): void {
    if (this.listenSocket === undefined) return;
    this.uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = undefined;
  }

  async close(): Promise<void> {
    this.stopAccepting();
    if (this.connections.size > 0) {
      const done = new Promise<void>((resolve) => {
        this.allClosed = resolve;
      });
      for (const conn of this.connections) conn.close(CLOSE_CODES.GOING_AWAY, 'server shutting down');
      await done;
    }
    // Let close frames flush, then drop keep-alive HTTP sockets (App.close exists natively since v20.30, untyped).
    await new Promise((resolve) => setImmediate(resolve));
    (this.app as { close?: () => void }).close?.();
  }
}
