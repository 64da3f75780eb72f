/**
 * Small typed Node client for voxgate Protocol v1 (docs/protocol.md). Imports only `src/protocol/*`, `ws` and its
 * own modules here.
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
import { GatewayError } from '../src/protocol/errors.js';
import type {
  ClientMessage, PongMessage, ServerMessage, SessionEndedMessage, SessionStartedMessage, SessionUpdatedMessage,
  SessionUpdateMessage,
} from '../src/protocol/messages.js';
import { parseServerMessage, validateClientMessage } from '../src/protocol/validate.js';
import { openSession, type CloseInfo, type VoxgateClientOptions } from './handshake.js';
import { MessageStream } from './message-stream.js';
import { Outbox, type Outbound, type Waiter } from './outbox.js';
import { ReplyTracker, type Pending } from './reply-tracker.js';
import { sessionBounds, type SessionBounds } from './session-bounds.js';
import { TextBudget } from './text-budget.js';
import { closedSessionError, errorFromMessage, rawToString, type ClosedWhy } from './wire.js';

export { errorFromMessage };
export type { CloseInfo, VoxgateClientOptions };

type Listener = (msg: ServerMessage) => void;

/**
 * One session. Server messages reach the caller two ways: `onMessage` listeners get every one, and the async
 * iterator gets those that arrive while it is active (from the start of a `for await` until it is left or the socket
 * closes), kept until asked for. Nothing is kept while no iterator is active, so a caller that only listens holds no
 * messages however long the session runs; a caller that iterates starts its `for await` before it sends what it
 * wants the answers to (as in the example above).
 */
export class VoxgateClient implements AsyncIterable<ServerMessage> {
  /** The server's `session.started`. */
  readonly started: SessionStartedMessage;
  /** Resolves when the socket has closed (never rejects). */
  readonly closed: Promise<CloseInfo>;
  /** Server messages the client could not parse (a newer server's types are skipped and counted here). */
  ignoredMessages = 0;

  private readonly ws: WebSocket;
  private readonly bounds: SessionBounds;
  private readonly budget: TextBudget;
  private readonly replies = new ReplyTracker();
  private readonly outbox = new Outbox();
  private pumping = false;
  private wake: (() => void) | null = null;
  private probeWanted = false;
  private sentBytes = 0;
  private ackedBytes = 0;
  /** Audio bytes sent before the latest ping: its answer acknowledges them. */
  private coveredBytes = 0;
  private isPaused = false;
  private isClosed = false;
  private ending = false;
  /** What ended the session: the server's fatal error, or the client's end or reply timeout. */
  private lastFatal: GatewayError | null = null;
  /** Else why requests fail once the socket is closing. */
  private readonly why: ClosedWhy = { byCaller: false, ended: null, close: null };
  private endTimer: NodeJS.Timeout | undefined;
  /** The server's GW_ERR_SESSION_ENDED: its session is ending (drain, max duration) and refuses every update. */
  private serverEnding: GatewayError | null = null;
  private endWaiter: Waiter<SessionEndedMessage> | null = null;
  private endPromise: Promise<SessionEndedMessage> | null = null;
  private nextPingId = 0;
  private readonly messages = new MessageStream();
  private readonly listeners = new Set<Listener>();

  private constructor(ws: WebSocket, started: SessionStartedMessage, closed: Promise<CloseInfo>,
    options: VoxgateClientOptions) {
    this.ws = ws;
    this.started = started;
    this.closed = closed;
    this.bounds = sessionBounds(started, options);
    this.budget = new TextBudget(started.limits as Partial<SessionStartedMessage['limits']> | undefined,
      performance.now());
    ws.on('message', (data, isBinary) => this.handleFrame(data, isBinary));
    void closed.then((info) => this.handleClose(info));
  }

  /**
   * Opens a socket, sends `session.start` and resolves once `session.started` arrives. Rejects with a GatewayError:
   * GW_ERR_UNREACHABLE when nothing answered the upgrade (refused, unknown host, network or TLS failure), the
   * upgrade's 401 / 429 / 503 code, the server's fatal error for a bad start, or a local validation error.
   */
  static async connect(url: string, options: VoxgateClientOptions): Promise<VoxgateClient> {
    return openSession(url, options,
      (ws, started, closed) => new VoxgateClient(ws, started, closed, options));
  }

