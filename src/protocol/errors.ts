/**
 * The one error registry of voxgate (house style: fastify `FST_ERR_*`, ws `WS_ERR_*`).
 *
 * Every error the gateway raises is a {@link GatewayError} whose `code` is a stable `GW_ERR_*` string. The registry
 * {@link GW_ERRORS} fixes, per code, whether the session survives it (`fatal`), the WebSocket close code used when it
 * ends a session (`closeCode`), the HTTP status when it is answered at the upgrade (`httpStatus`), whether a client may
 * retry the same request later (`retryable`) and a one-line description (also the source of docs/protocol.md's table).
 *
 * Fatal policy (why each flag is what it is):
 * - A mistake in one control message that leaves the session well defined is non-fatal: the server sends an `error`
 *   and goes on (bad JSON, unknown type, a bad `session.update`, a bad hotword in an update, a second `session.start`,
 *   anything after `session.end` while the session drains). A client bug should not cost the user's transcript so far.
 * - Anything that leaves the audio stream or the session undefined is fatal: an invalid `session.start` (there is no
 *   session to continue; the server passes `{fatal: true}` for BAD_MESSAGE / BAD_HOTWORD raised by it), audio before
 *   `session.start`, a binary frame that splits a sample frame (every later byte would be misaligned), a frame over
 *   1 MiB, resource limits (backlog, slow consumer, idle, max duration), auth, and server-side failures.
 * - `closeCode` of a non-fatal code is the code used if the server escalates it (e.g. on repeated violations); it is
 *   always a protocol-level code so the registry stays total.
 */

/** WebSocket close codes used by voxgate. 1xxx are RFC 6455 / IANA codes; 4000-4999 are private to voxgate v1. */
export const CLOSE_CODES = {
  /** 1000: session ended normally after `session.ended`. */
  NORMAL: 1000,
  /** 1001: the server is draining (SIGTERM); open utterances were finalised first. */
  GOING_AWAY: 1001,
  /** 1008: policy violation; only the `ws` library sends it (a message in more fragments than it buffers). */
  POLICY_VIOLATION: 1008,
  /** 1009: a frame exceeded the 1 MiB inbound limit. */
  MESSAGE_TOO_BIG: 1009,
  /** 1011: an internal server error (inference, decoder, bug). */
  INTERNAL_ERROR: 1011,
  /** 1013: try again later; the registry's code for the session limits, which are refused at the upgrade (503 / 429). */
  TRY_AGAIN_LATER: 1013,
  /** 4000: the client broke Protocol v1 (bad session.start, audio before start, partial sample frame, ...). */
  PROTOCOL_VIOLATION: 4000,
  /** 4001: no audio and no ping for the idle timeout (default 30 s). */
  IDLE_TIMEOUT: 4001,
  /** 4002: the session reached its maximum duration (default 1 h). */
  MAX_DURATION: 4002,
  /** 4003: unprocessed inbound audio passed the hard limit (default 10 000 ms) despite `flow.pause`. */
  BACKLOG_EXCEEDED: 4003,
  /** 4004: the client read server messages too slowly; outbound buffer passed its hard limit. */
  SLOW_CONSUMER: 4004,
  /** 4005: unauthorized, when auth is checked in-band rather than at the HTTP upgrade. */
  UNAUTHORIZED: 4005,
  /** 4006: no `session.start` within the start timeout (default 10 s) after the upgrade. */
  START_TIMEOUT: 4006,
} as const;

export type CloseCode = (typeof CLOSE_CODES)[keyof typeof CLOSE_CODES];

