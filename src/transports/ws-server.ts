/**
 * {@link TransportServer} on `ws` 8 (https://github.com/websockets/ws/blob/master/doc/ws.md) + node:http.
 *
 * - `noServer: true`: the 'upgrade' event is handled here so the gate can answer with an HTTP status and JSON body
 *   before any handshake; other requests go to the {@link HttpRoutes}.
 * - `perMessageDeflate: false`, `maxPayload` = the carrier ceiling (see transport.ts), client tracking off (the
 *   server keeps its own set).
 * - ws has no 'drain' event: each send's write callback drives `onDrain`. The net.Socket's own 'drain' never came
 *   while less than its 16 KiB write buffer was held, so with a smaller `highWaterMarkBytes` `onDrain` never fired.
 * - Keepalive: every `idleTimeoutS / 2` a ping; a peer that answered neither ping nor sent anything for a whole
 *   period is terminated (ws README "How to detect and close broken connections").
 */
import { randomUUID } from 'node:crypto';
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type ServerOptions, type WebSocket } from 'ws';
import { CLOSE_CODES, GatewayError } from '../protocol/errors.js';
import {
  carrierMaxPayloadBytes,
  dispatchHttpRoute,
  normaliseAddress,
  splitRequestTarget,
  type ConnectionHandler,
  type HttpRoutes,
  type TransportOptions,
  type TransportServer,
  type UpgradeGate,
  type UpgradeInfo,
  type UpgradeRequest,
} from './transport.js';
import { decideUpgrade, handshakeRefusal, isUpgradeRequest, rejectionBody, rejectionHeaders } from './upgrade.js';
import { BaseConnection } from './base-connection.js';

/** The close code ws sends for each protocol error it detects (ws lib/receiver.js); the others get 1002. */
const WS_ERROR_CLOSE_CODES: Readonly<Record<string, number>> = {
  WS_ERR_INVALID_UTF8: 1007,
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: CLOSE_CODES.MESSAGE_TOO_BIG,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: CLOSE_CODES.MESSAGE_TOO_BIG,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: CLOSE_CODES.POLICY_VIOLATION,
};
const WS_PROTOCOL_ERROR_CLOSE_CODE = 1002;

/** The keepalive's pings carry nothing (uWebSockets.js's automatic ones do not either). */
const KEEPALIVE_PAYLOAD = new Uint8Array(0);

class WsConnection extends BaseConnection {
  /** Set by any inbound frame or pong; cleared by each keepalive tick. */
  alive = true;

  constructor(
    private readonly ws: WebSocket,
    info: UpgradeInfo,
    handler: ConnectionHandler,
    options: TransportOptions,
  ) {
    super(randomUUID(), info.remoteAddress, handler, options);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.alive = true;
      // With binaryType 'nodebuffer' RawData is one Buffer; it may be a view into a larger socket read.
      this.deliver(data as Buffer, isBinary, true);
    });
    ws.on('pong', (data: Buffer) => {
      this.alive = true;
      this.ponged(data);
    });
    // Protocol errors (frame above the ceiling, bad UTF-8, bad opcode): ws has already sent its close frame, but
    // without our close() its own 30 s timeout held a peer that never answers, and the session ran on until then.
    // 'error' is ws's only public sign that it closes for a rule of its own (origin 'carrier'): it comes before
    // 'close', and never for the peer's close frame, whatever its code.
    ws.on('error', (err: Error & { code?: string }) => {
      this.carrierRefused(WS_ERROR_CLOSE_CODES[err.code ?? ''] ?? WS_PROTOCOL_ERROR_CLOSE_CODE, err.message);
    });
    // Neither our close(), nor an 'error' before: the peer's close frame (its code, 1005 without one) or a lost
    // connection (1006); after the keepalive's terminate() BaseConnection reports 'carrier'.
    ws.on('close', (code: number, reason: Buffer) => this.carrierClosed(code, reason.toString('utf8'), 'peer'));
  }

  /** ws calls it once the frame is handed to the kernel (or with an error once the socket is gone). */
  private readonly flushed = (): void => this.writable();

  protected carrierSend(data: string | Uint8Array, isBinary: boolean): void {
    this.ws.send(data, { binary: isBinary, compress: false }, this.flushed);
  }

  protected carrierBufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  protected carrierEnd(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  protected carrierTerminate(): void {
    this.ws.terminate();
  }

  protected carrierPing(payload: Uint8Array): void {
    this.ws.ping(payload);
  }
}

/**
 * Every header as sent, repeats joined with `, ` (as uWebSockets.js reports them). Not `req.headers`: node:http keeps
 * only the first of a repeated Authorization (and of other single-value headers), so two keys opened a session here
 * that uWebSockets.js refused.
 */
function headerRecord(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headersDistinct)) {
    if (v !== undefined) headers[k] = v.join(', ');
  }
  return headers;
}

