/**
 * Small typed Node client for voxgate Protocol v1 (docs/protocol.md). Imports only `src/protocol/*` and `ws`.
 *
 * ```ts
 * const client = await VoxgateClient.connect('ws://localhost:8080/v1/stream', {
 *   apiKey: 'KEY', start: { audio: { encoding: 'pcm_s16le', sample_rate_hz: 16000, channels: 1 } },
 * });
 * const reader = (async () => { for await (const m of client) if (m.type === 'transcript.final') console.log(m.text); })();
 * for (const frame of frames) await client.sendAudio(frame);   // waits while the server says flow.pause
 * const ended = await client.end();
 * await reader;
 * ```
 */
import { WebSocket, type RawData } from 'ws';
import { GatewayError, isGwErrorCode, type GwErrorCode } from '../src/protocol/errors.js';
import {
  PROTOCOL_LIMITS, STREAM_PATH,
  type ClientMessage, type ErrorMessage, type PongMessage,
  type ServerMessage, type SessionEndedMessage, type SessionStartMessage, type SessionStartedMessage,
  type SessionUpdatedMessage, type SessionUpdateMessage,
} from '../src/protocol/messages.js';
import { bytesPerSampleFrame, parseServerMessage, validateClientMessage } from '../src/protocol/validate.js';

export interface VoxgateClientOptions {
  apiKey?: string;
  /** Where the key travels: `Authorization: Bearer` header (default) or `?api_key=` query parameter. */
  apiKeyIn?: 'header' | 'query';
  /** session.start fields (validated locally before connecting). */
  start: Omit<SessionStartMessage, 'type'>;
  /** How long to wait for `session.started`, ms. Default 10000. */
  startTimeoutMs?: number;
  /** For wss:// to a server whose certificate the system does not trust (self-signed): its PEM certificate. */
  ca?: string | Buffer;
}

export interface CloseInfo { code: number; reason: string }

type Listener = (msg: ServerMessage) => void;
interface Waiter<T> { resolve: (v: T) => void; reject: (e: GatewayError) => void }

/** Turns a wire `error` message into a GatewayError (unknown codes from newer servers become GW_ERR_INTERNAL). */
export function errorFromMessage(msg: ErrorMessage): GatewayError {
  const code: GwErrorCode = isGwErrorCode(msg.code) ? msg.code : 'GW_ERR_INTERNAL';
  return new GatewayError(code, code === msg.code ? msg.message : `${String(msg.code)}: ${msg.message}`,
    { fatal: msg.fatal });
}

export class VoxgateClient implements AsyncIterable<ServerMessage> {
  /** The server's `session.started`. */
  readonly started: SessionStartedMessage;
  /** Resolves when the socket has closed (never rejects). */
  readonly closed: Promise<CloseInfo>;
  /** Server messages nobody matched or that the client could not parse (newer server types are skipped). */
  ignoredMessages = 0;

  private readonly ws: WebSocket;
  private readonly frameBytes: number;
  /** Largest audio frame sent: the server's `limits.max_frame_bytes`, cut to whole sample frames. */
  private readonly maxAudioFrameBytes: number;
  private isPaused = false;
  private isClosed = false;
  private ending = false;
  private lastFatal: GatewayError | null = null;
  private resumeWaiters: Waiter<void>[] = [];
  private updateWaiters: Waiter<SessionUpdatedMessage>[] = [];
  private readonly pingWaiters = new Map<string | number, Waiter<PongMessage>>();
  private endWaiter: Waiter<SessionEndedMessage> | null = null;
  private endPromise: Promise<SessionEndedMessage> | null = null;
  private nextPingId = 0;
  private readonly queue: ServerMessage[] = [];
  private readers: Waiter<IteratorResult<ServerMessage>>[] = [];
  private readonly listeners = new Set<Listener>();

  private constructor(ws: WebSocket, started: SessionStartedMessage, closed: Promise<CloseInfo>) {
    this.ws = ws;
    this.started = started;
    this.closed = closed;
    this.frameBytes = bytesPerSampleFrame(started.audio.encoding, started.audio.channels);
    const maxFrameBytes = started.limits?.max_frame_bytes ?? PROTOCOL_LIMITS.maxFrameBytes;
    this.maxAudioFrameBytes = Math.max(this.frameBytes, maxFrameBytes - (maxFrameBytes % this.frameBytes));
    ws.on('message', (data, isBinary) => this.handleFrame(data, isBinary));
    void closed.then((info) => this.handleClose(info));
  }