  /** True between `flow.pause` and `flow.resume`. */
  get paused(): boolean { return this.isPaused; }

  /**
   * Sends audio in the negotiated format, after everything asked for before it. Waits while the server has paused
   * the flow, cuts frames under the server's `limits.max_frame_bytes` on sample-frame boundaries, and resolves once
   * the bytes are handed to the OS (rejects if the session closes first). The caller may reuse `bytes` after.
   * Throws GW_ERR_PARTIAL_SAMPLE locally for a length that is not a whole number of sample frames.
   */
  async sendAudio(bytes: Uint8Array | ArrayBuffer): Promise<void> {
    const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    if (view.byteLength % this.bounds.frameBytes !== 0) {
      throw new GatewayError('GW_ERR_PARTIAL_SAMPLE',
        `audio length must be a multiple of ${this.bounds.frameBytes} bytes, got ${view.byteLength}`);
    }
    this.assertOpen();
    const parts: Promise<void>[] = [];
    for (let off = 0; off < view.byteLength; off += this.bounds.maxAudioFrameBytes) {
      const part = view.subarray(off, Math.min(off + this.bounds.maxAudioFrameBytes, view.byteLength));
      parts.push(new Promise((resolve, reject) => this.enqueue({ kind: 'audio', bytes: part, done: { resolve, reject } })));
    }
    await Promise.all(parts);
  }

  /** session.update (after all audio asked for before it); resolves with `session.updated`, rejects with the server's
   *  non-fatal error (a schema error, GW_ERR_RATE_LIMITED if the server refused it unread, GW_ERR_SESSION_ENDED once
   *  the server's session is ending), or GW_ERR_INTERNAL when no answer came within `replyTimeoutMs` of sending it
   *  (the socket is given up). */
  update(params: Omit<SessionUpdateMessage, 'type'>): Promise<SessionUpdatedMessage> {
    return new Promise((resolve, reject) => {
      const msg = validateClientMessage({ type: 'session.update', ...params });
      this.assertOpen();
      if (this.serverEnding !== null) throw this.serverEnding;
      this.enqueueText(msg, { kind: 'update', settle: (answer, err) => (err === null
        ? resolve(answer as SessionUpdatedMessage) : reject(err)) });
    });
  }

  /** session.finalize: the open utterance (if any) gets its final. Re-sent if the server refused it unread. */
  finalize(): void {
    this.assertOpen();
    this.sendSilent({ type: 'session.finalize' });
  }

  /** ping, ahead of audio that flow.pause holds and of the requests behind it (the server answers a ping on arrival,
   *  so its pong tells only that the server is alive). It goes as soon as the text budget allows (the server counts
   *  pings in it and would refuse one over it) and no ping with the same `id` is waiting for its pong (pongs carry
   *  only the id); `replyTimeoutMs` counts from then. Resolves with its pong; rejects with GW_ERR_RATE_LIMITED if the
   *  server refused it unread, or GW_ERR_INTERNAL when no pong came within `replyTimeoutMs` of sending it (the socket
   *  is given up). Rejects an invalid `id` locally (the server's error would not say which message it answers). */
  ping(id: string | number = `p${this.nextPingId++}`): Promise<PongMessage> {
    return new Promise((resolve, reject) => {
      const msg = validateClientMessage({ type: 'ping', id });
      this.assertOpen(true);
      this.enqueueText(msg, { kind: 'ping', id, settle: (answer, err) => (err === null
        ? resolve(answer as PongMessage) : reject(err)) });
    });
  }

  /**
   * session.end (after all audio asked for before it); resolves with `session.ended` (the server then closes with
   * 1000), also when the server ended the session first (its `reason` is then `error`). Rejects when the socket
   * closed without one, or when none came within `endTimeoutMs` of session.end going out (the socket is given up).
   */
  end(): Promise<SessionEndedMessage> {
    this.endPromise ??= new Promise((resolve, reject) => {
      this.endWaiter = { resolve, reject };
      if (this.why.ended !== null) {
        resolve(this.why.ended); // the server ended the session first
        return;
      }
      this.assertOpen();
      this.sendSilent({ type: 'session.end' }, false, () => this.armEndTimeout());
      this.ending = true;
    });
    return this.endPromise;
  }