/** `headOnly` (HEAD): the headers with the body's Content-Length, without the body (RFC 9110 section 9.3.2). */
function rejectUpgrade(socket: Duplex, status: number, body: string, headOnly: boolean): void {
  const headers = Object.entries(rejectionHeaders(status)).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\nConnection: close\r\n${headers}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${headOnly ? '' : body}`,
  );
}

export class WsServer implements TransportServer {
  readonly kind = 'ws' as const;
  readonly nativeBinary = false;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<WsConnection>();
  private keepalive: NodeJS.Timeout | undefined;
  private listening: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private allClosed: (() => void) | undefined;

  constructor(
    private readonly options: TransportOptions,
    private readonly handler: ConnectionHandler,
    private readonly gate: UpgradeGate,
    private readonly routes: HttpRoutes,
  ) {
    const wsOptions: ServerOptions & { closeTimeout: number } = {
      noServer: true,
      maxPayload: carrierMaxPayloadBytes(options),
      perMessageDeflate: false,
      clientTracking: false,
      // The closing handshakes ws runs itself (the peer's close frame, a protocol error) get our budget, not ws's
      // 30 s: a peer that closes but does not read never receives the echo. (websockets/ws#2308, in the locked 8.23;
      // not yet in @types/ws.)
      closeTimeout: options.closeTimeoutMs,
    };
    this.wss = new WebSocketServer(wsOptions);
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => this.request(req, res);
    this.http = options.tls === null ? createServer(onRequest)
      : createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, onRequest);
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
  }

  private request(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    // node:http emits 'upgrade' only with `Connection: Upgrade`; an upgrade request without it is refused here
    const headers = headerRecord(req);
    const refusal = isUpgradeRequest(headers) ? handshakeRefusal(method, headers) : null;
    if (refusal !== null) {
      const body = rejectionBody(refusal.code, refusal.message);
      res.writeHead(refusal.status, { ...rejectionHeaders(refusal.status), 'content-length': Buffer.byteLength(body) });
      res.end(body); // node:http sends no body for HEAD
      return;
    }
    const info = { method, ...splitRequestTarget(req.url ?? '/') };
    void dispatchHttpRoute(this.routes, info).then((r) => {
      if (res.destroyed) return;
      res.writeHead(r.status, r.headers);
      res.end(r.body); // node:http sends no body for HEAD
    });
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const method = req.method ?? 'GET';
    const request: UpgradeRequest = {
      ...splitRequestTarget(req.url ?? '/'),
      headers: headerRecord(req),
      remoteAddress: normaliseAddress(req.socket.remoteAddress ?? ''),
    };
    // ws's own handshake checks never refuse after this: decideUpgrade made them all (with JSON bodies)
    const decision = decideUpgrade(this.gate, method, request);
    if (!decision.ok) {
      rejectUpgrade(socket, decision.status, rejectionBody(decision.code, decision.message), method === 'HEAD');
      return;
    }
    const info: UpgradeInfo = { ...request, context: decision.context };
    this.wss.handleUpgrade(req, socket, head, (ws) => this.open(ws, info));
  }

  private open(ws: WebSocket, info: UpgradeInfo): void {
    const conn = new WsConnection(ws, info, this.handler, this.options);
    this.connections.add(conn);
    ws.once('close', () => {
      this.connections.delete(conn);
      if (this.connections.size === 0) this.allClosed?.();
    });
    this.handler.onOpen(conn, info);
  }

  private tick(): void {
    for (const conn of this.connections) {
      if (!conn.alive) {
        conn.terminate();
        continue;
      }
      conn.alive = false;
      conn.ping(KEEPALIVE_PAYLOAD);
    }
  }

  listen(host: string, port: number): Promise<number> {
    this.listening ??= new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => {
        reject(new GatewayError('GW_ERR_BAD_CONFIG', `cannot listen on ${host}:${port}: ${e.message}`, { cause: e }));
      };
      this.http.once('error', onError);
      this.http.listen(port, host, () => {
        this.http.off('error', onError);
        resolve();
      });
    });
    if (this.options.idleTimeoutS > 0 && this.keepalive === undefined) {
      this.keepalive = setInterval(() => this.tick(), (this.options.idleTimeoutS * 1000) / 2);
      this.keepalive.unref();
    }
    return this.listening.then(() => {
      const address = this.http.address();
      return typeof address === 'object' && address !== null ? address.port : port;
    });
  }

  stopAccepting(): void {
    this.stopped ??= new Promise<void>((resolve) => {
      if (!this.http.listening) {
        resolve();
        return;
      }
      this.http.close(() => resolve());
    });
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
    if (this.keepalive !== undefined) clearInterval(this.keepalive);
    this.http.closeAllConnections();
    await this.stopped;
    this.wss.close();
  }
}
