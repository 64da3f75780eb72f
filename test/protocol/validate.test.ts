import { describe, expect, it } from 'vitest';
import { GatewayError, type GwErrorCode } from '../../src/protocol/errors.js';
import { PROTOCOL_LIMITS, type SessionStartMessage } from '../../src/protocol/messages.js';
import {
  applySessionUpdate, normaliseSessionStart, normaliseSessionUpdate, sessionConfigToStart, type SessionConfig,
} from '../../src/protocol/session-config.js';
import {
  audioBytesToMs, bytesPerSampleFrame, parseClientMessage, parseServerMessage, validateClientMessage,
} from '../../src/protocol/validate.js';

const AUDIO = { encoding: 'pcm_s16le', sample_rate_hz: 16000, channels: 1 };

/** Runs fn, expects a GatewayError, returns it. */
function thrown(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    return e as GatewayError;
  }
  throw new Error('expected a GatewayError, nothing was thrown');
}

const start = (fields: Record<string, unknown>): string => JSON.stringify({ type: 'session.start', audio: AUDIO, ...fields });
const startErr = (fields: Record<string, unknown>): GatewayError => thrown(() => parseClientMessage(start(fields)));

describe('parseClientMessage: framing', () => {
  it.each<[string, GwErrorCode]>([
    ['', 'GW_ERR_BAD_JSON'],
    ['{', 'GW_ERR_BAD_JSON'],
    ['{"type":"ping",}', 'GW_ERR_BAD_JSON'],
    ['null', 'GW_ERR_BAD_JSON'],
    ['[]', 'GW_ERR_BAD_JSON'],
    ['"ping"', 'GW_ERR_BAD_JSON'],
    ['42', 'GW_ERR_BAD_JSON'],
    ['{}', 'GW_ERR_UNKNOWN_TYPE'],
    ['{"type":42}', 'GW_ERR_UNKNOWN_TYPE'],
    ['{"type":"session.stop"}', 'GW_ERR_UNKNOWN_TYPE'],
    ['{"type":"PING"}', 'GW_ERR_UNKNOWN_TYPE'],
    ['{"type":"toString"}', 'GW_ERR_UNKNOWN_TYPE'],
  ])('%s -> %s (non-fatal)', (text, code) => {
    const e = thrown(() => parseClientMessage(text));
    expect(e.code).toBe(code);
    expect(e.fatal).toBe(false);
  });

  it('rejects text over 1 MiB as FRAME_TOO_LARGE', () => {
    const text = JSON.stringify({ type: 'ping', id: 'x'.repeat(PROTOCOL_LIMITS.maxFrameBytes) });
    const e = thrown(() => parseClientMessage(text));
    expect(e.code).toBe('GW_ERR_FRAME_TOO_LARGE');
    expect(e.closeCode).toBe(1009);
  });

  it('answers deeply nested JSON with the schema error, not a stack overflow (the frame is 1 MiB at most)', () => {
    const deep = (open: string, close: string, n: number): string => open.repeat(n) + close.repeat(n);
    for (const [text, code] of [
      [`{"type":"ping","id":${deep('[', ']', 200_000)}}`, 'GW_ERR_BAD_MESSAGE'],
      [deep('[', ']', 200_000), 'GW_ERR_BAD_JSON'],
      [`{"type":"session.update","min_confidence":${deep('{"a":', '}', 50_000).replace('{"a":}', '{"a":1}')}}`,
        'GW_ERR_BAD_MESSAGE'],
    ] as const) {
      const e = thrown(() => parseClientMessage(text));
      expect(e.code).toBe(code);
      expect(e.fatal).toBe(false);
      expect(e.message.length).toBeLessThan(300);
    }
  });

  it('quotes the bad type', () => {
    expect(thrown(() => parseClientMessage('{"type":"session.stop"}')).message).toContain('"session.stop"');
  });
});

