import { describe, expect, it } from 'vitest';
import {
  CLOSE_CODES, GW_ERROR_CODES, GW_ERRORS, GatewayError, isGatewayError, isGwErrorCode, toGatewayError,
  type GwErrorCode,
} from '../../src/protocol/errors.js';

/** Close codes a server may legally send (RFC 6455 7.4: 1000-1014 minus reserved ones, 3000-4999). */
function sendable(code: number): boolean {
  return (code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code)) || (code >= 3000 && code <= 4999);
}

describe('GW_ERRORS registry', () => {
  it('lists the codes the brief requires', () => {
    const required: GwErrorCode[] = [
      'GW_ERR_BAD_CONFIG', 'GW_ERR_BAD_JSON', 'GW_ERR_UNKNOWN_TYPE', 'GW_ERR_BAD_MESSAGE', 'GW_ERR_NOT_STARTED',
      'GW_ERR_ALREADY_STARTED', 'GW_ERR_SESSION_ENDED', 'GW_ERR_UNSUPPORTED_ENCODING', 'GW_ERR_UNSUPPORTED_RATE',
      'GW_ERR_UNSUPPORTED_CHANNELS', 'GW_ERR_PARTIAL_SAMPLE', 'GW_ERR_FRAME_TOO_LARGE', 'GW_ERR_BACKLOG',
      'GW_ERR_SLOW_CONSUMER', 'GW_ERR_IDLE_TIMEOUT', 'GW_ERR_START_TIMEOUT', 'GW_ERR_MAX_DURATION', 'GW_ERR_UNAUTHORIZED',
      'GW_ERR_TOO_MANY_SESSIONS', 'GW_ERR_KEY_SESSION_LIMIT', 'GW_ERR_SHUTTING_DOWN', 'GW_ERR_INFERENCE', 'GW_ERR_DECODER', 'GW_ERR_INTERNAL',
      'GW_ERR_BAD_HOTWORD', 'GW_ERR_RATE_LIMITED', 'GW_ERR_UNREACHABLE',
    ];
    expect([...GW_ERROR_CODES].sort()).toEqual([...required].sort());
  });

  it('uses only sendable close codes, all of them named in CLOSE_CODES', () => {
    const named = new Set<number>(Object.values(CLOSE_CODES));
    for (const code of GW_ERROR_CODES) {
      const spec = GW_ERRORS[code];
      expect(sendable(spec.closeCode), code).toBe(true);
      expect(named.has(spec.closeCode), code).toBe(true);
      expect(spec.description.length, code).toBeGreaterThan(10);
    }
    for (const c of Object.values(CLOSE_CODES)) expect(sendable(c)).toBe(true);
  });

  it('pins the documented close codes', () => {
    expect(CLOSE_CODES).toMatchObject({
      NORMAL: 1000, GOING_AWAY: 1001, POLICY_VIOLATION: 1008, MESSAGE_TOO_BIG: 1009, INTERNAL_ERROR: 1011,
      PROTOCOL_VIOLATION: 4000, IDLE_TIMEOUT: 4001, MAX_DURATION: 4002, BACKLOG_EXCEEDED: 4003, SLOW_CONSUMER: 4004,
      UNAUTHORIZED: 4005, START_TIMEOUT: 4006,
    });
    expect(GW_ERRORS.GW_ERR_BACKLOG.closeCode).toBe(4003);
    expect(GW_ERRORS.GW_ERR_SLOW_CONSUMER.closeCode).toBe(4004);
    expect(GW_ERRORS.GW_ERR_IDLE_TIMEOUT.closeCode).toBe(4001);
    expect(GW_ERRORS.GW_ERR_MAX_DURATION.closeCode).toBe(4002);
    expect(GW_ERRORS.GW_ERR_START_TIMEOUT.closeCode).toBe(4006);
    expect(GW_ERRORS.GW_ERR_FRAME_TOO_LARGE.closeCode).toBe(1009);
    expect(GW_ERRORS.GW_ERR_SHUTTING_DOWN.closeCode).toBe(1001);
    expect(GW_ERRORS.GW_ERR_UNAUTHORIZED.httpStatus).toBe(401);
    expect(GW_ERRORS.GW_ERR_TOO_MANY_SESSIONS.httpStatus).toBe(503);
    expect(GW_ERRORS.GW_ERR_KEY_SESSION_LIMIT.httpStatus).toBe(429);
    expect(GW_ERRORS.GW_ERR_SHUTTING_DOWN.httpStatus).toBe(503);
  });

  it('keeps the session alive for recoverable client mistakes only', () => {
    const nonFatal = GW_ERROR_CODES.filter((c) => !GW_ERRORS[c].fatal).sort();
    expect(nonFatal).toEqual([
      'GW_ERR_ALREADY_STARTED', 'GW_ERR_BAD_HOTWORD', 'GW_ERR_BAD_JSON', 'GW_ERR_BAD_MESSAGE', 'GW_ERR_RATE_LIMITED',
      'GW_ERR_SESSION_ENDED', 'GW_ERR_UNKNOWN_TYPE',
    ]);
  });
});

