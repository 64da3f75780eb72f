/**
 * One transcription session as the CLI drives it, either over a socket (clients/node-client.ts) or in-process
 * (src/server/local-session.ts: the server's own Session state machine without a socket). Both honour
 * `flow.pause` / `flow.resume`, so a file is streamed no faster than the pipeline keeps up.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { VoxgateClient, errorFromMessage } from '../../clients/node-client.js';
import { GatewayError } from '../protocol/errors.js';
import type { ServerMessage, SessionEndedMessage, SessionStartMessage, SessionStartedMessage } from '../protocol/messages.js';
import { validateClientMessage } from '../protocol/validate.js';
import { MAX_SESSION_DURATION_MS, type SessionLimitsConfig } from '../server/config.js';
import { LocalSession } from '../server/local-session.js';
import type { SessionServices } from '../server/session-pipeline-port.js';

export interface TranscriptionChannel {
  readonly started: SessionStartedMessage;
  /** Resolves once the bytes are accepted; waits while the server has paused the flow. */
  sendAudio(bytes: Uint8Array): Promise<void>;
  /** session.end; resolves with session.ended. */
  end(): Promise<SessionEndedMessage>;
  onMessage(listener: (msg: ServerMessage) => void): () => void;
  /** Abandons the session. */
  close(): void;
}

export type StartFields = Omit<SessionStartMessage, 'type'>;

export async function openRemoteChannel(url: string, start: StartFields, apiKey?: string): Promise<TranscriptionChannel> {
  return VoxgateClient.connect(url, { start, ...(apiKey === undefined ? {} : { apiKey }) });
}

/**
 * The server's session limits in-process, but for the maximum duration: it keeps one client from holding a shared
 * server for ever, and in-process there is none to share; its one-hour default, which nothing here could change, cut
 * `transcribe --realtime` of a longer recording with GW_ERR_MAX_DURATION. The longest `serve` takes instead.
 */
const IN_PROCESS_LIMITS: Partial<SessionLimitsConfig> = { maxDurationMs: MAX_SESSION_DURATION_MS };

/** An in-process session on `services` (a loaded SpeechEngine). Rejects with the server's error for a bad start. */
export async function openLocalChannel(services: SessionServices, start: StartFields): Promise<TranscriptionChannel> {
  const msg = validateClientMessage({ type: 'session.start', ...start }) as SessionStartMessage;
  const session = new LocalSession({ services, limits: IN_PROCESS_LIMITS });
  let paused = false;
  // One wake-up shared by every caller waiting on the pause: a resolver of its own per caller was overwritten by the
  // next caller's, and the earlier promise never settled.
  let resumed: Promise<void> = Promise.resolve();
  let resume = (): void => {};
  let fatal: GatewayError | null = null;
  let ended: SessionEndedMessage | null = null;
  let started: SessionStartedMessage | null = null;
  session.onMessage((m) => {
    if (m.type === 'flow.pause') {
      if (!paused) resumed = new Promise<void>((r) => { resume = r; });
      paused = true;
    } else if (m.type === 'flow.resume') {
      paused = false;
      resume();
    } else if (m.type === 'session.started') started = m;
    else if (m.type === 'session.ended') ended = m;
    else if (m.type === 'error' && m.fatal) fatal = errorFromMessage(m);
  });
  void session.closed.then(() => resume());
  session.sendJson(msg);
  if (started === null) throw fatal ?? new GatewayError('GW_ERR_INTERNAL', 'no session.started');
  // As the socket client's (clients/node-client.ts): the server's fatal error if it sent one.
  const closedError = (): GatewayError => fatal ?? new GatewayError('GW_ERR_INTERNAL', 'session closed');
  return {
    started,
    async sendAudio(bytes: Uint8Array): Promise<void> {
      // the session's own flag, not `closed`: that settles only after the close, and a frame sent in between (right
      // after close()) went into the pipeline of a session the client had left
      while (paused && !session.isClosed) await resumed;
      if (session.isClosed) throw closedError();
      session.sendAudio(bytes, started!.audio.channels * (started!.audio.encoding === 'pcm_f32le' ? 4
        : started!.audio.encoding === 'pcm_s16le' ? 2 : 1));
      await nextTurn(); // let the pipeline run between frames, as a socket would
    },
    async end(): Promise<SessionEndedMessage> {
      if (!session.isClosed) session.sendJson({ type: 'session.end' });
      await session.closed;
      if (ended === null) throw closedError();
      return ended;
    },
    onMessage: (listener) => session.onMessage(listener),
    close: () => session.abandon(),
  };
}