/** Every error code voxgate can raise. Stable: codes are never renamed or reused. */
export type GwErrorCode =
  | 'GW_ERR_BAD_CONFIG'
  | 'GW_ERR_BAD_JSON'
  | 'GW_ERR_UNKNOWN_TYPE'
  | 'GW_ERR_BAD_MESSAGE'
  | 'GW_ERR_NOT_STARTED'
  | 'GW_ERR_ALREADY_STARTED'
  | 'GW_ERR_SESSION_ENDED'
  | 'GW_ERR_UNSUPPORTED_ENCODING'
  | 'GW_ERR_UNSUPPORTED_RATE'
  | 'GW_ERR_UNSUPPORTED_CHANNELS'
  | 'GW_ERR_PARTIAL_SAMPLE'
  | 'GW_ERR_FRAME_TOO_LARGE'
  | 'GW_ERR_BACKLOG'
  | 'GW_ERR_SLOW_CONSUMER'
  | 'GW_ERR_IDLE_TIMEOUT'
  | 'GW_ERR_START_TIMEOUT'
  | 'GW_ERR_MAX_DURATION'
  | 'GW_ERR_UNAUTHORIZED'
  | 'GW_ERR_TOO_MANY_SESSIONS'
  | 'GW_ERR_KEY_SESSION_LIMIT'
  | 'GW_ERR_SHUTTING_DOWN'
  | 'GW_ERR_INFERENCE'
  | 'GW_ERR_DECODER'
  | 'GW_ERR_INTERNAL'
  | 'GW_ERR_BAD_HOTWORD'
  | 'GW_ERR_RATE_LIMITED'
  | 'GW_ERR_UNREACHABLE';

export interface GwErrorSpec {
  /** True: the server sends the `error`, then closes the socket with `closeCode`. False: the session continues. */
  readonly fatal: boolean;
  /** WebSocket close code when this error ends a session (see {@link CLOSE_CODES}). */
  readonly closeCode: number;
  /** HTTP status when the error is answered at the upgrade request instead of on an open socket. */
  readonly httpStatus?: number;
  /** True when the same request may succeed later without changes (reconnect with backoff). */
  readonly retryable: boolean;
  /** One line for client authors; docs/protocol.md's error table mirrors it. */
  readonly description: string;
}

const C = CLOSE_CODES;

