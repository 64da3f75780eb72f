/**
 * The Node client's opening of a session (clients/node-client.ts): the upgrade, `session.start` and the wait for
 * `session.started`, each way it can fail mapped to a GatewayError.
 */
import { WebSocket } from 'ws';
import { GatewayError } from '../src/protocol/errors.js';
import {
  STREAM_PATH, type ServerMessage, type SessionStartMessage, type SessionStartedMessage,
} from '../src/protocol/messages.js';
import { parseServerMessage, validateClientMessage } from '../src/protocol/validate.js';
import { errorFromMessage, rawToString, upgradeError } from './wire.js';

export interface VoxgateClientOptions {
  apiKey?: string;
  /** Where the key travels: `Authorization: Bearer` header (default) or `?api_key=` query parameter. */
  apiKeyIn?: 'header' | 'query';
  /** session.start fields (validated locally before connecting). */
  start: Omit<SessionStartMessage, 'type'>;
  /** How long to wait for `session.started`, ms. Default 10000. */
  startTimeoutMs?: number;
  /**
   * How long `end()` waits for `session.ended` once session.end went out, ms; then the socket is given up and `end()`
   * rejects. Default: the server's own bound for finishing (30 s plus twice `limits.backlog_limit_ms`, after which it
   * ends the session with GW_ERR_INFERENCE, docs/protocol.md section 3) plus 10 s, so it only fires on a server that
   * stopped answering.
   */
  endTimeoutMs?: number;
  /**
   * How long `ping()` and `update()` wait for their answer once sent, ms (the client's own pings too, which
   * acknowledge audio: `sendAudio()` past the unacknowledged-audio window waits on them). The server answers both on
   * arrival, so past it the server stopped answering: the request rejects with GW_ERR_INTERNAL, and so does every
   * request still waiting, as the socket is given up (an answer missing leaves every later one unmatched). Time spent
   * queued (behind audio that flow.pause holds, or the text budget) does not count. Default 30000.
   */
  replyTimeoutMs?: number;
  /** For wss:// to a server whose certificate the system does not trust (self-signed): its PEM certificate. */
  ca?: string | Buffer;
}

export interface CloseInfo { code: number; reason: string }

/** The longest delay a Node timer takes (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Schemes `ws` connects with (it takes http: / https: as ws: / wss:). */
const URL_SCHEMES: readonly string[] = ['ws:', 'wss:', 'http:', 'https:'];

/** The server's URL, or GW_ERR_BAD_CONFIG: `ws` threw a bare SyntaxError / TypeError (no code) for
 *  `localhost:8080`, another scheme or a #fragment. Quoted without its query, which may carry the API key. */
function parseUrl(url: string): URL {
  let target: URL | null = null;
  try {
    target = new URL(url);
  } catch { /* not a URL */ }
  if (target === null || !URL_SCHEMES.includes(target.protocol) || target.hash !== '') {
    throw new GatewayError('GW_ERR_BAD_CONFIG',
      `url must be a ws:// or wss:// URL without a #fragment, got ${JSON.stringify(url.split('?')[0])}`);
  }
  return target;
}

/**
 * Opens a socket, sends `session.start` and resolves with what `build` makes of it once `session.started` arrives.
 * Rejects with a GatewayError: GW_ERR_UNREACHABLE when nothing answered the upgrade, the upgrade's 401 / 429 / 503
 * code, the server's fatal error for a bad start, or a local validation error. `build` runs inside the handler of
 * `session.started`, not a promise turn later: `ws` emits the messages of one socket read back to back, so one right
 * behind it would otherwise find no listener.
 */
export async function openSession<T>(url: string, options: VoxgateClientOptions,
  build: (ws: WebSocket, started: SessionStartedMessage, closed: Promise<CloseInfo>) => T): Promise<T> {
  const start = validateClientMessage({ type: 'session.start', ...options.start }) as SessionStartMessage;
  for (const key of ['startTimeoutMs', 'endTimeoutMs', 'replyTimeoutMs'] as const) {
    const ms = options[key];
    if (ms !== undefined && !(Number.isInteger(ms) && ms >= 1 && ms <= MAX_TIMER_MS)) {
      throw new GatewayError('GW_ERR_BAD_CONFIG', `${key} must be an integer in [1, ${MAX_TIMER_MS}], got ${ms}`);
    }
  }
  const target = parseUrl(url);
  if (target.pathname === '/' || target.pathname === '') target.pathname = STREAM_PATH;
  const headers: Record<string, string> = {};
  if (options.apiKey !== undefined) {
    if (options.apiKeyIn === 'query') target.searchParams.set('api_key', options.apiKey);
    else headers.authorization = `Bearer ${options.apiKey}`;
  }
  const ws = new WebSocket(target, { headers, perMessageDeflate: false, ...(options.ca === undefined ? {} : { ca: options.ca }) });
  // The server as failures name it: not the query, which may carry the API key.
  const server = `${target.origin}${target.pathname}`;
  const closed = new Promise<CloseInfo>((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  return new Promise<T>((resolve, reject) => {
    const fail = (e: GatewayError): void => { clearTimeout(timer); ws.terminate(); reject(e); };
    // Until the server answers the upgrade (101 or not), a failure means it was never reached: refused, no such host,
    // a network or TLS failure. GW_ERR_INTERNAL ("an unexpected server error") blamed a server that never saw us.
    let answered = false;
    const unreachable = (why: string, cause?: Error): GatewayError =>
      new GatewayError('GW_ERR_UNREACHABLE', `cannot connect to ${server}: ${why}`, { cause });
    const timeoutMs = options.startTimeoutMs ?? 10000;
    const timer = setTimeout(() => fail(answered
      ? new GatewayError('GW_ERR_INTERNAL', `no session.started within ${timeoutMs} ms`)
      : unreachable(`no answer within ${timeoutMs} ms`)), timeoutMs);
    ws.once('upgrade', () => { answered = true; });
    ws.once('unexpected-response', (_req, res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { if (body.length < 4096) body += chunk; });
      res.on('end', () => fail(upgradeError(res.statusCode ?? 0, body)));
    });
    ws.on('error', (err) => fail(answered
      ? new GatewayError('GW_ERR_INTERNAL', `connect failed: ${err.message}`, { cause: err })
      : unreachable(err.message, err)));
    ws.once('open', () => ws.send(JSON.stringify(start)));
    ws.once('message', (data, isBinary) => {
      let msg: ServerMessage;
      try {
        if (isBinary) throw new GatewayError('GW_ERR_INTERNAL', 'server sent a binary frame before session.started');
        msg = parseServerMessage(rawToString(data));
      } catch (e) {
        // The parser's GW_ERR_BAD_JSON / GW_ERR_UNKNOWN_TYPE are the codes of a client's bad frames (and not fatal):
        // here the server is at fault, or is not voxgate at all (an echo server, another service at that URL).
        fail(new GatewayError('GW_ERR_INTERNAL', `not a voxgate answer to session.start: ${(e as Error).message}`,
          { cause: e }));
        return;
      }
      if (msg.type === 'session.started') {
        clearTimeout(timer);
        ws.removeAllListeners('error');
        ws.on('error', () => { /* surfaced through 'close' -> closed / rejected waiters */ });
        resolve(build(ws, msg, closed));
      } else if (msg.type === 'error') {
        fail(errorFromMessage(msg));
      } else {
        fail(new GatewayError('GW_ERR_INTERNAL', `expected session.started, got ${msg.type}`));
      }
    });
    void closed.then(({ code, reason }) => fail(new GatewayError('GW_ERR_INTERNAL',
      `socket closed before session.started (${code} ${reason})`)));
  });
}
