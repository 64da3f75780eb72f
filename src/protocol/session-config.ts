/**
 * The normalised, internal form of a session's configuration: `session.start` with every default applied
 * (`normaliseSessionStart`), `session.update` patches (`normaliseSessionUpdate`, `applySessionUpdate`) and the way
 * back to the wire (`sessionConfigToStart`). camelCase with units in names; the wire shapes are in messages.ts, the
 * checks in validate.ts (every conversion from the wire validates first, so hand-built messages are safe;
 * `applySessionUpdate` trusts its patch, so it takes only what `normaliseSessionUpdate` returned).
 */
import {
  LATENCY_CHUNK_MS, SESSION_DEFAULTS, type AudioEncoding, type DenoiseMode, type LatencyPreset, type SessionStartMessage,
  type SessionStartedMessage, type SessionUpdateMessage,
} from './messages.js';
import { checkSilenceBelowMax, validateSessionStart, validateSessionUpdate } from './validate.js';

export interface Hotword {
  /** Trimmed, whitespace collapsed, NFC, lower case. */
  phrase: string;
  boost: number;
}

/** session.start with every default applied (camelCase, units in names). */
export interface SessionConfig {
  encoding: AudioEncoding;
  sampleRateHz: number;
  channels: 1 | 2;
  interimResults: boolean;
  /** null when chunkMs was given explicitly. */
  latency: LatencyPreset | null;
  chunkMs: number;
  silenceMs: number;
  maxUtteranceMs: number;
  hotwords: Hotword[];
  denoise: DenoiseMode;
  minConfidence: number;
  numerals: boolean;
  multichannel: boolean;
  /** Texts in a final's n-best list; 1: none. */
  alternatives: number;
  /** Background-talker rejection threshold, dB; 0: off. */
  backgroundRejectionDb: number;
  /** The client's id for the session (logs), or null. */
  tag: string | null;
  language: string | null;
  model: string | null;
}

/** A validated session.update: only the present fields change. */
export interface SessionUpdate {
  hotwords?: Hotword[];
  silenceMs?: number;
  maxUtteranceMs?: number;
  minConfidence?: number;
  numerals?: boolean;
  alternatives?: number;
  backgroundRejectionDb?: number;
}

/** session.start -> SessionConfig with every default applied. Validates again (safe on hand-built objects). */
export function normaliseSessionStart(msg: SessionStartMessage): SessionConfig {
  const m = validateSessionStart(msg as unknown as Record<string, unknown>);
  const latency = m.chunk_ms === undefined ? (m.latency ?? SESSION_DEFAULTS.latency) : null;
  return {
    encoding: m.audio.encoding,
    sampleRateHz: m.audio.sample_rate_hz,
    channels: m.audio.channels,
    interimResults: m.interim_results ?? SESSION_DEFAULTS.interimResults,
    latency,
    chunkMs: m.chunk_ms ?? LATENCY_CHUNK_MS[latency ?? SESSION_DEFAULTS.latency],
    silenceMs: m.endpointing?.silence_ms ?? SESSION_DEFAULTS.silenceMs,
    maxUtteranceMs: m.endpointing?.max_utterance_ms ?? SESSION_DEFAULTS.maxUtteranceMs,
    hotwords: (m.hotwords ?? []) as Hotword[],
    denoise: m.denoise ?? SESSION_DEFAULTS.denoise,
    minConfidence: m.min_confidence ?? SESSION_DEFAULTS.minConfidence,
    numerals: m.numerals ?? SESSION_DEFAULTS.numerals,
    multichannel: m.multichannel ?? SESSION_DEFAULTS.multichannel,
    alternatives: m.alternatives ?? SESSION_DEFAULTS.alternatives,
    backgroundRejectionDb: m.background_rejection_db ?? SESSION_DEFAULTS.backgroundRejectionDb,
    tag: m.tag ?? null,
    language: m.language ?? null,
    model: m.model ?? null,
  };
}

/** session.update -> the validated patch (non-fatal errors). Apply it with {@link applySessionUpdate}. */
export function normaliseSessionUpdate(msg: SessionUpdateMessage): SessionUpdate {
  const m = validateSessionUpdate(msg as unknown as Record<string, unknown>);
  const out: SessionUpdate = {};
  if (m.hotwords !== undefined) out.hotwords = m.hotwords as Hotword[];
  if (m.endpointing?.silence_ms !== undefined) out.silenceMs = m.endpointing.silence_ms;
  if (m.endpointing?.max_utterance_ms !== undefined) out.maxUtteranceMs = m.endpointing.max_utterance_ms;
  if (m.min_confidence !== undefined) out.minConfidence = m.min_confidence;
  if (m.numerals !== undefined) out.numerals = m.numerals;
  if (m.alternatives !== undefined) out.alternatives = m.alternatives;
  if (m.background_rejection_db !== undefined) out.backgroundRejectionDb = m.background_rejection_db;
  return out;
}

/** Returns a new config with the patch applied; throws BAD_MESSAGE (non-fatal) if silence_ms >= max_utterance_ms. */
export function applySessionUpdate(config: SessionConfig, update: SessionUpdate): SessionConfig {
  // SessionUpdate's fields are SessionConfig's: the present ones replace them
  const present = Object.entries(update).filter(([, v]) => v !== undefined);
  const next: SessionConfig = { ...config, ...(Object.fromEntries(present) as Partial<SessionConfig>) };
  checkSilenceBelowMax({ type: 'session.update', fatal: false }, next.silenceMs, next.maxUtteranceMs);
  return next;
}

/** The options that shape a session's transcripts, as session.start and session.started spell them. */
export function outputOptionsToWire(config: SessionConfig): Pick<SessionStartedMessage, 'denoise' | 'min_confidence'
  | 'numerals' | 'multichannel' | 'alternatives' | 'background_rejection_db'> {
  return { denoise: config.denoise, min_confidence: config.minConfidence, numerals: config.numerals,
    multichannel: config.multichannel, alternatives: config.alternatives,
    background_rejection_db: config.backgroundRejectionDb };
}

/** The session.start that normalises to `config` (normaliseSessionStart(sessionConfigToStart(c)) deep-equals c). */
export function sessionConfigToStart(config: SessionConfig): SessionStartMessage {
  const msg: SessionStartMessage = {
    type: 'session.start',
    audio: { encoding: config.encoding, sample_rate_hz: config.sampleRateHz, channels: config.channels },
    interim_results: config.interimResults,
    endpointing: { silence_ms: config.silenceMs, max_utterance_ms: config.maxUtteranceMs },
    hotwords: config.hotwords.map((h) => ({ phrase: h.phrase, boost: h.boost })),
    ...outputOptionsToWire(config),
  };
  if (config.latency === null) msg.chunk_ms = config.chunkMs;
  else msg.latency = config.latency;
  if (config.tag !== null) msg.tag = config.tag;
  if (config.language !== null) msg.language = config.language;
  if (config.model !== null) msg.model = config.model;
  return msg;
}
