/**
 * Hand-written runtime validation of Protocol v1 messages (no dependencies).
 *
 * Policy:
 * - Unknown fields are REJECTED with GW_ERR_BAD_MESSAGE. A typo in an optional field (`interim_result`) would
 *   otherwise fall back to the default silently; the protocol is versioned by path (`/v1/`), so additions are
 *   made behind a new version or announced in `session.started` first.
 * - Errors name the message type and the field path and quote the bad value:
 *   `session.start: audio.sample_rate_hz must be an integer in [8000, 48000], got 44100.5`.
 * - Every error raised while validating `session.start` is fatal (no session exists to continue); the same codes
 *   raised for other messages keep the registry's flag (BAD_MESSAGE / BAD_HOTWORD are non-fatal there).
 * - Audio format problems have their own codes: UNSUPPORTED_ENCODING / _RATE / _CHANNELS when the value has the
 *   right JSON type but an unsupported value; a wrong JSON type or a missing field is BAD_MESSAGE.
 * - Everything under `hotwords` raises GW_ERR_BAD_HOTWORD.
 */
import { GatewayError, type GwErrorCode } from './errors.js';
import {
  AUDIO_ENCODINGS, CLIENT_MESSAGE_TYPES, DENOISE_MODES, LATENCY_CHUNK_MS, PROTOCOL_LIMITS as L, SERVER_MESSAGE_TYPES,
  SESSION_DEFAULTS,
  type AudioEncoding, type ClientMessage, type EndpointingParams, type LatencyPreset, type PingMessage,
  type ServerMessage, type SessionStartMessage, type SessionUpdateMessage,
} from './messages.js';
import type { Hotword } from './session-config.js';

type Obj = Record<string, unknown>;

/** Where we are: message type (for the error text) and whether errors end the session. */
export interface Ctx { type: string; fatal: boolean }

/**
 * JSON-ish rendering of a bad value for error messages, at most ~80 characters. Never throws: a 1 MiB frame can nest
 * arrays 500,000 deep, past the stack of both JSON.stringify and Array.prototype.toString (which `String(v)` calls).
 */
export function quoteValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = Array.isArray(v) ? '[...] (nested too deeply to quote)'
      : typeof v === 'object' && v !== null ? '{...} (nested too deeply to quote)' : String(v);
  }
  // JSON.stringify writes -0 as 0 and Infinity (1e309 on the wire) as null
  if (typeof v === 'number') s = Object.is(v, -0) ? '-0' : String(v);
  // a cut between the halves of a surrogate pair would leave a lone surrogate, which strict JSON parsers refuse
  return s.length > 80 ? `${s.slice(0, 77).replace(/\p{Cs}$/u, '')}...` : s;
}

/** `s` with lone surrogates replaced by U+FFFD: text for a client's JSON parser (serde_json refuses `"\ud83d"`). */
function wellFormed(s: string): string {
  return s.replace(/\p{Cs}/gu, '\uFFFD');
}

function fail(ctx: Ctx, code: GwErrorCode, path: string, expected: string, got: unknown): never {
  const message = `${ctx.type}: ${path} must be ${expected}, got ${quoteValue(got)}`;
  throw new GatewayError(code, message, { fatal: ctx.fatal });
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/** -0 read as 0: JSON.stringify writes it as 0, so an accepted message would not survive being sent again. */
const unsigned0 = (v: number): number => (v === 0 ? 0 : v);

function checkKeys(ctx: Ctx, o: Obj, allowed: readonly string[], prefix = '',
  code: GwErrorCode = 'GW_ERR_BAD_MESSAGE'): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      throw new GatewayError(code,
        `${ctx.type}: unknown field ${quoteValue(prefix + k)} (allowed: ${allowed.join(', ')})`, { fatal: ctx.fatal });
    }
  }
}

function optBool(ctx: Ctx, o: Obj, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') fail(ctx, 'GW_ERR_BAD_MESSAGE', key, 'a boolean', v);
  return v;
}

function optEnum<T extends string>(ctx: Ctx, o: Obj, key: string, values: readonly T[]): T | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!values.includes(v as T)) fail(ctx, 'GW_ERR_BAD_MESSAGE', key, `one of ${values.join(', ')}`, v);
  return v as T;
}

