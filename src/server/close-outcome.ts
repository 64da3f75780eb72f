/**
 * What a session's end counts as (`voxgate_sessions_total{reason}`, docs/protocol.md section 10) when the socket
 * closed without the session deciding it. The transport closes some sockets itself, for limits it enforces or frames
 * that break RFC 6455 before the session could read them; those are the client's doing, so they count under the
 * error code nearest to what the client did. Any other close is the client leaving: `abandoned`.
 *
 * The session sees only the close code, not who closed: a client that itself closes with one of these codes counts
 * the same way (browsers cannot send them; a client that does reports a protocol failure on this connection).
 */
import { CLOSE_CODES, type GwErrorCode } from '../protocol/errors.js';

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
]);

/** The outcome of a socket closed with `code` before the session decided one: an error code, or `abandoned`. */
export function carrierCloseOutcome(code: number): GwErrorCode | 'abandoned' {
  return CARRIER_CLOSE_OUTCOMES.get(code) ?? 'abandoned';
}