describe('parseClientMessage: simple messages', () => {
  it.each([
    [{ type: 'session.finalize' }],
    [{ type: 'session.end' }],
    [{ type: 'ping' }],
    [{ type: 'ping', id: 7 }],
    [{ type: 'ping', id: 'abc' }],
    [{ type: 'session.update' }],
  ])('round trips %j', (msg) => {
    expect(parseClientMessage(JSON.stringify(msg))).toEqual(msg);
  });

  it.each([
    [{ type: 'session.end', now: true }, 'unknown field "now"'],
    [{ type: 'session.finalize', x: 1 }, 'unknown field "x"'],
    [{ type: 'ping', id: {} }, 'id must be'],
    [{ type: 'ping', id: 'x'.repeat(129) }, 'id must be'],
    [{ type: 'ping', ts: 1 }, 'unknown field "ts"'],
  ])('%j -> BAD_MESSAGE (non-fatal)', (msg, text) => {
    const e = thrown(() => parseClientMessage(JSON.stringify(msg)));
    expect(e.code).toBe('GW_ERR_BAD_MESSAGE');
    expect(e.fatal).toBe(false);
    expect(e.message).toContain(text);
  });
});

describe('session.start validation', () => {
  it('accepts a minimal start and applies every default', () => {
    const msg = parseClientMessage(start({}));
    expect(msg).toEqual({ type: 'session.start', audio: AUDIO });
    expect(normaliseSessionStart(msg as SessionStartMessage)).toEqual<SessionConfig>({
      encoding: 'pcm_s16le', sampleRateHz: 16000, channels: 1, interimResults: true, latency: 'balanced', chunkMs: 320,
      silenceMs: 500, maxUtteranceMs: 15000, hotwords: [], denoise: 'off', minConfidence: 0.15, numerals: false,
      multichannel: false, alternatives: 1, backgroundRejectionDb: 0, tag: null, language: null, model: null,
    });
  });

  it('accepts a full start', () => {
    const full = {
      type: 'session.start', audio: { encoding: 'mulaw', sample_rate_hz: 8000, channels: 2 }, interim_results: false,
      chunk_ms: 1280, endpointing: { silence_ms: 100, max_utterance_ms: 60000 },
      hotwords: [{ phrase: '  Voxgate   Cloud ', boost: 20 }, { phrase: 'kaldi' }], denoise: 'spectral',
      min_confidence: 0, numerals: true, multichannel: true, alternatives: 10, background_rejection_db: 12.5,
      tag: 'CA1f2e · queue "billing"',
      language: 'en-US', model: 'nemo-ctc.int8',
    };
    const config = normaliseSessionStart(parseClientMessage(JSON.stringify(full)) as SessionStartMessage);
    expect(config).toEqual<SessionConfig>({
      encoding: 'mulaw', sampleRateHz: 8000, channels: 2, interimResults: false, latency: null, chunkMs: 1280,
      silenceMs: 100, maxUtteranceMs: 60000, hotwords: [{ phrase: 'voxgate cloud', boost: 20 }, { phrase: 'kaldi', boost: 2 }],
      denoise: 'spectral', minConfidence: 0, numerals: true, multichannel: true, alternatives: 10,
      backgroundRejectionDb: 12.5, tag: 'CA1f2e · queue "billing"', language: 'en-US', model: 'nemo-ctc.int8',
    });
  });

  it.each([['low', 160], ['balanced', 320], ['accurate', 640]] as const)('latency %s -> %i ms', (latency, chunkMs) => {
    const c = normaliseSessionStart(parseClientMessage(start({ latency })) as SessionStartMessage);
    expect(c.chunkMs).toBe(chunkMs);
    expect(c.latency).toBe(latency);
  });

  it.each([80, 120, 640, 1280])('chunk_ms %i is accepted', (chunk_ms) => {
    expect(normaliseSessionStart(parseClientMessage(start({ chunk_ms })) as SessionStartMessage).chunkMs).toBe(chunk_ms);
  });

  it.each(['pcm_s16le', 'pcm_f32le', 'mulaw', 'alaw'])('encoding %s is accepted', (encoding) => {
    expect(() => parseClientMessage(start({ audio: { ...AUDIO, encoding } }))).not.toThrow();
  });

  it.each([8000, 11025, 16000, 22050, 44100, 48000])('rate %i is accepted', (rate) => {
    expect(() => parseClientMessage(start({ audio: { ...AUDIO, sample_rate_hz: rate } }))).not.toThrow();
  });

  it.each<[string, Record<string, unknown>, GwErrorCode, string]>([
    ['no audio', { audio: undefined }, 'GW_ERR_BAD_MESSAGE', 'audio must be an object'],
    ['audio array', { audio: [] }, 'GW_ERR_BAD_MESSAGE', 'audio must be'],
    ['audio extra field', { audio: { ...AUDIO, bits: 16 } }, 'GW_ERR_BAD_MESSAGE', '"audio.bits"'],
    ['encoding missing', { audio: { sample_rate_hz: 16000, channels: 1 } }, 'GW_ERR_BAD_MESSAGE', 'got nothing'],
    ['encoding number', { audio: { ...AUDIO, encoding: 16 } }, 'GW_ERR_BAD_MESSAGE', 'audio.encoding must be a string'],
    ['encoding opus', { audio: { ...AUDIO, encoding: 'opus' } }, 'GW_ERR_UNSUPPORTED_ENCODING', 'got "opus"'],
    ['encoding case', { audio: { ...AUDIO, encoding: 'PCM_S16LE' } }, 'GW_ERR_UNSUPPORTED_ENCODING', '"PCM_S16LE"'],
    ['rate string', { audio: { ...AUDIO, sample_rate_hz: '16000' } }, 'GW_ERR_BAD_MESSAGE', 'got "16000"'],
    ['rate missing', { audio: { encoding: 'alaw', channels: 1 } }, 'GW_ERR_BAD_MESSAGE', 'audio.sample_rate_hz'],
    ['rate low', { audio: { ...AUDIO, sample_rate_hz: 7999 } }, 'GW_ERR_UNSUPPORTED_RATE', 'got 7999'],
    ['rate high', { audio: { ...AUDIO, sample_rate_hz: 96000 } }, 'GW_ERR_UNSUPPORTED_RATE', 'got 96000'],
    ['rate fraction', { audio: { ...AUDIO, sample_rate_hz: 16000.5 } }, 'GW_ERR_UNSUPPORTED_RATE', '16000.5'],
    ['channels 0', { audio: { ...AUDIO, channels: 0 } }, 'GW_ERR_UNSUPPORTED_CHANNELS', 'got 0'],
    ['channels 6', { audio: { ...AUDIO, channels: 6 } }, 'GW_ERR_UNSUPPORTED_CHANNELS', 'got 6'],
    ['channels string', { audio: { ...AUDIO, channels: '1' } }, 'GW_ERR_BAD_MESSAGE', 'audio.channels'],
    ['interim string', { interim_results: 'yes' }, 'GW_ERR_BAD_MESSAGE', 'interim_results must be a boolean'],
    ['latency bad', { latency: 'fast' }, 'GW_ERR_BAD_MESSAGE', 'latency must be one of low, balanced, accurate'],
    ['chunk 100', { chunk_ms: 100 }, 'GW_ERR_BAD_MESSAGE', 'chunk_ms must be a multiple of 40 in [80, 1280], got 100'],
    ['chunk 40', { chunk_ms: 40 }, 'GW_ERR_BAD_MESSAGE', 'got 40'],
    ['chunk 1320', { chunk_ms: 1320 }, 'GW_ERR_BAD_MESSAGE', 'got 1320'],
    ['chunk string', { chunk_ms: '320' }, 'GW_ERR_BAD_MESSAGE', 'got "320"'],
    ['latency and chunk', { latency: 'low', chunk_ms: 160 }, 'GW_ERR_BAD_MESSAGE', 'not both'],
    ['endpointing array', { endpointing: [] }, 'GW_ERR_BAD_MESSAGE', 'endpointing must be an object'],
    ['silence low', { endpointing: { silence_ms: 99 } }, 'GW_ERR_BAD_MESSAGE', 'endpointing.silence_ms must be an integer in [100, 5000], got 99'],
    ['silence fraction', { endpointing: { silence_ms: 250.5 } }, 'GW_ERR_BAD_MESSAGE', 'got 250.5'],
    ['max utt high', { endpointing: { max_utterance_ms: 60001 } }, 'GW_ERR_BAD_MESSAGE', 'max_utterance_ms'],
    ['silence >= max', { endpointing: { silence_ms: 2000, max_utterance_ms: 2000 } }, 'GW_ERR_BAD_MESSAGE', 'less than'],
    ['endpointing extra', { endpointing: { silence: 300 } }, 'GW_ERR_BAD_MESSAGE', '"endpointing.silence"'],
    ['denoise bad', { denoise: 'rnnoise' }, 'GW_ERR_BAD_MESSAGE', 'denoise must be one of off, spectral, got "rnnoise"'],
    ['min_confidence over 1', { min_confidence: 1.5 }, 'GW_ERR_BAD_MESSAGE', 'min_confidence must be a number in [0, 1], got 1.5'],
    ['min_confidence a string', { min_confidence: '0.2' }, 'GW_ERR_BAD_MESSAGE',
      'min_confidence must be a number in [0, 1], got "0.2"'],
    ['numerals not a boolean', { numerals: 'yes' }, 'GW_ERR_BAD_MESSAGE', 'numerals'],
    ['multichannel with one channel', { multichannel: true }, 'GW_ERR_BAD_MESSAGE',
      'multichannel must be false with one channel, got true'],
    ['alternatives 0', { alternatives: 0 }, 'GW_ERR_BAD_MESSAGE', 'alternatives must be an integer in [1, 10], got 0'],
    ['alternatives 11', { alternatives: 11 }, 'GW_ERR_BAD_MESSAGE', 'alternatives must be an integer in [1, 10], got 11'],
    ['alternatives 2.5', { alternatives: 2.5 }, 'GW_ERR_BAD_MESSAGE', 'alternatives must be an integer in [1, 10], got 2.5'],
    ['alternatives a string', { alternatives: '3' }, 'GW_ERR_BAD_MESSAGE', 'got "3"'],
    ['background_rejection_db over 40', { background_rejection_db: 41 }, 'GW_ERR_BAD_MESSAGE',
      'background_rejection_db must be a number in [0, 40], got 41'],
    ['background_rejection_db negative', { background_rejection_db: -1 }, 'GW_ERR_BAD_MESSAGE', 'got -1'],
    ['tag empty', { tag: '' }, 'GW_ERR_BAD_MESSAGE', 'tag must be 1 to 128 characters without control characters, got ""'],
    ['tag too long', { tag: 'x'.repeat(129) }, 'GW_ERR_BAD_MESSAGE', 'tag must be 1 to 128 characters'],
    ['tag with a newline', { tag: 'call\n{"level":"fatal"}' }, 'GW_ERR_BAD_MESSAGE', 'tag must be'],
    ['tag with a line separator', { tag: 'a\u2028b' }, 'GW_ERR_BAD_MESSAGE', 'tag must be'],
    ['tag a number', { tag: 42 }, 'GW_ERR_BAD_MESSAGE', 'tag must be'],
    ['language bad', { language: 'english!' }, 'GW_ERR_BAD_MESSAGE', 'language'],
    ['language number', { language: 1 }, 'GW_ERR_BAD_MESSAGE', 'language'],
    ['model bad', { model: '../etc/passwd' }, 'GW_ERR_BAD_MESSAGE', 'model'],
    ['model long', { model: 'm'.repeat(65) }, 'GW_ERR_BAD_MESSAGE', 'model'],
    ['unknown field', { interim_result: false }, 'GW_ERR_BAD_MESSAGE', 'unknown field "interim_result"'],
    ['hotwords object', { hotwords: { phrase: 'a' } }, 'GW_ERR_BAD_HOTWORD', 'hotwords must be an array'],
    ['hotword string', { hotwords: ['voxgate'] }, 'GW_ERR_BAD_HOTWORD', 'hotwords[0] must be an object'],
    ['hotword empty', { hotwords: [{ phrase: '   ' }] }, 'GW_ERR_BAD_HOTWORD', 'hotwords[0].phrase'],
    ['hotword number', { hotwords: [{ phrase: 5 }] }, 'GW_ERR_BAD_HOTWORD', 'hotwords[0].phrase must be a string'],
    ['hotword long', { hotwords: [{ phrase: 'a'.repeat(101) }] }, 'GW_ERR_BAD_HOTWORD', 'hotwords[0].phrase'],
    ['hotword control', { hotwords: [{ phrase: 'a\u0000b' }] }, 'GW_ERR_BAD_HOTWORD', 'printable'],
    ['hotword boost neg', { hotwords: [{ phrase: 'a', boost: -1 }] }, 'GW_ERR_BAD_HOTWORD', 'hotwords[0].boost must be a number in [0, 20], got -1'],
    ['hotword boost high', { hotwords: [{ phrase: 'a', boost: 20.5 }] }, 'GW_ERR_BAD_HOTWORD', 'got 20.5'],
    ['hotword boost string', { hotwords: [{ phrase: 'a', boost: '2' }] }, 'GW_ERR_BAD_HOTWORD', 'got "2"'],
    ['hotword extra', { hotwords: [{ phrase: 'a', weight: 2 }] }, 'GW_ERR_BAD_HOTWORD', 'hotwords[0]'],
    ['hotword dup', { hotwords: [{ phrase: 'Vox Gate' }, { phrase: 'vox  gate' }] }, 'GW_ERR_BAD_HOTWORD', 'hotwords[1].phrase must be unique'],
    ['hotwords 101', { hotwords: Array.from({ length: 101 }, (_, i) => ({ phrase: `w${i}` })) }, 'GW_ERR_BAD_HOTWORD', 'at most 100'],
  ])('%s -> %s, fatal', (_name, fields, code, text) => {
    const e = startErr(fields);
    expect(e.code).toBe(code);
    expect(e.fatal).toBe(true);
    expect(e.message).toContain('session.start');
    expect(e.message).toContain(text);
  });

  it('accepts exactly 100 hotwords and boost bounds 0 and 20', () => {
    const hotwords = Array.from({ length: 100 }, (_, i) => ({ phrase: `w${i}`, boost: i % 2 === 0 ? 0 : 20 }));
    expect(() => parseClientMessage(start({ hotwords }))).not.toThrow();
  });

  it('truncates long quoted values', () => {
    const e = startErr({ audio: { ...AUDIO, encoding: 'x'.repeat(500) } });
    expect(e.message.length).toBeLessThan(200);
  });

  it('normaliseSessionStart validates hand-built objects too', () => {
    const bad = { type: 'session.start', audio: { ...AUDIO, channels: 3 } } as unknown as SessionStartMessage;
    expect(thrown(() => normaliseSessionStart(bad)).code).toBe('GW_ERR_UNSUPPORTED_CHANNELS');
  });

  it('returns a fresh object (no aliasing of the input)', () => {
    const input = JSON.parse(start({ hotwords: [{ phrase: 'a' }] }));
    const out = validateClientMessage(input) as SessionStartMessage;
    expect(out).not.toBe(input);
    expect(out.audio).not.toBe(input.audio);
  });

  it('round trips SessionConfig -> session.start -> SessionConfig', () => {
    const configs = [
      normaliseSessionStart(JSON.parse(start({}))),
      normaliseSessionStart(JSON.parse(start({ chunk_ms: 200, language: 'de', model: 'm1', denoise: 'spectral' }))),
      normaliseSessionStart(JSON.parse(start({ latency: 'low', hotwords: [{ phrase: 'A b', boost: 3.5 }] }))),
    ];
    for (const c of configs) {
      const wire = JSON.stringify(sessionConfigToStart(c));
      expect(normaliseSessionStart(parseClientMessage(wire) as SessionStartMessage)).toEqual(c);
    }
  });
});