function optIntRange(ctx: Ctx, o: Obj, key: string, path: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!isNum(v) || !Number.isInteger(v) || v < min || v > max) {
    fail(ctx, 'GW_ERR_BAD_MESSAGE', path, `an integer in [${min}, ${max}]`, v);
  }
  return v;
}

function optNumRange(ctx: Ctx, o: Obj, key: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!isNum(v) || v < min || v > max) fail(ctx, 'GW_ERR_BAD_MESSAGE', key, `a number in [${min}, ${max}]`, v);
  return unsigned0(v);
}

function optTag(ctx: Ctx, o: Obj, key: string, pattern: RegExp, what: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length > L.maxTagChars || !pattern.test(v)) {
    fail(ctx, 'GW_ERR_BAD_MESSAGE', key, `${what} of at most ${L.maxTagChars} characters`, v);
  }
  return v;
}

function validateEndpointing(ctx: Ctx, v: unknown): EndpointingParams | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) fail(ctx, 'GW_ERR_BAD_MESSAGE', 'endpointing', 'an object', v);
  checkKeys(ctx, v, ['silence_ms', 'max_utterance_ms'], 'endpointing.');
  const out: EndpointingParams = {};
  const s = optIntRange(ctx, v, 'silence_ms', 'endpointing.silence_ms', L.minSilenceMs, L.maxSilenceMs);
  const m = optIntRange(ctx, v, 'max_utterance_ms', 'endpointing.max_utterance_ms',
    L.minMaxUtteranceMs, L.maxMaxUtteranceMs);
  if (s !== undefined) out.silence_ms = s;
  if (m !== undefined) out.max_utterance_ms = m;
  return out;
}

/** silence_ms must stay below max_utterance_ms (also after a session.update changed one of them). */
export function checkSilenceBelowMax(ctx: Ctx, silenceMs: number, maxUtteranceMs: number): void {
  if (silenceMs >= maxUtteranceMs) {
    throw new GatewayError('GW_ERR_BAD_MESSAGE', `${ctx.type}: endpointing.silence_ms (${silenceMs}) must be less `
      + `than endpointing.max_utterance_ms (${maxUtteranceMs})`, { fatal: ctx.fatal });
  }
}

/**
 * Lower case, NFC, trim, collapse whitespace. Lower case goes first because it can undo NFC: U+03AA U+0301 has no
 * precomposed form, its lower case U+03CA U+0301 has (U+0390), and the two spellings must count as duplicates.
 */
export function normaliseHotwordPhrase(phrase: string): string {
  return phrase.toLowerCase().normalize('NFC').trim().replace(/\s+/gu, ' ');
}

function validateHotwords(ctx: Ctx, v: unknown): Hotword[] | undefined {
  if (v === undefined) return undefined;
  const bad: (path: string, expected: string, got: unknown) => never =
    (path, expected, got) => fail(ctx, 'GW_ERR_BAD_HOTWORD', path, expected, got);
  if (!Array.isArray(v)) bad('hotwords', 'an array', v);
  const list = v as unknown[];
  if (list.length > L.maxHotwords) bad('hotwords', `at most ${L.maxHotwords} entries`, `${list.length} entries`);
  const seen = new Set<string>();
  return list.map((h, i) => {
    const p = `hotwords[${i}]`;
    if (!isObj(h)) bad(p, 'an object {phrase, boost?}', h);
    checkKeys(ctx, h, ['phrase', 'boost'], `${p}.`, 'GW_ERR_BAD_HOTWORD');
    if (typeof h.phrase !== 'string') bad(`${p}.phrase`, 'a string', h.phrase);
    const phrase = normaliseHotwordPhrase(h.phrase as string);
    if (phrase.length === 0 || phrase.length > L.maxHotwordChars || /\p{Cc}/u.test(phrase)) {
      bad(`${p}.phrase`, `1..${L.maxHotwordChars} printable characters`, h.phrase);
    }
    if (seen.has(phrase)) bad(`${p}.phrase`, 'unique (case-insensitive)', h.phrase);
    seen.add(phrase);
    const boost = h.boost === undefined ? SESSION_DEFAULTS.hotwordBoost : h.boost;
    if (!isNum(boost) || boost < L.minHotwordBoost || boost > L.maxHotwordBoost) {
      bad(`${p}.boost`, `a number in [${L.minHotwordBoost}, ${L.maxHotwordBoost}]`, boost);
    }
    return { phrase, boost: unsigned0(boost as number) };
  });
}

