/** Test doubles that are real: an echo handler on real servers and real `ws` clients. */
import { connect as tcpConnect } from 'node:net';
import { WebSocket } from 'ws';
import type {
  CloseOrigin, Connection, ConnectionHandler, GateDecision, UpgradeGate, UpgradeInfo, UpgradeRequest,
} from '../../src/transports/index.js';

export interface EchoEvents {
  opened: { conn: Connection; info: UpgradeInfo }[];
  messages: { conn: Connection; data: Uint8Array | string; isBinary: boolean }[];
  drains: Connection[];
  pongs: { conn: Connection; payload: Uint8Array }[];
  closes: { conn: Connection; code: number; reason: string; origin: CloseOrigin }[];
}

/** Echoes every message; the text `close:CODE:REASON` makes the server close with that code. */
export function echoHandler(): ConnectionHandler & { events: EchoEvents; echo: boolean } {
  const events: EchoEvents = { opened: [], messages: [], drains: [], pongs: [], closes: [] };
  return {
    events,
    echo: true,
    onOpen(conn, info) {
      events.opened.push({ conn, info });
    },
    onMessage(conn, data, isBinary) {
      events.messages.push({ conn, data, isBinary });
      if (typeof data === 'string' && data.startsWith('close:')) {
        const [, code, reason] = data.split(':');
        conn.close(Number(code), reason ?? '');
        return;
      }
      if (this.echo) conn.send(data);
    },
    onDrain(conn) {
      events.drains.push(conn);
    },
    onPong(conn, payload) {
      events.pongs.push({ conn, payload });
    },
    onClose(conn, code, reason, origin) {
      events.closes.push({ conn, code, reason, origin });
    },
  };
}

/** /v1/stream only; `api_key=good` required; header `x-full: 1` -> 503. */
export const testGate: UpgradeGate & { calls: UpgradeRequest[] } = {
  calls: [],
  authorise(req): GateDecision {
    this.calls.push(req);
    if (req.path !== '/v1/stream') return { ok: false, status: 404, code: 'GW_ERR_BAD_MESSAGE', message: `no ${req.path}` };
    if (req.query.get('api_key') !== 'good') return { ok: false, status: 401, code: 'GW_ERR_UNAUTHORIZED', message: 'bad key' };
    if (req.headers['x-full'] === '1') return { ok: false, status: 503, code: 'GW_ERR_TOO_MANY_SESSIONS', message: 'full' };
    return { ok: true, context: { tenant: 't1' } };
  },
};

export function connect(port: number, path = '/v1/stream?api_key=good', headers: Record<string, string> = {}): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers, perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Resolves with the HTTP status and body of an upgrade the server refused. */
export function refusedUpgrade(
  port: number, path: string, headers: Record<string, string> = {},
): Promise<{ status: number; body: string; retryAfter: string | undefined }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('upgrade unexpectedly accepted')));
    ws.once('error', () => undefined);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, retryAfter: res.headers['retry-after'] }));
    });
  });
}

export function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary })));
}

export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.reject(new Error('already closed'));
  return new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
}

export async function until(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The client's net.Socket (to pause reading and create outbound backpressure on the server). */
export function clientSocket(ws: WebSocket): { pause(): void; resume(): void } {
  return (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
}

/**
 * Writes `bytes` on a fresh TCP connection, half-closes, and resolves with what came back ('' on a reset): everything
 * until the server closes, or with `until: 'head'` only up to the end of the response head (a 101 keeps the socket
 * open; the status line comes first); what arrived by then after `timeoutMs`.
 */
export function rawExchange(port: number, bytes: Uint8Array | string,
  { until = 'close', timeoutMs = 2000 }: { until?: 'head' | 'close'; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve) => {
    const sock = tcpConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const done = (): void => { clearTimeout(timer); sock.destroy(); resolve(Buffer.concat(chunks).toString('latin1')); };
    const timer = setTimeout(done, timeoutMs);
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      if (until === 'head' && Buffer.concat(chunks).includes('\r\n\r\n')) done();
    });
    sock.on('error', () => undefined);
    sock.on('close', done);
    sock.write(bytes, () => sock.end());
  });
}