describe('GatewayError', () => {
  it('takes fatal, closeCode, httpStatus from the registry', () => {
    const e = new GatewayError('GW_ERR_BACKLOG', 'backlog 10500 ms > 10000 ms');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('GatewayError');
    expect(e.code).toBe('GW_ERR_BACKLOG');
    expect(e.fatal).toBe(true);
    expect(e.closeCode).toBe(4003);
    expect(e.retryable).toBe(true);
    expect(e.httpStatus).toBeUndefined();
    expect(new GatewayError('GW_ERR_UNAUTHORIZED', 'x').httpStatus).toBe(401);
  });

  it('lets session.start escalate a non-fatal code', () => {
    expect(new GatewayError('GW_ERR_BAD_MESSAGE', 'x').fatal).toBe(false);
    expect(new GatewayError('GW_ERR_BAD_MESSAGE', 'x', { fatal: true }).fatal).toBe(true);
  });

  it('keeps the cause', () => {
    const cause = new Error('onnx failed');
    expect(new GatewayError('GW_ERR_INFERENCE', 'encoder failed', { cause }).cause).toBe(cause);
    expect('cause' in new GatewayError('GW_ERR_INFERENCE', 'x')).toBe(false);
  });

  it('serialises to the wire error message', () => {
    const msg = new GatewayError('GW_ERR_BAD_JSON', 'invalid JSON').toErrorMessage();
    expect(msg).toEqual({ type: 'error', code: 'GW_ERR_BAD_JSON', message: 'invalid JSON', fatal: false });
    expect(JSON.parse(JSON.stringify(msg))).toEqual(msg);
  });

  it('rejects unregistered codes', () => {
    expect(() => new GatewayError('GW_ERR_NOPE' as GwErrorCode, 'x')).toThrow(TypeError);
  });

  it('rejects the names GW_ERRORS inherits from Object.prototype (a code read from the wire can be any string)', () => {
    for (const code of ['toString', '__proto__', 'constructor', 'hasOwnProperty']) {
      expect(() => new GatewayError(code as GwErrorCode, 'x'), code).toThrow(TypeError);
    }
  });

  it('guards and wraps', () => {
    const e = new GatewayError('GW_ERR_DECODER', 'x');
    expect(isGatewayError(e)).toBe(true);
    expect(isGatewayError(new Error('x'))).toBe(false);
    expect(isGatewayError('GW_ERR_DECODER')).toBe(false);
    expect(toGatewayError(e)).toBe(e);
    const wrapped = toGatewayError(new RangeError('boom'));
    expect(wrapped.code).toBe('GW_ERR_INTERNAL');
    expect(wrapped.message).toBe('boom');
    expect(wrapped.cause).toBeInstanceOf(RangeError);
    expect(toGatewayError('str', 'GW_ERR_DECODER').code).toBe('GW_ERR_DECODER');
    expect(isGwErrorCode('GW_ERR_BACKLOG')).toBe(true);
    expect(isGwErrorCode('toString')).toBe(false);
    expect(isGwErrorCode(42)).toBe(false);
  });
});