/** The registry. Tests assert docs/protocol.md lists exactly these codes with these flags. */
export const GW_ERRORS: Readonly<Record<GwErrorCode, GwErrorSpec>> = {
  GW_ERR_BAD_CONFIG: {
    fatal: true, closeCode: C.INTERNAL_ERROR, retryable: false,
    description: 'Server or component options are invalid (startup/configuration; never caused by a client).',
  },
  GW_ERR_BAD_JSON: {
    fatal: false, closeCode: C.PROTOCOL_VIOLATION, retryable: false,
    description: 'A text frame is not valid JSON or not a JSON object. The message is ignored.',
  },
  GW_ERR_UNKNOWN_TYPE: {
    fatal: false, closeCode: C.PROTOCOL_VIOLATION, retryable: false,
    description: 'A JSON message has a missing or unknown `type`. The message is ignored.',
  },
  GW_ERR_BAD_MESSAGE: {
    fatal: false, closeCode: C.PROTOCOL_VIOLATION, retryable: false,
    description: 'A message violates its schema (field, type or range). Non-fatal, except in `session.start`.',
  },
  GW_ERR_NOT_STARTED: {
    fatal: true, closeCode: C.PROTOCOL_VIOLATION, retryable: false,
    description: 'Audio or a session control message arrived before `session.start` (the audio format is unknown).',
  },
  GW_ERR_ALREADY_STARTED: {
    fatal: false, closeCode: C.PROTOCOL_VIOLATION, retryable: false,
    description: 'A second `session.start` on a started session. Ignored; the first configuration stays.',
  },
  GW_ERR_SESSION_ENDED: {
    fatal: false, closeCode: C.PROTOCOL_VIOLATION, retryable: false,
    description: 'A message or audio arrived after the session began closing (`session.end`, drain, max duration). '
      + 'Discarded (with this error); the session drains.',
  },
  GW_ERR_UNSUPPORTED_ENCODING: {
    fatal: true, closeCode: C.PROTOCOL_VIOLATION, retryable: false,
    description: '`session.start` asked for an audio encoding other than pcm_s16le, pcm_f32le, mulaw, alaw.',
  },
  GW_ERR_UNSUPPORTED_RATE: {
    fatal: true, closeCode: C.PROTOCOL_VIOLATION, retryable: false,
    description: '`session.start` asked for a sample rate that is not an integer in [8000, 48000] Hz.',
  },
  GW_ERR_UNSUPPORTED_CHANNELS: {
    fatal: true, closeCode: C.PROTOCOL_VIOLATION, retryable: false,
    description: '`session.start` asked for a channel count other than 1 or 2.',
  },
  GW_ERR_PARTIAL_SAMPLE: {
    fatal: true, closeCode: C.PROTOCOL_VIOLATION, retryable: false,
    description: 'A binary frame is not a whole number of sample frames (bytes per sample x channels).',
  },
  GW_ERR_FRAME_TOO_LARGE: {
    fatal: true, closeCode: C.MESSAGE_TOO_BIG, retryable: false,
    description: 'A frame (text or binary) is larger than 1 MiB.',
  },
  GW_ERR_BACKLOG: {
    fatal: true, closeCode: C.BACKLOG_EXCEEDED, retryable: true,
    description: 'Unprocessed inbound audio passed the hard limit after the client saw `flow.pause`, or the '
      + 'in-flight cap. Audio is never dropped silently.',
  },
  GW_ERR_SLOW_CONSUMER: {
    fatal: true, closeCode: C.SLOW_CONSUMER, retryable: true,
    description: 'The client reads server messages too slowly; the outbound buffer passed its hard limit.',
  },
  GW_ERR_IDLE_TIMEOUT: {
    fatal: true, closeCode: C.IDLE_TIMEOUT, retryable: true,
    description: 'No audio and no `ping` for the idle timeout (default 30 s).',
  },
  GW_ERR_START_TIMEOUT: {
    fatal: true, closeCode: C.START_TIMEOUT, retryable: true,
    description: 'No `session.start` within the start timeout after the upgrade (default 10 s; `ping` does not '
      + 'extend it), so an unstarted socket cannot hold a session slot.',
  },
  GW_ERR_MAX_DURATION: {
    fatal: true, closeCode: C.MAX_DURATION, retryable: true,
    description: 'The session reached its maximum duration (default 1 h); open utterances are finalised first.',
  },
  GW_ERR_UNAUTHORIZED: {
    fatal: true, closeCode: C.UNAUTHORIZED, httpStatus: 401, retryable: false,
    description: 'Missing or wrong API key (HTTP 401 at the upgrade; close 4005 if detected in-band).',
  },
  GW_ERR_TOO_MANY_SESSIONS: {
    fatal: true, closeCode: C.TRY_AGAIN_LATER, httpStatus: 503, retryable: true,
    description: 'The server is at its maximum number of sessions, or overloaded (HTTP 503 at the upgrade).',
  },
  GW_ERR_KEY_SESSION_LIMIT: {
    fatal: true, closeCode: C.TRY_AGAIN_LATER, httpStatus: 429, retryable: true,
    description: 'The API key\'s account holds as many open sessions as its `max_sessions` allows (HTTP 429 at the '
      + 'upgrade); retry when one of them has ended.',
  },
  GW_ERR_SHUTTING_DOWN: {
    fatal: true, closeCode: C.GOING_AWAY, httpStatus: 503, retryable: true,
    description: 'The server is draining: new sessions get HTTP 503, open ones are finalised and closed with 1001.',
  },
  GW_ERR_INFERENCE: {
    fatal: true, closeCode: C.INTERNAL_ERROR, httpStatus: 500, retryable: true,
    description: 'The acoustic model (encoder) failed for this session.',
  },
  GW_ERR_DECODER: {
    fatal: true, closeCode: C.INTERNAL_ERROR, httpStatus: 500, retryable: true,
    description: 'The CTC decoder (beam search) failed for this session.',
  },
  GW_ERR_INTERNAL: {
    fatal: true, closeCode: C.INTERNAL_ERROR, httpStatus: 500, retryable: true,
    description: 'An unexpected server error.',
  },
  GW_ERR_BAD_HOTWORD: {
    fatal: false, closeCode: C.PROTOCOL_VIOLATION, retryable: false,
    description: 'A hotword is invalid (empty, too long, duplicate, bad boost, too many). '
      + 'Non-fatal in `session.update` (the old list stays), fatal in `session.start`.',
  },
  GW_ERR_RATE_LIMITED: {
    fatal: false, closeCode: C.PROTOCOL_VIOLATION, retryable: true,
    description: 'A text frame was discarded unread: the session sent more than 60 text frames at once or 30 per '
      + 'second after that (or more than 256 Ki characters per second). Audio frames are not counted. Fatal once the '
      + 'refused frames pass their own budget (600, then 60 per second).',
  },
  // Raised by the Node client (and so the CLI), never sent by the server. No HTTP status: none was answered. The
  // close code is never used; it is a sendable one only so the registry stays total.
  GW_ERR_UNREACHABLE: {
    fatal: true, closeCode: C.TRY_AGAIN_LATER, retryable: true,
    description: 'Client-side, never sent by the server: the client got no answer to its upgrade (connection refused, '
      + 'host not found, a network or TLS failure, or no answer within the start timeout).',
  },
};