const START_KEYS = ['type', 'audio', 'interim_results', 'latency', 'chunk_ms', 'endpointing', 'hotwords', 'denoise',
  'min_confidence', 'numerals', 'multichannel', 'alternatives', 'background_rejection_db', 'tag', 'language',
  'model'] as const;
/**
 * A session tag: no C0/C1 control characters, no line or paragraph separators (it goes into log lines) and no lone
 * surrogates (logs write them as U+FFFD, and session.started's echo of one is refused by strict JSON parsers).
 */
const SESSION_TAG_RE = /^[^\p{Cc}\p{Cs}\u2028\u2029]+$/u;
const LANGUAGE_RE = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/;
const MODEL_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** session.start's checks (all errors fatal); `normaliseSessionStart` (session-config.ts) runs them again. */
export function validateSessionStart(o: Obj): SessionStartMessage {
  const ctx: Ctx = { type: 'session.start', fatal: true };
  checkKeys(ctx, o, START_KEYS);
  const a = o.audio;
  if (!isObj(a)) fail(ctx, 'GW_ERR_BAD_MESSAGE', 'audio', 'an object {encoding, sample_rate_hz, channels}', a);
  checkKeys(ctx, a, ['encoding', 'sample_rate_hz', 'channels'], 'audio.');
  if (typeof a.encoding !== 'string') fail(ctx, 'GW_ERR_BAD_MESSAGE', 'audio.encoding', 'a string', a.encoding);
  if (!AUDIO_ENCODINGS.includes(a.encoding as AudioEncoding)) {
    fail(ctx, 'GW_ERR_UNSUPPORTED_ENCODING', 'audio.encoding', `one of ${AUDIO_ENCODINGS.join(', ')}`, a.encoding);
  }
  const rate = a.sample_rate_hz;
  // 1e309 is a JSON number that JSON.parse reads as Infinity: the right type, an unsupported value
  if (typeof rate !== 'number') fail(ctx, 'GW_ERR_BAD_MESSAGE', 'audio.sample_rate_hz', 'a number', rate);
  if (!Number.isInteger(rate) || rate < L.minSampleRateHz || rate > L.maxSampleRateHz) {
    fail(ctx, 'GW_ERR_UNSUPPORTED_RATE', 'audio.sample_rate_hz',
      `an integer in [${L.minSampleRateHz}, ${L.maxSampleRateHz}]`, rate);
  }
  if (typeof a.channels !== 'number') fail(ctx, 'GW_ERR_BAD_MESSAGE', 'audio.channels', 'a number', a.channels);
  if (a.channels !== 1 && a.channels !== 2) {
    fail(ctx, 'GW_ERR_UNSUPPORTED_CHANNELS', 'audio.channels', '1 or 2', a.channels);
  }

  const msg: SessionStartMessage = {
    type: 'session.start',
    audio: { encoding: a.encoding as AudioEncoding, sample_rate_hz: rate, channels: a.channels },
  };
  const interim = optBool(ctx, o, 'interim_results');
  const latency = optEnum(ctx, o, 'latency', Object.keys(LATENCY_CHUNK_MS) as LatencyPreset[]);
  const chunkMs = o.chunk_ms;
  if (chunkMs !== undefined && (!isNum(chunkMs) || !Number.isInteger(chunkMs) || chunkMs % L.chunkStepMs !== 0
    || chunkMs < L.minChunkMs || chunkMs > L.maxChunkMs)) {
    fail(ctx, 'GW_ERR_BAD_MESSAGE', 'chunk_ms', `a multiple of ${L.chunkStepMs} in [${L.minChunkMs}, ${L.maxChunkMs}]`,
      chunkMs);
  }
  if (latency !== undefined && chunkMs !== undefined) {
    throw new GatewayError('GW_ERR_BAD_MESSAGE',
      `session.start: give latency or chunk_ms, not both (got latency ${quoteValue(latency)}, chunk_ms ${chunkMs})`,
      { fatal: true });
  }
  const endpointing = validateEndpointing(ctx, o.endpointing);
  checkSilenceBelowMax(ctx, endpointing?.silence_ms ?? SESSION_DEFAULTS.silenceMs,
    endpointing?.max_utterance_ms ?? SESSION_DEFAULTS.maxUtteranceMs);
  const hotwords = validateHotwords(ctx, o.hotwords);
  const denoise = optEnum(ctx, o, 'denoise', DENOISE_MODES);
  const output = validateOutputFields(ctx, o);
  const multichannel = optBool(ctx, o, 'multichannel');
  if (multichannel === true && a.channels !== 2) fail(ctx, 'GW_ERR_BAD_MESSAGE', 'multichannel', 'false with one channel', true);
  const tag = o.tag;
  if (tag !== undefined && (typeof tag !== 'string' || tag.length > L.maxSessionTagChars || !SESSION_TAG_RE.test(tag))) {
    fail(ctx, 'GW_ERR_BAD_MESSAGE', 'tag', `1 to ${L.maxSessionTagChars} characters without control characters`, tag);
  }
  const language = optTag(ctx, o, 'language', LANGUAGE_RE, 'a BCP-47 language tag');
  const model = optTag(ctx, o, 'model', MODEL_RE, 'a model name [A-Za-z0-9._-]');

  if (interim !== undefined) msg.interim_results = interim;
  if (latency !== undefined) msg.latency = latency;
  if (chunkMs !== undefined) msg.chunk_ms = chunkMs as number;
  if (endpointing !== undefined) msg.endpointing = endpointing;
  if (hotwords !== undefined) msg.hotwords = hotwords;
  if (denoise !== undefined) msg.denoise = denoise;
  Object.assign(msg, output);
  if (multichannel !== undefined) msg.multichannel = multichannel;
  if (tag !== undefined) msg.tag = tag as string;
  if (language !== undefined) msg.language = language;
  if (model !== undefined) msg.model = model;
  return msg;
}

