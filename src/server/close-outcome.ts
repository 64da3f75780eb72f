/**
 * What a session's end counts as (`voxgate_sessions_total{reason}`, docs/protocol.md section 10) when the socket
 * closed without the session deciding it. The transport closes some sockets itself, for limits it enforces or frames
 * that break RFC 6455 before the session could read them; those are the client's doing, so they count under the
 * error code nearest to what the client did. A close the peer started is the client leaving: `abandoned`, whatever
 * its code (a client may itself send 4004, 1009, 1007, 1002 or 1008; the transport tells the two apart, see
 * {@link CloseOrigin}).
 */
import { CLOSE_CODES, type GwErrorCode } from '../protocol/errors.js';
import type { CloseOrigin } from '../transports/transport.js';

const CARRIER_CLOSE_OUTCOMES: ReadonlyMap<number, GwErrorCode> = new Map<number, GwErrorCode>([
  [CLOSE_CODES.SLOW_CONSUMER, 'GW_ERR_SLOW_CONSUMER'],
  // a frame over the carrier's ceiling (2 MiB), cut off before it could be read
  [CLOSE_CODES.MESSAGE_TOO_BIG, 'GW_ERR_FRAME_TOO_LARGE'],
  // a text frame that is not UTF-8 cannot be a JSON text (RFC 8259 section 8.1)
  [1007, 'GW_ERR_BAD_JSON'],
  // broken framing (reserved opcode or bits, unmasked frame, bad continuation) ...
  [1002, 'GW_ERR_BAD_MESSAGE'],
  // ... or a message in more fragments than the carrier buffers
  [CLOSE_CODES.POLICY_VIOLATION, 'GW_ERR_BAD_MESSAGE'],
  // the transport shutting down (TransportServer.close()) under a session that was not told first
  [CLOSE_CODES.GOING_AWAY, 'GW_ERR_SHUTTING_DOWN'],
]);

/**
 * The outcome of a socket closed with `code` by `origin` before the session decided one: an error code, or
 * `abandoned`. A peer's close is always `abandoned`; the server's or the carrier's counts under the error code of
 * the limit or rule it enforced (`abandoned` for any other code, e.g. 1006 when the keepalive dropped a silent peer).
 */
export function closeOutcome(code: number, origin: CloseOrigin): GwErrorCode | 'abandoned' {
  if (origin === 'peer') return 'abandoned';
  return CARRIER_CLOSE_OUTCOMES.get(code) ?? 'abandoned';
}
