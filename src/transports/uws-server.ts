/**
 * {@link TransportServer} on uWebSockets.js (https://github.com/uNetworking/uWebSockets.js, v20.30 via the
 * @trufflesuite/uws-js-unofficial build; docs/index.d.ts of the package is the API reference).
 *
 * - uWS sends every GET with a 24-character Sec-WebSocket-Key to `app.ws('/*').upgrade`, everything else to
 *   `app.any('/*')`; both ask upgrade.ts whether the request is an upgrade and decide it there (the gate
 *   synchronously), so that neither an upgrade without such a key nor a key without an upgrade escapes the checks.
 * - Message `ArrayBuffer`s are valid only during the callback: they are copied before the handler sees them.
 * - uWS calls the close handler synchronously from inside `ws.end()` and every method of a closed socket throws, so
 *   {@link BaseConnection} guards all calls with its `gone` flag and defers `onClose` to a microtask.
 * - The package's JavaScript fallback (used when the binary fails to load) cannot serve this adapter: it matches ws
 *   patterns literally (never `/*`) and throws "not implemented" for a custom `upgrade` handler, i.e. the gate would
 *   never run. `listen()` therefore rejects with GW_ERR_BAD_CONFIG unless `nativeBinary` is true; use 'ws' instead.
 * - This build has no `WebSocket.pause()/resume()`: inbound flow cannot be throttled at the socket (TCP) level. The
 *   server layer must use protocol-level flow control (`flow.pause`) and close with BACKLOG on abuse.
 */
import { STATUS_CODES } from 'node:http';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import type * as UWS from 'uWebSockets.js';
import { CLOSE_CODES, GatewayError } from '../protocol/errors.js';
import {
  carrierMaxPayloadBytes,
  dispatchHttpRoute,
  normaliseAddress,
  type ConnectionHandler,
  type HttpResponseInit,
  type HttpRoutes,
  type TransportOptions,
  type TransportServer,
  type UpgradeGate,
  type UpgradeRequest,
} from './transport.js';
import {
  decideUpgrade, handshakeRefusal, isUpgradeRequest, offeredProtocols, rejectionBody, rejectionHeaders, type UpgradeDecision,
} from './upgrade.js';
import { UwsConnection, type UserData } from './uws-connection.js';

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

/**
 * Why `host:port` cannot be bound, as node:net's error says (`listen EADDRINUSE: address already in use ...`):
 * uWebSockets.js hands its listen callback only `false`, so the same bind is tried again with node:net.
 */
function bindError(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (e) => resolve(e.message));
    probe.listen({ host, port, exclusive: true }, () => {
      probe.close(() => resolve('uWebSockets.js gives no reason, and node:net could bind the address right after'));
    });
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

/**
 * What an App's callbacks reach their server through. uWS.js holds every callback handed to an App (as V8 global
 * handles) for the life of the process, App.close() or not: callbacks that held the server kept every closed server
 * alive, and with it its handler, gate and routes (a whole gateway and its metrics). close() empties this instead.
 */
interface AppBinding {
  server: UwsServer | undefined;
}

/** Answers a refused upgrade with its status and JSON body. */
function refuse(res: UWS.HttpResponse, decision: Exclude<UpgradeDecision, { ok: true }>, headOnly: boolean): void {
  const body = rejectionBody(decision.code, decision.message);
  writeResponse(res, { status: decision.status, headers: rejectionHeaders(decision.status), body }, headOnly);
}

/** The method as sent, in capitals (as node:http reports it). */
function methodOf(req: UWS.HttpRequest): string {
  return req.getCaseSensitiveMethod().toUpperCase();
}

export class UwsServer implements TransportServer {
  readonly kind = 'uws' as const;
  readonly nativeBinary: boolean;
  private readonly uws: UwsModule;
  private readonly app: UWS.TemplatedApp;
  private readonly binding: AppBinding = { server: this };
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
    UwsServer.bind(this.uws, this.app, options, this.binding);
  }

  /** Static, so that no callback's closure holds the server ({@link AppBinding}). */
  private static bind(uws: UwsModule, app: UWS.TemplatedApp, options: TransportOptions, binding: AppBinding): void {
    app.ws<UserData>('/*', {
      maxPayloadLength: carrierMaxPayloadBytes(options),
      // Off (0): BaseConnection enforces the hard limit before every send. uWS's own limit counts what BaseConnection
      // cannot see (each frame's 2-10 byte header, the cork buffer spilled into its queue), so a frame that filled
      // the buffer to the exact limit took it past uWS's, and uWS then refused the 4004 close frame itself: the slow
      // consumer read its data and a FIN, i.e. 1006 (test/transports/hard-limit-close.test.ts).
      maxBackpressure: 0,
      closeOnBackpressureLimit: 0,
      idleTimeout: options.idleTimeoutS,
      sendPingsAutomatically: options.idleTimeoutS > 0,
      compression: uws.DISABLED,
      // after close() App.close() has ended every socket: nothing can arrive, but uWS aborts on an unanswered request
      upgrade: (res, req, context) => {
        if (binding.server === undefined) res.close();
        else binding.server.upgrade(res, req, context);
      },
      open: (ws) => binding.server?.opened(ws),
      message: (ws, message, isBinary) => ws.getUserData().conn?.handleMessage(message, isBinary),
      drain: (ws) => ws.getUserData().conn?.handleDrain(),
      pong: (ws, message) => ws.getUserData().conn?.handlePong(message),
      close: (ws, code, message) => binding.server?.closed(ws, code, message),
    });
    app.any('/*', (res, req) => {
      if (binding.server === undefined) res.close();
      else binding.server.http(res, req);
    });
  }

  private opened(ws: UWS.WebSocket<UserData>): void {
    const data = ws.getUserData();
    const conn = new UwsConnection(ws, data.info, this.handler, this.options);
    data.conn = conn;
    this.connections.add(conn);
    this.handler.onOpen(conn, data.info);
  }

  private closed(ws: UWS.WebSocket<UserData>, code: number, message: ArrayBuffer): void {
    const conn = ws.getUserData().conn;
    if (conn === undefined) return;
    conn.handleClose(code, message);
    this.connections.delete(conn);
    if (this.connections.size === 0) this.allClosed?.();
  }

  private upgrade(res: UWS.HttpResponse, req: UWS.HttpRequest, context: UWS.us_socket_context_t): void {
    const request = readRequest(res, req);
    if (!isUpgradeRequest(request.headers)) {
      this.http(res, req); // a key but no Upgrade header: a plain request, as on node:http
      return;
    }
    const decision = decideUpgrade(this.gate, methodOf(req), request);
    if (!decision.ok) {
      refuse(res, decision, false);
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
    const method = methodOf(req);
    const { path, query, headers } = readRequest(res, req);
    // Upgrade requests that uWS did not route to the ws handler (no valid key, not a GET) are refused here. No refusal
    // means a valid handshake that uWS did not see as one (no such request is known): it is served as plain HTTP.
    const refusal = isUpgradeRequest(headers) ? handshakeRefusal(method, headers) : null;
    if (refusal !== null) {
      refuse(res, refusal, method === 'HEAD');
      return;
    }
    void dispatchHttpRoute(this.routes, { method, path, query }).then((r) => {
      if (!aborted) writeResponse(res, r, method === 'HEAD');
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
          void bindError(host, port).then((reason) => {
            reject(new GatewayError('GW_ERR_BAD_CONFIG', `cannot listen on ${host}:${port}: ${reason}`));
          });
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
    this.binding.server = undefined;
  }
}
