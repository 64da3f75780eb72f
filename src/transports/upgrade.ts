/**
 * How both carriers decide a request that asks for an upgrade, so that the same request gets the same answer on
 * uWebSockets.js and on `ws`: the RFC 6455 section 4.2.1 checks of the opening handshake here, then the
 * {@link UpgradeGate}. Neither library is left to refuse a handshake itself: ws answered with HTML bodies (after the
 * gate had run and counted its refusal), and uWebSockets.js checks only that Sec-WebSocket-Key has 24 characters,
 * upgrading without `Upgrade: websocket` or `Connection: Upgrade` and handing a request without such a key to the HTTP
 * routes (404 text).
 */
import { GatewayError, type GwErrorCode } from '../protocol/errors.js';
import type { GateDecision, UpgradeGate, UpgradeRequest } from './transport.js';

/** A handshake that is no valid opening handshake (RFC 6455 section 4.2.1), refused before the gate. */
export interface HandshakeRefusal {
  ok: false;
  status: 400 | 405 | 426;
  code: 'GW_ERR_BAD_MESSAGE';
  message: string;
}

/** A carrier's answer to an upgrade: a {@link HandshakeRefusal}, the gate's, or 500 (the gate threw). */
export type UpgradeDecision = GateDecision | HandshakeRefusal | { ok: false; status: 500; code: GwErrorCode; message: string };

/**
 * Headers of a rejected upgrade: JSON, `Retry-After: 1` on 503 (session limit, draining) and 429 (the key's own
 * session limit), which are worth retrying, on 426 the protocol version the server speaks (RFC 6455 section 4.4), on
 * 405 the one method an upgrade may use, and on 401 the scheme it takes (RFC 9110 section 15.5.2: a 401 must carry a
 * challenge).
 */
export function rejectionHeaders(status: number): Record<string, string> {
  const json = { 'content-type': 'application/json' };
  if (status === 503 || status === 429) return { ...json, 'retry-after': '1' };
  if (status === 426) return { ...json, 'sec-websocket-version': '13' };
  if (status === 405) return { ...json, allow: 'GET' };
  if (status === 401) return { ...json, 'www-authenticate': 'Bearer' };
  return json;
}

/** JSON body of a rejected upgrade: the wire `error` message. */
export function rejectionBody(code: GwErrorCode, message: string): string {
  return JSON.stringify(new GatewayError(code, message, { fatal: true }).toErrorMessage());
}

/** RFC 7230 `token` characters (RFC 6455 section 4.1: a subprotocol is a token). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** The base64 of 16 bytes, which is what a Sec-WebSocket-Key must be (RFC 6455 section 4.1, item 7). */
const WS_KEY = /^[+/0-9A-Za-z]{22}==$/;

/** Cuts the optional whitespace (RFC 9110 section 5.6.3) around a list element or header value. */
const trimOws = (s: string): string => s.replace(/^[ \t]+|[ \t]+$/g, '');

/**
 * The subprotocols a `Sec-WebSocket-Protocol` value offers, in order, or null when it is no list of distinct tokens
 * (empty included). `ws` refuses such an offer itself, with an HTML 400, and uWebSockets.js echoed it back whole, so
 * {@link handshakeRefusal} refuses it first, alike on both.
 */
export function offeredProtocols(header: string): string[] | null {
  const offered = header.split(',').map(trimOws);
  if (offered.some((p) => !TOKEN.test(p)) || new Set(offered).size !== offered.length) return null;
  return offered;
}

/**
 * True when the request asks for an upgrade at all: it has an `Upgrade` header, with or without `Connection: Upgrade`
 * (node:http hands only requests with both to its 'upgrade' event, uWebSockets.js only those with a 24-character
 * Sec-WebSocket-Key to its ws route, so each carrier asks this of the other requests too). Without one a request is a
 * plain HTTP request for the routes, whatever WebSocket headers it carries.
 */
export function isUpgradeRequest(headers: Readonly<Record<string, string>>): boolean {
  return headers.upgrade !== undefined;
}

/**
 * Why a request that {@link isUpgradeRequest} is no valid WebSocket opening handshake, or null when it is one. In this
 * order: an `Upgrade` other than `websocket` (400: the only upgrade served), a method other than GET (405), no
 * `upgrade` token in `Connection` (400), a Sec-WebSocket-Key that is not the base64 of 16 bytes (400), a
 * Sec-WebSocket-Version other than 13 (426; uWebSockets.js alone used to accept 12), a malformed
 * Sec-WebSocket-Protocol (400). Repeated headers arrive joined with `, `, so two keys or versions are refused too.
 */
export function handshakeRefusal(method: string, headers: Readonly<Record<string, string>>): HandshakeRefusal | null {
  const refuse = (status: HandshakeRefusal['status'], message: string): HandshakeRefusal =>
    ({ ok: false, status, code: 'GW_ERR_BAD_MESSAGE', message });
  if (trimOws(headers.upgrade ?? '').toLowerCase() !== 'websocket') {
    return refuse(400, 'only WebSocket upgrades are supported');
  }
  if (method !== 'GET') return refuse(405, `a WebSocket upgrade must be a GET request, got ${method}`);
  const connection = (headers.connection ?? '').split(',').map((t) => trimOws(t).toLowerCase());
  if (!connection.includes('upgrade')) {
    return refuse(400, 'a WebSocket upgrade needs the token "Upgrade" in its Connection header (RFC 6455 section 4.2.1)');
  }
  if (!WS_KEY.test(trimOws(headers['sec-websocket-key'] ?? ''))) {
    return refuse(400, 'Sec-WebSocket-Key must be one base64-encoded 16-byte value (RFC 6455 section 4.2.1)');
  }
  const version = headers['sec-websocket-version'];
  if (version !== '13') return refuse(426, `Sec-WebSocket-Version must be 13, got ${JSON.stringify(version ?? null)}`);
  const protocols = headers['sec-websocket-protocol'];
  if (protocols !== undefined && offeredProtocols(protocols) === null) {
    return refuse(400, 'Sec-WebSocket-Protocol must be a list of distinct tokens (RFC 6455 section 4.1)');
  }
  return null;
}

/**
 * Every carrier decides an upgrade request here: {@link handshakeRefusal} first (so a broken handshake never reaches
 * the gate, nor its refusal counts), then the gate, and a gate that throws is a 500 rather than an exception inside
 * the carrier.
 */
export function decideUpgrade(gate: UpgradeGate, method: string, request: UpgradeRequest): UpgradeDecision {
  const refusal = handshakeRefusal(method, request.headers);
  if (refusal !== null) return refusal;
  try {
    return gate.authorise(request);
  } catch (e) {
    return { ok: false, status: 500, code: e instanceof GatewayError ? e.code : 'GW_ERR_INTERNAL', message: 'upgrade failed' };
  }
}
