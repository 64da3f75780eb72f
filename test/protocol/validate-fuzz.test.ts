/**
 * Property test of the inbound validator on 10,000 seeded frames (test/protocol/fuzz-frames.ts): it never throws
 * anything but a GatewayError with a registered code and a bounded message, its fatal flag follows
 * docs/protocol.md (schema errors are fatal in session.start only), and what it accepts is a fixed point that
 * normalises to a session config and back.
 */
import { describe, expect, it } from 'vitest';
import { rng } from '../../bench/bench-random.js';
import { GW_ERRORS, isGatewayError, isGwErrorCode } from '../../src/protocol/errors.js';
import type { ClientMessage } from '../../src/protocol/messages.js';
import { normaliseSessionStart, sessionConfigToStart } from '../../src/protocol/session-config.js';
import { parseClientMessage } from '../../src/protocol/validate.js';
import { textFrame } from './fuzz-frames.js';

const FRAMES = 15_000;

/** The `type` a frame claims, when it is JSON with one (decides whether a schema error is fatal). */
function claimedType(text: string): unknown {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as { type?: unknown }).type : undefined;
  } catch {
    return undefined;
  }
}

describe('parseClientMessage on fuzzed frames', () => {
  it('accepts a fixed point or throws a registered GatewayError with the documented fatal flag', () => {
    const r = rng(42);
    const seen = { accepted: 0, rejected: new Map<string, number>() };
    for (let i = 0; i < FRAMES; i++) {
      const text = textFrame(r);
      let msg: ClientMessage;
      try {
        msg = parseClientMessage(text);
      } catch (e) {
        const where = `frame ${i}: ${text.slice(0, 300)}`;
        expect(isGatewayError(e), where).toBe(true);
        if (!isGatewayError(e)) continue;
        expect(isGwErrorCode(e.code), where).toBe(true);
        expect(e.message.length, where).toBeGreaterThan(0);
        expect(e.message.length, `${where}: ${e.message}`).toBeLessThanOrEqual(600);
        const inStart = claimedType(text) === 'session.start';
        expect(e.fatal, `${where}: ${e.code}`).toBe(GW_ERRORS[e.code].fatal || inStart);
        seen.rejected.set(e.code, (seen.rejected.get(e.code) ?? 0) + 1);
        continue;
      }
      seen.accepted++;
      expect(parseClientMessage(JSON.stringify(msg)), text).toEqual(msg);
      if (msg.type === 'session.start') {
        const config = normaliseSessionStart(msg);
        expect(normaliseSessionStart(sessionConfigToStart(config)), text).toEqual(config);
      }
    }
    // both outcomes, and the validator's main codes, are common enough to mean something
    expect(seen.accepted).toBeGreaterThan(FRAMES / 5);
    for (const code of ['GW_ERR_BAD_JSON', 'GW_ERR_UNKNOWN_TYPE', 'GW_ERR_BAD_MESSAGE', 'GW_ERR_BAD_HOTWORD',
      'GW_ERR_UNSUPPORTED_ENCODING', 'GW_ERR_UNSUPPORTED_RATE', 'GW_ERR_UNSUPPORTED_CHANNELS']) {
      expect(seen.rejected.get(code) ?? 0, code).toBeGreaterThan(5);
    }
  });
});