/** The fields that shape transcripts and may change mid-stream (session.start and session.update alike). */
type OutputFields = Pick<SessionStartMessage, 'min_confidence' | 'numerals' | 'alternatives' | 'background_rejection_db'>;
function validateOutputFields(ctx: Ctx, o: Obj): OutputFields {
  const out: OutputFields = {};
  const minConfidence = optNumRange(ctx, o, 'min_confidence', 0, 1);
  const numerals = optBool(ctx, o, 'numerals');
  const alternatives = optIntRange(ctx, o, 'alternatives', 'alternatives', 1, L.maxAlternatives);
  const background = optNumRange(ctx, o, 'background_rejection_db', 0, L.maxBackgroundRejectionDb);
  if (minConfidence !== undefined) out.min_confidence = minConfidence;
  if (numerals !== undefined) out.numerals = numerals;
  if (alternatives !== undefined) out.alternatives = alternatives;
  if (background !== undefined) out.background_rejection_db = background;
  return out;
}

/** session.update's checks (errors non-fatal). */
export function validateSessionUpdate(o: Obj): SessionUpdateMessage {
  const ctx: Ctx = { type: 'session.update', fatal: false };
  checkKeys(ctx, o, ['type', 'hotwords', 'endpointing', 'min_confidence', 'numerals', 'alternatives',
    'background_rejection_db']);
  const msg: SessionUpdateMessage = { type: 'session.update' };
  const hotwords = validateHotwords(ctx, o.hotwords);
  const endpointing = validateEndpointing(ctx, o.endpointing);
  const output = validateOutputFields(ctx, o);
  if (hotwords !== undefined) msg.hotwords = hotwords;
  if (endpointing !== undefined) msg.endpointing = endpointing;
  return Object.assign(msg, output);
}

function validatePing(o: Obj): PingMessage {
  const ctx: Ctx = { type: 'ping', fatal: false };
  checkKeys(ctx, o, ['type', 'id']);
  const id = o.id;
  if (id === undefined) return { type: 'ping' };
  if (!(isNum(id) || (typeof id === 'string' && id.length <= L.maxPingIdChars))) {
    fail(ctx, 'GW_ERR_BAD_MESSAGE', 'id', `a number or a string of at most ${L.maxPingIdChars} characters`, id);
  }
  return { type: 'ping', id: typeof id === 'number' ? unsigned0(id) : id };
}

