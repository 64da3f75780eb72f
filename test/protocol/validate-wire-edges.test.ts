/**
 * Wire edge cases of the inbound validator that JSON.parse lets through and docs/protocol.md section 3 decides:
 * numbers JSON cannot spell exactly (1e309, -0), Unicode that JavaScript strings can hold but UTF-8 cannot
 * (lone surrogates), and hotword normalisation beyond ASCII.
 */
import { describe, expect, it } from 'vitest';
import { GatewayError, type GwErrorCode } from '../../src/protocol/errors.js';
import type { SessionStartMessage } from '../../src/protocol/messages.js';
import { normaliseSessionStart, sessionConfigToStart } from '../../src/protocol/session-config.js';
import { normaliseHotwordPhrase, parseClientMessage, quoteValue } from '../../src/protocol/validate.js';

const AUDIO = '"audio":{"encoding":"pcm_s16le","sample_rate_hz":16000,"channels":1}';
const startText = (fields: string): string => `{"type":"session.start",${AUDIO}${fields ? `,${fields}` : ''}}`;

function thrown(text: string): GatewayError {
  try {
    parseClientMessage(text);
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    return e as GatewayError;
  }
  throw new Error(`expected a GatewayError for ${text.slice(0, 100)}`);
}

/** No lone surrogate: the string survives UTF-8 and strict JSON parsers (serde_json rejects `"\ud83d"`). */
const wellFormed = (s: string): boolean => !/\p{Cs}/u.test(s);

/** Every number anywhere in `v`, with its path. */
function numbers(v: unknown, path = ''): [string, number][] {
  if (typeof v === 'number') return [[path, v]];
  if (typeof v !== 'object' || v === null) return [];
  return Object.entries(v).flatMap(([k, x]) => numbers(x, `${path}.${k}`));
}

describe('numbers JSON.parse reads but cannot write back', () => {
  it.each<[string, string, GwErrorCode]>([
    ['sample_rate_hz', '{"encoding":"pcm_s16le","sample_rate_hz":1e309,"channels":1}', 'GW_ERR_UNSUPPORTED_RATE'],
    ['sample_rate_hz', '{"encoding":"pcm_s16le","sample_rate_hz":-1e309,"channels":1}', 'GW_ERR_UNSUPPORTED_RATE'],
    ['channels', '{"encoding":"pcm_s16le","sample_rate_hz":16000,"channels":1e309}', 'GW_ERR_UNSUPPORTED_CHANNELS'],
  ])('an overflowing %s is a number of the right JSON type, unsupported: %s -> %s', (_field, audio, code) => {
    const e = thrown(`{"type":"session.start","audio":${audio}}`);
    expect(e.code).toBe(code);
    expect(e.fatal).toBe(true);
    expect(e.message).toMatch(/got -?Infinity$/);
  });

  it('reads -0 as 0, so what it accepts is a fixed point of JSON.stringify', () => {
    const frames = [
      startText('"min_confidence":-0,"background_rejection_db":-0,"hotwords":[{"phrase":"a","boost":-0}]'),
      '{"type":"session.update","min_confidence":-0,"background_rejection_db":-0,"hotwords":[{"phrase":"a","boost":-0}]}',
      '{"type":"ping","id":-0}',
    ];
    for (const text of frames) {
      const msg = parseClientMessage(text);
      for (const [path, n] of numbers(msg)) expect(Object.is(n, -0), `${text}: ${path}`).toBe(false);
      expect(parseClientMessage(JSON.stringify(msg))).toEqual(msg);
    }
  });

  it('quotes -0 as the client wrote it', () => {
    expect(thrown(startText('"chunk_ms":-0')).message).toContain('got -0');
    expect(quoteValue(-0)).toBe('-0');
  });
});

describe('lone surrogates', () => {
  it('truncates a long quoted value without splitting a surrogate pair', () => {
    for (let lead = 0; lead < 4; lead++) {
      const q = quoteValue(`${'a'.repeat(lead)}${'😀'.repeat(100)}`);
      expect(q.length).toBeLessThanOrEqual(80);
      expect(wellFormed(q), q).toBe(true);
    }
    const e = thrown(startText(`"hotwords":[{"phrase":"a${'😀'.repeat(100)}"}]`));
    expect(e.code).toBe('GW_ERR_BAD_HOTWORD');
    expect(wellFormed(e.message), e.message).toBe(true);
  });

  it('answers a frame that is not JSON with a well-formed message, whatever character broke it', () => {
    for (const text of ['😀', '😀😀😀', '{"type":"ping"😀}', `{"type":"ping","id":"a"}${'😀'.repeat(50)}`]) {
      const e = thrown(text);
      expect(e.code).toBe('GW_ERR_BAD_JSON');
      expect(wellFormed(e.message), e.message).toBe(true);
      expect(e.message.length).toBeLessThan(200);
    }
  });

  it('rejects a session tag that is not well-formed Unicode (it is echoed in session.started and logged)', () => {
    for (const tag of ['\\ud800', 'call-\\udc00-1', 'a\\ud83d']) {
      const e = thrown(startText(`"tag":"${tag}"`));
      expect(e.code).toBe('GW_ERR_BAD_MESSAGE');
      expect(e.message).toContain('tag must be');
    }
    const ok = parseClientMessage(startText('"tag":"call 😀 \\ud83d\\ude00"')) as SessionStartMessage;
    expect(ok.tag).toBe('call 😀 😀');
  });
});

describe('hotword phrases', () => {
  it('normalise to NFC, and normalising again changes nothing', () => {
    // Upper-case Greek with a combining accent has no precomposed form; its lower case does (U+0390, U+03B0, ...)
    for (const [raw, nfc] of [['\u03AA\u0301', '\u0390'], ['\u03AB\u0301', '\u03B0'], ['\u1FBC\u0301', '\u1FB4']]) {
      const n = normaliseHotwordPhrase(raw!);
      expect(n).toBe(nfc);
      expect(n).toBe(n.normalize('NFC'));
      expect(normaliseHotwordPhrase(n)).toBe(n);
    }
  });

  it('are unique case-insensitively also where lower-casing composes', () => {
    const e = thrown(startText('"hotwords":[{"phrase":"\\u0390"},{"phrase":"\\u03AA\\u0301"}]'));
    expect(e.code).toBe('GW_ERR_BAD_HOTWORD');
    expect(e.message).toContain('hotwords[1].phrase must be unique');
  });

  it('are a fixed point: the accepted message, sent again, is accepted unchanged', () => {
    const msg = parseClientMessage(startText('"hotwords":[{"phrase":"\\u03AA\\u0301 \\u03AB\\u0301"}]'));
    expect(parseClientMessage(JSON.stringify(msg))).toEqual(msg);
    const config = normaliseSessionStart(msg as SessionStartMessage);
    expect(normaliseSessionStart(sessionConfigToStart(config))).toEqual(config);
  });

  it('name an unknown field of an entry, however long its phrase', () => {
    const e = thrown(startText(`"hotwords":[{"phrase":"${'a'.repeat(90)}","weight":2}]`));
    expect(e.code).toBe('GW_ERR_BAD_HOTWORD');
    expect(e.fatal).toBe(true);
    expect(e.message).toContain('"hotwords[0].weight"');
    const u = thrown('{"type":"session.update","hotwords":[{"phrase":"a"},{"boost":1,"phrase":"b","Phrase":"c"}]}');
    expect(u.code).toBe('GW_ERR_BAD_HOTWORD');
    expect(u.fatal).toBe(false);
    expect(u.message).toContain('"hotwords[1].Phrase"');
  });
});

