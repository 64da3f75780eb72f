/** Wire helpers of the Node client (clients/node-client.ts): server errors and frames to GatewayErrors and text. */
import type { RawData } from 'ws';
import { GatewayError, GW_ERROR_CODES, GW_ERRORS, isGwErrorCode, type GwErrorCode } from '../src/protocol/errors.js';
import type { ErrorMessage, SessionEndedMessage } from '../src/protocol/messages.js';

/** Turns a wire `error` message into a GatewayError (unknown codes from newer servers become GW_ERR_INTERNAL). */
export function errorFromMessage(msg: ErrorMessage): GatewayError {
  const code: GwErrorCode = isGwErrorCode(msg.code) ? msg.code : 'GW_ERR_INTERNAL';
  return new GatewayError(code, code === msg.code ? msg.message : `${String(msg.code)}: ${msg.message}`,
    { fatal: msg.fatal });
}

export function rawToString(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
}

/** Why the session's socket went, as far as the client knows it (the server's fatal error aside). */
export interface ClosedWhy {
  /** The caller's close(). */
  byCaller: boolean;
  /** The server's session.ended, whoever asked for it. */
  ended: SessionEndedMessage | null;
  /** The close code and reason, once the socket has closed. */
  close: { code: number; reason: string } | null;
}

/**
 * The error of a request once the session's socket is closing or closed, when the server sent no fatal error:
 * GW_ERR_SESSION_ENDED after the caller's close() or a session.ended (not a server failure), else the registry's one
 * fatal code with the close code (4004 GW_ERR_SLOW_CONSUMER, which the server sends alone, docs/protocol.md section
 * 2), else GW_ERR_INTERNAL (a lost connection, 1006; a close code several codes share).
 */
export function closedSessionError(why: ClosedWhy, cause?: unknown): GatewayError {
  if (why.byCaller || why.ended !== null) {
    return new GatewayError('GW_ERR_SESSION_ENDED', why.byCaller ? 'the session was closed by close()'
      : 'the session has ended (session.ended)', { cause });
  }
  if (why.close === null) return new GatewayError('GW_ERR_INTERNAL', 'socket is closed', { cause });
  const { code, reason } = why.close;
  const matches = GW_ERROR_CODES.filter((c) => GW_ERRORS[c].fatal && GW_ERRORS[c].closeCode === code);
  // 1006 is no close code anyone sent: the connection dropped (a reset, a server that died, a relay cut)
  const what = code === 1006 ? 'connection lost (1006: closed without a close frame)'
    : `socket closed (${code}${reason === '' ? '' : ` ${reason}`})`;
  return new GatewayError(matches.length === 1 ? matches[0]! : 'GW_ERR_INTERNAL', what, { cause });
}

/** Maps a rejected upgrade (401 / 429 / 503 / ...) to a GatewayError, preferring the `code` of the JSON body. Fatal
 *  whatever the code (the body's BAD_MESSAGE for a 404 says so too): no session was opened to go on. */
export function upgradeError(status: number, body: string): GatewayError {
  let code: GwErrorCode = status === 401 ? 'GW_ERR_UNAUTHORIZED' : status === 503 ? 'GW_ERR_TOO_MANY_SESSIONS'
    : status === 429 ? 'GW_ERR_KEY_SESSION_LIMIT' : 'GW_ERR_INTERNAL';
  let message = `upgrade rejected with HTTP ${status}`;
  try {
    const parsed = JSON.parse(body) as { code?: unknown; message?: unknown };
    if (isGwErrorCode(parsed.code)) code = parsed.code;
    if (typeof parsed.message === 'string') message += `: ${parsed.message}`;
  } catch { /* non-JSON body: keep the status-derived code */ }
  return new GatewayError(code, message, { fatal: true, httpStatus: status });
}