/**
 * Validates an already-parsed JSON value as a client message and returns a fresh, fully typed copy.
 * Throws GatewayError (UNKNOWN_TYPE, BAD_MESSAGE, BAD_HOTWORD, UNSUPPORTED_*).
 */
export function validateClientMessage(value: unknown): ClientMessage {
  if (!isObj(value)) {
    throw new GatewayError('GW_ERR_BAD_JSON', `message must be a JSON object, got ${quoteValue(value)}`);
  }
  const type = clientMessageType(value);
  if (type === undefined) {
    throw new GatewayError('GW_ERR_UNKNOWN_TYPE',
      `type must be one of ${CLIENT_MESSAGE_TYPES.join(', ')}, got ${quoteValue(value.type)}`);
  }
  switch (type) {
    case 'session.start': return validateSessionStart(value);
    case 'session.update': return validateSessionUpdate(value);
    case 'ping': return validatePing(value);
    case 'session.finalize':
    case 'session.end':
      checkKeys({ type, fatal: false }, value, ['type']);
      return { type } as ClientMessage;
  }
}

/**
 * The `type` of a parsed text frame when it names a client message, whatever its other fields: the server applies
 * the session-state rules (docs/protocol.md section 2) by type before it validates the fields.
 */
export function clientMessageType(value: unknown): ClientMessage['type'] | undefined {
  const type = isObj(value) ? value.type : undefined;
  return CLIENT_MESSAGE_TYPES.find((t) => t === type);
}

/**
 * The JSON value of one text frame, not yet validated. Throws GatewayError FRAME_TOO_LARGE or BAD_JSON.
 * `maxFrameBytes`: the limit in effect, the one `session.started` announces (a server may set another than the
 * protocol's default).
 */
export function parseClientJson(text: string, maxFrameBytes: number = L.maxFrameBytes): unknown {
  // A string with more UTF-16 units than the byte limit is certainly over it; the transport checks exact bytes.
  if (text.length > maxFrameBytes) {
    throw new GatewayError('GW_ERR_FRAME_TOO_LARGE', `text frame must be at most ${maxFrameBytes} bytes, got more`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    // V8 quotes the offending token, which can be one half of a surrogate pair
    throw new GatewayError('GW_ERR_BAD_JSON', `invalid JSON: ${wellFormed((e as Error).message)}`, { cause: e });
  }
}

/** Parses one text frame. Throws GatewayError: FRAME_TOO_LARGE, BAD_JSON, then as {@link validateClientMessage}. */
export function parseClientMessage(text: string): ClientMessage {
  return validateClientMessage(parseClientJson(text));
}

const BYTES_PER_SAMPLE: Readonly<Record<AudioEncoding, number>> = { pcm_s16le: 2, pcm_f32le: 4, mulaw: 1, alaw: 1 };

/** Bytes of one sample frame (one sample of every channel). Binary frames must be a whole multiple of it. */
export function bytesPerSampleFrame(encoding: AudioEncoding, channels: 1 | 2): number {
  return BYTES_PER_SAMPLE[encoding] * channels;
}

/** Duration in ms of `bytes` of audio in the given format (fractional). */
export function audioBytesToMs(bytes: number, encoding: AudioEncoding, sampleRateHz: number, channels: 1 | 2): number {
  // One division, as the pipeline converts its sample count: two rounded 500.5 ms to 500.49999999999994
  return (bytes * 1000) / (bytesPerSampleFrame(encoding, channels) * sampleRateHz);
}

/**
 * Parses a server text frame for clients. Light checks only (a JSON object whose `type` is a known server type):
 * the client trusts the server's field shapes. Throws GatewayError BAD_JSON / UNKNOWN_TYPE.
 */
export function parseServerMessage(text: string): ServerMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new GatewayError('GW_ERR_BAD_JSON', `invalid JSON from server: ${(e as Error).message}`, { cause: e });
  }
  if (!isObj(value)) {
    throw new GatewayError('GW_ERR_BAD_JSON', `server message must be an object, got ${quoteValue(value)}`);
  }
  if (!SERVER_MESSAGE_TYPES.includes(value.type as ServerMessage['type'])) {
    throw new GatewayError('GW_ERR_UNKNOWN_TYPE', `unknown server message type ${quoteValue(value.type)}`);
  }
  return value as unknown as ServerMessage;
}
