/** Wire helpers of the Node client (clients/node-client.ts): server errors and frames to GatewayErrors and text. */
import type { RawData } from 'ws';
import { GatewayError, isGwErrorCode, type GwErrorCode } from '../src/protocol/errors.js';
import type { ErrorMessage } from '../src/protocol/messages.js';

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

/** Maps a rejected upgrade (401 / 429 / 503 / ...) to a GatewayError, preferring the `code` of the JSON body. */
export function upgradeError(status: number, body: string): GatewayError {
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