describe('session.update', () => {
  const base = normaliseSessionStart(JSON.parse(start({ hotwords: [{ phrase: 'old' }] })));
  const update = (fields: Record<string, unknown>) =>
    normaliseSessionUpdate(validateClientMessage({ type: 'session.update', ...fields }) as never);

  it('replaces hotwords and only the given endpointing fields', () => {
    const u = update({ hotwords: [{ phrase: 'New', boost: 4 }], endpointing: { silence_ms: 800 } });
    expect(u).toEqual({ hotwords: [{ phrase: 'new', boost: 4 }], silenceMs: 800 });
    const next = applySessionUpdate(base, u);
    expect(next).toMatchObject({ hotwords: [{ phrase: 'new', boost: 4 }], silenceMs: 800, maxUtteranceMs: 15000 });
    expect(base.hotwords).toEqual([{ phrase: 'old', boost: 2 }]);
  });

  it('changes min_confidence, numerals and alternatives, each alone', () => {
    const u = update({ min_confidence: 0, numerals: true, alternatives: 4, background_rejection_db: 12 });
    expect(u).toEqual({ minConfidence: 0, numerals: true, alternatives: 4, backgroundRejectionDb: 12 });
    expect(applySessionUpdate(base, u)).toEqual({ ...base, minConfidence: 0, numerals: true, alternatives: 4,
      backgroundRejectionDb: 12 });
    expect(applySessionUpdate(base, update({ alternatives: 2 }))).toEqual({ ...base, alternatives: 2 });
  });

  it('clears hotwords with []; an empty update changes nothing', () => {
    expect(applySessionUpdate(base, update({ hotwords: [] })).hotwords).toEqual([]);
    expect(applySessionUpdate(base, update({}))).toEqual(base);
  });

  it.each<[Record<string, unknown>, GwErrorCode]>([
    [{ hotwords: [{ phrase: '' }] }, 'GW_ERR_BAD_HOTWORD'],
    [{ hotwords: 'a,b' }, 'GW_ERR_BAD_HOTWORD'],
    [{ endpointing: { silence_ms: 6000 } }, 'GW_ERR_BAD_MESSAGE'],
    [{ audio: AUDIO }, 'GW_ERR_BAD_MESSAGE'],
    [{ interim_results: false }, 'GW_ERR_BAD_MESSAGE'],
    [{ alternatives: 0 }, 'GW_ERR_BAD_MESSAGE'],
    [{ min_confidence: -0.1 }, 'GW_ERR_BAD_MESSAGE'],
    [{ numerals: 1 }, 'GW_ERR_BAD_MESSAGE'],
    [{ background_rejection_db: 'high' }, 'GW_ERR_BAD_MESSAGE'],
  ])('%j -> %s, non-fatal', (fields, code) => {
    const e = thrown(() => parseClientMessage(JSON.stringify({ type: 'session.update', ...fields })));
    expect(e.code).toBe(code);
    expect(e.fatal).toBe(false);
    expect(e.message).toContain('session.update');
  });

  it('rejects silence_ms >= max_utterance_ms against the current config (non-fatal)', () => {
    const e = thrown(() => applySessionUpdate(base, update({ endpointing: { max_utterance_ms: 1000, silence_ms: 1000 } })));
    expect(e.code).toBe('GW_ERR_BAD_MESSAGE');
    expect(e.fatal).toBe(false);
    const e2 = thrown(() => applySessionUpdate({ ...base, maxUtteranceMs: 1000 }, update({ endpointing: { silence_ms: 1500 } })));
    expect(e2.message).toContain('(1500)');
  });
});