  /** Abandons the session: closes the socket without session.end (the server sends nothing more). What waits
   *  rejects with GW_ERR_SESSION_ENDED. */
  close(): void {
    this.why.byCaller = true;
    this.ws.close(1000);
  }

  /** Calls `listener` for every server message (in addition to the async iterator). Returns an unsubscribe. */
  onMessage(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The server messages that arrive while the iterator is active, in order: from its start (a `for await` begins)
   * until it is left or the socket closes, every one. None is kept while no iterator is active: what arrives then
   * goes only to `onMessage` listeners (so a listener-only caller holds no messages). One consumer.
   */
  [Symbol.asyncIterator](): AsyncIterator<ServerMessage> { return this.messages[Symbol.asyncIterator](); }

  /** A frame the server does not answer; if it refuses it unread, it goes again (the caller has no answer to wait
   *  for, and session.end's promise waits for session.ended). */
  private sendSilent(msg: ClientMessage, front = false, sent?: () => void): void {
    const track: Pending = { kind: 'silent', settle: (_, err) => {
      if (err?.code === 'GW_ERR_RATE_LIMITED' && !this.isClosed) this.sendSilent(msg, true, sent);
    } };
    this.enqueue({ kind: 'text', text: JSON.stringify(msg), track, ...(sent === undefined ? {} : { sent }) }, front);
  }

  /** session.end went out: the server has its own bound for finishing; past it (and ours), it stopped answering. */
  private armEndTimeout(): void {
    if (this.endTimer !== undefined || this.isClosed) return;
    const { endTimeoutMs } = this.bounds;
    this.endTimer = setTimeout(() => this.giveUp(`no session.ended within ${endTimeoutMs} ms of session.end`),
      endTimeoutMs);
  }

  /**
   * The server stopped answering: the session ends here, whatever waits rejects with why. Not only the request that
   * timed out: the server answers text frames in the order they arrive, so an answer that never came leaves every
   * later one unmatched (a late `session.updated` would settle the next update), and the audio window waits for
   * answers too.
   */
  private giveUp(why: string): void {
    this.lastFatal ??= new GatewayError('GW_ERR_INTERNAL', why);
    this.ws.terminate();
    this.replies.close(this.lastFatal); // now: frames ws still reads after terminate() find nothing to settle
  }

  private enqueueText(msg: ClientMessage, track: Pending): void {
    this.enqueue({ kind: 'text', text: JSON.stringify(msg), track });
  }

  private enqueue(item: Outbound, front = false): void {
    this.outbox.push(item, front);
    this.poke(); // a ping goes before what the pump may be waiting on
    void this.pump();
  }

  /** Wakes the pump after a change it may wait on (flow, acknowledgements, answers, close). */
  private poke(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /**
   * The one sender, while the socket is open: the outbox (pings first, then the rest in order), audio while not paused
   * and inside the window, text inside the budget. Text waits while a silent frame's fate is unknown (a refused one
   * is sent again, before what was asked after it), but a ping need not: it is never sent again, and its pong tells
   * that fate as the probe's does. A ping waits for one with its id still waiting (reply-tracker.ts says why).
   */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.isClosed && this.ws.readyState === WebSocket.OPEN) {
        const item = this.outbox.head;
        let waitMs: number | null = null; // null: until poked
        if (this.probeWanted) {
          const id = this.replies.probeId();
          waitMs = this.sendText(JSON.stringify({ type: 'ping', id }), { kind: 'ping', id, probe: true, settle: () => {} });
          if (waitMs === 0) this.probeWanted = false;
        } else if (item === undefined) {
          return;
        } else if (item.kind === 'audio') {
          const inWindow = this.sentBytes + item.bytes.byteLength - this.ackedBytes <= this.bounds.windowBytes;
          if (!this.isPaused && inWindow) {
            this.outbox.shift();
            this.sentBytes += item.bytes.byteLength;
            this.ws.send(item.bytes, { binary: true }, (e) => (e ? item.done.reject(this.closedError(e)) : item.done.resolve()));
            continue;
          }
          if (!this.isPaused && this.coveredBytes < this.sentBytes) this.probeWanted = true;
          if (this.probeWanted) continue;
        } else if (this.replies.canSend(item.track)) {
          waitMs = this.sendText(item.text, item.track);
          if (waitMs === 0) {
            this.outbox.shift();
            item.sent?.();
          }
        }
        if (waitMs === 0) continue;
        await new Promise<void>((resolve) => {
          const timer = waitMs === null ? undefined : setTimeout(() => this.poke(), waitMs);
          this.wake = () => { clearTimeout(timer); resolve(); };
        });
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Sends a text frame if the budget has room (returns 0), else returns the ms to wait. */
  private sendText(text: string, track: Pending): number {
    const waitMs = this.budget.take(text.length, performance.now());
    if (waitMs > 0) return waitMs;
    const mark = this.sentBytes;
    this.coveredBytes = mark;
    const { settle } = track;
    const { replyTimeoutMs } = this.bounds;
    const [expected, request] = track.kind === 'ping' ? ['pong', 'ping'] : ['session.updated', 'session.update'];
    const timer = track.kind === 'silent' ? undefined
      : setTimeout(() => this.giveUp(`no ${expected} within ${replyTimeoutMs} ms of ${request}`), replyTimeoutMs);
    this.replies.add({ ...track, settle: (answer, err) => {
      clearTimeout(timer);
      if (track.kind !== 'silent') this.ackedBytes = Math.max(this.ackedBytes, mark); // answered on arrival
      settle(answer, err);
      this.poke();
    } });
    this.ws.send(text);
    // A silent frame is followed by a ping, whose answer tells whether the server took it.
    if (track.kind === 'silent') this.probeWanted = true;
    return 0;
  }

  private assertOpen(allowWhileEnding = false): void {
    if (this.isClosed || this.ws.readyState !== WebSocket.OPEN) throw this.closedError();
    if (this.ending && !allowWhileEnding) {
      throw new GatewayError('GW_ERR_SESSION_ENDED', 'session.end was already sent');
    }
  }

  private closedError(cause?: unknown): GatewayError {
    return this.lastFatal ?? closedSessionError(this.why, cause);
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
      case 'flow.resume': this.isPaused = false; this.poke(); break;
      case 'session.updated': this.replies.answered(msg); break;
      // The client's own pings are its business, not the caller's.
      case 'pong': if (this.replies.answered(msg)?.probe === true) return; break;
      case 'session.ended':
        this.why.ended = msg;
        clearTimeout(this.endTimer);
        this.endWaiter?.resolve(msg);
        break;
      case 'error': {
        const err = errorFromMessage(msg);
        if (err.fatal) this.lastFatal = err;
        else if (err.code === 'GW_ERR_RATE_LIMITED') {
          if (this.replies.refused(err)) this.probeWanted = true;
          this.poke();
        // The client validates updates locally, so a non-fatal schema error answers the oldest pending update.
        } else if (err.code === 'GW_ERR_BAD_MESSAGE' || err.code === 'GW_ERR_BAD_HOTWORD') {
          this.replies.answered(msg, err);
        } else if (err.code === 'GW_ERR_SESSION_ENDED') {
          this.onServerEnding(err);
        }
        // No other non-fatal error answers this client: it validates locally and sends session.start once.
        break;
      }
      default: break;
    }
    for (const l of this.listeners) l(msg);
    this.messages.push(msg);
  }

  /** Updates not answered yet, sent or not, would all be refused: they reject now, not when the socket closes. */
  private onServerEnding(err: GatewayError): void {
    this.serverEnding = err;
    this.replies.ending(err);
    for (const item of this.outbox.take((i) => i.kind === 'text' && i.track.kind === 'update')) {
      if (item.kind === 'text') item.track.settle(null, err);
    }
    this.poke();
  }

  private handleClose(info: CloseInfo): void {
    this.isClosed = true;
    clearTimeout(this.endTimer);
    this.why.close = info;
    const err = this.closedError();
    // Nothing queued is dropped silently: every part of audio not sent rejects its sendAudio.
    for (const item of this.outbox.takeAll()) {
      if (item.kind === 'audio') item.done.reject(err);
      else item.track.settle(null, err);
    }
    this.replies.close(err);
    this.endWaiter?.reject(err); // no-op if session.ended already resolved it
    this.poke();
    this.messages.end();
  }
}