/** All codes, in registry order. */
export const GW_ERROR_CODES = Object.keys(GW_ERRORS) as readonly GwErrorCode[];

/** The wire `error` message (Server -> client). Re-exported by messages.ts. */
export interface ErrorMessage {
  type: 'error';
  code: GwErrorCode;
  message: string;
  fatal: boolean;
}

export interface GatewayErrorOptions {
  cause?: unknown;
  /**
   * Overrides the registry's `fatal` for this instance. Used for one case only: BAD_MESSAGE / BAD_HOTWORD raised
   * while validating `session.start` are fatal (there is no session to continue), though non-fatal elsewhere.
   */
  fatal?: boolean;
  /** Overrides the registry's `httpStatus`: the status a client actually received for a refused upgrade (a 404, a
   *  proxy's 502), which the code it maps to does not tell. */
  httpStatus?: number;
}

/** The only error type voxgate throws. `fatal` / `closeCode` come from {@link GW_ERRORS}. */
export class GatewayError extends Error {
  readonly code: GwErrorCode;
  readonly fatal: boolean;
  readonly closeCode: number;
  readonly httpStatus: number | undefined;
  readonly retryable: boolean;

  constructor(code: GwErrorCode, message: string, options?: GatewayErrorOptions) {
    super(message, options && 'cause' in options ? { cause: options.cause } : undefined);
    // an own-property check: GW_ERRORS['toString'] is Object.prototype's, not undefined
    if (!isGwErrorCode(code)) throw new TypeError(`unknown GwErrorCode ${JSON.stringify(code)}`);
    const spec = GW_ERRORS[code];
    this.name = 'GatewayError';
    this.code = code;
    this.fatal = options?.fatal ?? spec.fatal;
    this.closeCode = spec.closeCode;
    this.httpStatus = options?.httpStatus ?? spec.httpStatus;
    this.retryable = spec.retryable;
  }

  /** The wire form: `{type: 'error', code, message, fatal}`. */
  toErrorMessage(): ErrorMessage {
    return { type: 'error', code: this.code, message: this.message, fatal: this.fatal };
  }
}

export function isGatewayError(e: unknown): e is GatewayError {
  return e instanceof GatewayError;
}

/** True for strings that are registered codes (e.g. a code read back from the wire). */
export function isGwErrorCode(code: unknown): code is GwErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(GW_ERRORS, code);
}

/**
 * Wraps anything thrown into a GatewayError: GatewayErrors pass through, everything else becomes `fallback`
 * (default GW_ERR_INTERNAL) with the original as `cause`. For catch blocks at layer boundaries.
 */
export function toGatewayError(e: unknown, fallback: GwErrorCode = 'GW_ERR_INTERNAL'): GatewayError {
  if (e instanceof GatewayError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new GatewayError(fallback, message, { cause: e });
}