describe('audio helpers', () => {
  it.each([
    ['pcm_s16le', 1, 2], ['pcm_s16le', 2, 4], ['pcm_f32le', 1, 4], ['pcm_f32le', 2, 8],
    ['mulaw', 1, 1], ['mulaw', 2, 2], ['alaw', 1, 1], ['alaw', 2, 2],
  ] as const)('%s x %i channels = %i bytes', (encoding, channels, bytes) => {
    expect(bytesPerSampleFrame(encoding, channels)).toBe(bytes);
  });

  it('converts bytes to ms', () => {
    expect(audioBytesToMs(32000, 'pcm_s16le', 16000, 1)).toBe(1000);
    expect(audioBytesToMs(160, 'mulaw', 8000, 1)).toBe(20);
    expect(audioBytesToMs(48000 * 8, 'pcm_f32le', 48000, 2)).toBe(1000);
  });

  it('converts bytes to ms with one division, as the pipeline does (samples x 1000 / rate): the two round alike', () => {
    // 8008 samples at 16 kHz: 500.5 ms; two divisions gave 500.49999999999994, so session.ended's audio_ms (500) was
    // 1 ms less than the last final's end_ms (501), which docs/protocol.md says never passes the audio received
    expect(audioBytesToMs(16016, 'pcm_s16le', 16000, 1)).toBe(500.5);
    for (const rateHz of [8000, 11025, 16000, 22050, 24000, 44100, 48000]) {
      for (let samples = 1; samples < 200_000; samples += 7) {
        expect(audioBytesToMs(samples * 4, 'pcm_s16le', rateHz, 2), `${samples} at ${rateHz} Hz`)
          .toBe((samples * 1000) / rateHz);
      }
    }
  });
});

describe('parseServerMessage', () => {
  it('accepts known types and rejects others', () => {
    expect(parseServerMessage('{"type":"pong","id":1}')).toEqual({ type: 'pong', id: 1 });
    expect(thrown(() => parseServerMessage('{"type":"ping"}')).code).toBe('GW_ERR_UNKNOWN_TYPE');
    expect(thrown(() => parseServerMessage('nope')).code).toBe('GW_ERR_BAD_JSON');
    expect(thrown(() => parseServerMessage('[1]')).code).toBe('GW_ERR_BAD_JSON');
  });
});