  /**
   * Opens a socket, sends `session.start` and resolves once `session.started` arrives. Rejects with a GatewayError:
   * the upgrade's 401 / 429 / 503 code, the server's fatal error for a bad start, or a local validation error.
   */
  static async connect(url: string, options: VoxgateClientOptions): Promise<VoxgateClient> {
    const start = validateClientMessage({ type: 'session.start', ...options.start }) as SessionStartMessage;
    const target = new URL(url);
    if (target.pathname === '/' || target.pathname === '') target.pathname = STREAM_PATH;
    const headers: Record<string, string> = {};
    if (options.apiKey !== undefined) {
      if (options.apiKeyIn === 'query') target.searchParams.set('api_key', options.apiKey);
      else headers.authorization = `Bearer ${options.apiKey}`;
    }
    const ws = new WebSocket(target, { headers, perMessageDeflate: false, ...(options.ca === undefined ? {} : { ca: options.ca }) });
    const closed = new Promise<CloseInfo>((resolve) => {
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    return new Promise<VoxgateClient>((resolve, reject) => {
      const fail = (e: GatewayError): void => { clearTimeout(timer); ws.terminate(); reject(e); };
      const timer = setTimeout(() => fail(new GatewayError('GW_ERR_INTERNAL',
        `no session.started within ${options.startTimeoutMs ?? 10000} ms`)), options.startTimeoutMs ?? 10000);
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => { if (body.length < 4096) body += chunk; });
        res.on('end', () => fail(upgradeError(res.statusCode ?? 0, body)));
      });
      ws.on('error', (err) => fail(
        new GatewayError('GW_ERR_INTERNAL', `connect failed: ${err.message}`, { cause: err })));
      ws.once('open', () => ws.send(JSON.stringify(start)));
      ws.once('message', (data, isBinary) => {
        let msg: ServerMessage;
        try {
          if (isBinary) throw new GatewayError('GW_ERR_INTERNAL', 'server sent a binary frame before session.started');
          msg = parseServerMessage(rawToString(data));
        } catch (e) {
          fail(e as GatewayError);
          return;
        }
        if (msg.type === 'session.started') {
          clearTimeout(timer);
          ws.removeAllListeners('error');
          ws.on('error', () => { /* surfaced through 'close' -> closed / rejected waiters */ });
          resolve(new VoxgateClient(ws, msg, closed));
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

  /** True between `flow.pause` and `flow.resume`. */
  get paused(): boolean { return this.isPaused; }

  /**
   * Sends audio in the negotiated format. Waits while the server has paused the flow, splits frames over the
   * server's `limits.max_frame_bytes` (1 MiB by default) on sample-frame boundaries, and resolves once the bytes are
   * handed to the OS. The caller may reuse `bytes` after.
   * Throws GW_ERR_PARTIAL_SAMPLE locally for a length that is not a whole number of sample frames.
   */
  async sendAudio(bytes: Uint8Array | ArrayBuffer): Promise<void> {
    const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    if (view.byteLength % this.frameBytes !== 0) {
      throw new GatewayError('GW_ERR_PARTIAL_SAMPLE',
        `audio length must be a multiple of ${this.frameBytes} bytes, got ${view.byteLength}`);
    }
    const step = this.maxAudioFrameBytes;
    this.assertOpen();
    for (let off = 0; off < view.byteLength; off += step) {
      while (this.isPaused) await new Promise<void>((resolve, reject) => this.resumeWaiters.push({ resolve, reject }));
      this.assertOpen();
      const part = view.subarray(off, Math.min(off + step, view.byteLength));
      await new Promise<void>((resolve, reject) => this.ws.send(part, { binary: true }, (err) => {
        if (err) reject(this.closedError(err));
        else resolve();
      }));
    }
  }

  /** session.update; resolves with `session.updated`, rejects with the server's non-fatal error. */
  update(params: Omit<SessionUpdateMessage, 'type'>): Promise<SessionUpdatedMessage> {
    const msg = validateClientMessage({ type: 'session.update', ...params });
    return new Promise((resolve, reject) => {
      this.sendJson(msg);
      this.updateWaiters.push({ resolve, reject });
    });
  }

  /** session.finalize: the open utterance (if any) gets its final. */
  finalize(): void { this.sendJson({ type: 'session.finalize' }); }

  /** ping; resolves with the matching pong. Rejects an invalid `id` locally (the server's error would not say which
   *  message it answers). */
  ping(id: string | number = `p${this.nextPingId++}`): Promise<PongMessage> {
    return new Promise((resolve, reject) => {
      this.sendJson(validateClientMessage({ type: 'ping', id }), true);
      this.pingWaiters.set(id, { resolve, reject });
    });
  }

  /** session.end; resolves with `session.ended` (the server then closes with 1000). */
  end(): Promise<SessionEndedMessage> {
    if (this.endPromise === null) {
      this.sendJson({ type: 'session.end' });
      this.ending = true;
      this.endPromise = new Promise((resolve, reject) => { this.endWaiter = { resolve, reject }; });
    }
    return this.endPromise;
  }

  /** Abandons the session: closes the socket without session.end (the server sends nothing more). */
  close(): void { this.ws.close(1000); }

  /** Calls `listener` for every server message (in addition to the async iterator). Returns an unsubscribe. */
  onMessage(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every server message after `session.started`, in order; completes when the socket closes. One consumer. */
  [Symbol.asyncIterator](): AsyncIterator<ServerMessage> {
    return {
      next: () => {
        const msg = this.queue.shift();
        if (msg !== undefined) return Promise.resolve({ value: msg, done: false });
        if (this.isClosed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => this.readers.push({ resolve, reject }));
      },
      return: () => Promise.resolve({ value: undefined, done: true }),
    };
  }

  private sendJson(msg: ClientMessage, allowWhileEnding = false): void {
    this.assertOpen(allowWhileEnding);
    this.ws.send(JSON.stringify(msg));
  }

  private assertOpen(allowWhileEnding = false): void {
    if (this.isClosed || this.ws.readyState !== WebSocket.OPEN) throw this.closedError();
    if (this.ending && !allowWhileEnding) {
      throw new GatewayError('GW_ERR_SESSION_ENDED', 'session.end was already sent');
    }
  }

  private closedError(cause?: unknown): GatewayError {
    return this.lastFatal ?? new GatewayError('GW_ERR_INTERNAL', 'socket is closed', { cause });
  }

  private handleFrame(data: RawData, isBinary: boolean): void {
    let msg: ServerMessage;
    try {
      if (isBinary) throw new GatewayError('GW_ERR_BAD_MESSAGE', 'binary frame from server');
      msg = parseServerMessage(rawToString(data));
    } catch {
      this.ignoredMessages++; // forward compatibility: a newer server may send types this client does not know
      return;
    }
    switch (msg.type) {
      case 'flow.pause': this.isPaused = true; break;
      case 'flow.resume': this.resume(); break;
      case 'session.updated': this.updateWaiters.shift()?.resolve(msg); break;
      case 'pong': {
        const key = msg.id ?? '';
        this.pingWaiters.get(key)?.resolve(msg);
        this.pingWaiters.delete(key);
        break;
      }
      case 'session.ended': this.endWaiter?.resolve(msg); break;
      case 'error': {
        const err = errorFromMessage(msg);
        if (err.fatal) this.lastFatal = err;
        // The client validates updates locally, so a non-fatal schema error answers the oldest pending update.
        else if (err.code === 'GW_ERR_BAD_MESSAGE' || err.code === 'GW_ERR_BAD_HOTWORD') {
          this.updateWaiters.shift()?.reject(err);
        }
        break;
      }
      default: break;
    }
    for (const l of this.listeners) l(msg);
    const reader = this.readers.shift();
    if (reader) reader.resolve({ value: msg, done: false });
    else this.queue.push(msg);
  }

  private resume(): void {
    this.isPaused = false;
    const waiters = this.resumeWaiters;
    this.resumeWaiters = [];
    for (const w of waiters) w.resolve();
  }

  private handleClose(info: CloseInfo): void {
    this.isClosed = true;
    const err = this.lastFatal ?? new GatewayError('GW_ERR_INTERNAL', `socket closed (${info.code} ${info.reason})`);
    for (const w of this.resumeWaiters) w.reject(err);
    for (const w of this.updateWaiters) w.reject(err);
    for (const w of this.pingWaiters.values()) w.reject(err);
    this.endWaiter?.reject(err); // no-op if session.ended already resolved it
    this.resumeWaiters = [];
    this.updateWaiters = [];
    this.pingWaiters.clear();
    for (const r of this.readers) r.resolve({ value: undefined, done: true });
    this.readers = [];
  }
}

function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}

/** Maps a rejected upgrade (401 / 429 / 503 / ...) to a GatewayError, preferring the `code` of the JSON body. */
function upgradeError(status: number, body: string): GatewayError {
  let code: GwErrorCode = status === 401 ? 'GW_ERR_UNAUTHORIZED' : status === 503 ? 'GW_ERR_TOO_MANY_SESSIONS'
    : status === 429 ? 'GW_ERR_KEY_SESSION_LIMIT' : 'GW_ERR_INTERNAL';
  let message = `upgrade rejected with HTTP ${status}`;
  try {
    const parsed = JSON.parse(body) as { code?: unknown; message?: unknown };
    if (isGwErrorCode(parsed.code)) code = parsed.code;
    if (typeof parsed.message === 'string') message += `: ${parsed.message}`;
  } catch { /* non-JSON body: keep the status-derived code */ }
  return new GatewayError(code, message);
}
