/**
 * Wire types of voxgate Protocol v1 (docs/protocol.md is the prose spec; this file is the typed one).
 *
 * Endpoint `ws://HOST:PORT/v1/stream`, one session per socket. Text frames carry one JSON object with a `type`;
 * binary frames carry audio in the format negotiated by `session.start`. Wire field names are snake_case with units
 * (`sample_rate_hz`, `chunk_ms`); the normalised internal types (session-config.ts) are camelCase with units.
 */
import type { ErrorMessage, GwErrorCode } from './errors.js';

export type { ErrorMessage } from './errors.js';

export const PROTOCOL_VERSION = 1;
/** Path of the streaming endpoint. */
export const STREAM_PATH = '/v1/stream';

export type AudioEncoding = 'pcm_s16le' | 'pcm_f32le' | 'mulaw' | 'alaw';
export const AUDIO_ENCODINGS: readonly AudioEncoding[] = ['pcm_s16le', 'pcm_f32le', 'mulaw', 'alaw'];

export type LatencyPreset = 'low' | 'balanced' | 'accurate';
/** Chunk length (ms of audio per encoder step) of each latency preset. */
export const LATENCY_CHUNK_MS: Readonly<Record<LatencyPreset, number>> = { low: 160, balanced: 320, accurate: 640 };

export type DenoiseMode = 'off' | 'spectral';
export const DENOISE_MODES: readonly DenoiseMode[] = ['off', 'spectral'];

/** Ranges enforced by validate.ts (inclusive). docs/protocol.md quotes these numbers. */
export const PROTOCOL_LIMITS = {
  minSampleRateHz: 8000,
  maxSampleRateHz: 48000,
  /** chunk_ms must be a multiple of this (one encoder output frame). */
  chunkStepMs: 40,
  minChunkMs: 80,
  maxChunkMs: 1280,
  minSilenceMs: 100,
  maxSilenceMs: 5000,
  minMaxUtteranceMs: 1000,
  maxMaxUtteranceMs: 60000,
  maxHotwords: 100,
  /** Characters (UTF-16 code units) of a hotword phrase after normalisation. */
  maxHotwordChars: 100,
  minHotwordBoost: 0,
  maxHotwordBoost: 20,
  /** Most `session.start.alternatives` (texts in a final's n-best list). */
  maxAlternatives: 10,
  /** Largest `background_rejection_db`. */
  maxBackgroundRejectionDb: 40,
  /** Largest text or binary frame the server accepts (bytes). */
  maxFrameBytes: 1024 * 1024,
  /** Longest `language` / `model` string. */
  maxTagChars: 64,
  /** Longest `session.start.tag` (UTF-16 code units). */
  maxSessionTagChars: 128,
  /** Longest `ping.id` string. */
  maxPingIdChars: 128,
  /**
   * Text frames a session may send at once, and per second after that (token bucket; audio frames are not counted,
   * flow control governs them). Over it a text frame is discarded unparsed with GW_ERR_RATE_LIMITED: one client
   * flooding session.update (1.4 ms of decoder work each at 100 hotwords) would otherwise delay every session.
   */
  textMessagesBurst: 60,
  textMessagesPerSecond: 30,
  /** Characters of text frames: two whole frames at once (2 x max_frame_bytes, at least this), then 256 Ki/s. */
  textCharsBurst: 2 * 1024 * 1024,
  textCharsPerSecond: 256 * 1024,
  /**
   * Refused text frames tolerated at once and per second after that: past them the refusal is fatal (close 4000),
   * so a client that ignores GW_ERR_RATE_LIMITED is disconnected instead of answered frame by frame.
   */
  textRefusalsBurst: 600,
  textRefusalsPerSecond: 60,
} as const;

/** Defaults applied by normaliseSessionStart. */
export const SESSION_DEFAULTS = {
  interimResults: true,
  latency: 'balanced' as LatencyPreset,
  chunkMs: LATENCY_CHUNK_MS.balanced,
  silenceMs: 500,
  maxUtteranceMs: 15000,
  hotwordBoost: 2.0,
  denoise: 'off' as DenoiseMode,
  /** Utterances whose every word is less confident than this are rejected as noise (model card, "VAD"). */
  minConfidence: 0.15,
  numerals: false,
  multichannel: false,
  alternatives: 1,
  backgroundRejectionDb: 0,
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Shared wire shapes

export interface AudioFormat {
  encoding: AudioEncoding;
  /** Integer in [8000, 48000]. */
  sample_rate_hz: number;
  /** Interleaved channels; stereo is downmixed to mono by the server unless `multichannel`. */
  channels: 1 | 2;
}

export interface EndpointingParams {
  /** Trailing silence that ends an utterance, ms in [100, 5000]. Default 500. */
  silence_ms?: number;
  /** An utterance longer than this is finalised, ms in [1000, 60000]. Default 15000. */
  max_utterance_ms?: number;
}

export interface HotwordParam {
  /** 1..100 UTF-16 code units after normalisation; compared case-insensitively. */
  phrase: string;
  /** Log-domain bonus in [0, 20]. Default 2.0. */
  boost?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Client -> server

export interface SessionStartMessage {
  type: 'session.start';
  audio: AudioFormat;
  /** Send transcript.partial messages. Default true. */
  interim_results?: boolean;
  /** Preset chunk length: low 160 ms, balanced 320 ms, accurate 640 ms. Default balanced. Not with chunk_ms. */
  latency?: LatencyPreset;
  /** Explicit chunk length, multiple of 40 in [80, 1280]. Not with latency. */
  chunk_ms?: number;
  endpointing?: EndpointingParams;
  /** At most 100, phrases unique after normalisation. */
  hotwords?: HotwordParam[];
  /** Default 'off'. */
  denoise?: DenoiseMode;
  /** In [0, 1], default 0.15: an utterance none of whose words reaches this confidence (a click, a breath) gets an
   *  empty final, with what was rejected in `rejected`. 0 turns rejection off. */
  min_confidence?: number;
  /** Default false: finals also carry `formatted_text`, their text with numbers as digits ("$25.50", "4072"). */
  numerals?: boolean;
  /** Default false; needs audio.channels 2: each channel is transcribed on its own, and events carry `channel`. */
  multichannel?: boolean;
  /** Integer in [1, 10], default 1: above 1, finals carry `alternatives`, their n-best list of distinct texts. */
  alternatives?: number;
  /** In [0, 40] dB, default 0 (off): partials and finals leave out words this far below the session's reference level
   *  that the model is unsure of (background talkers; stream/background-gate.ts). */
  background_rejection_db?: number;
  /** 1-128 characters, no control characters: the client's own id for the session (a bridge's call id), put on
   *  every server log line of the session and echoed in session.started. */
  tag?: string;
  /** BCP-47 tag; the server rejects languages its model does not serve. */
  language?: string;
  /** Model name; the server rejects a model it does not serve. */
  model?: string;
}

/** Replaces the hotword list (when given) and the given endpointing fields. Answered by `session.updated`. */
export interface SessionUpdateMessage {
  type: 'session.update';
  /** Replaces the whole list; `[]` clears it. */
  hotwords?: HotwordParam[];
  /** Only the given fields change. */
  endpointing?: EndpointingParams;
  /** As in session.start; from the audio not yet decoded on. */
  min_confidence?: number;
  numerals?: boolean;
  alternatives?: number;
  background_rejection_db?: number;
}

/** Finalise the open utterance now (a `transcript.final` follows if any speech was pending). */
export interface SessionFinalizeMessage {
  type: 'session.finalize';
}

/** No more audio: the server finalises, sends `session.ended` and closes with 1000. */
export interface SessionEndMessage {
  type: 'session.end';
}

/** Keep-alive (resets the idle timer); answered by `pong` with the same id. */
export interface PingMessage {
  type: 'ping';
  id?: string | number;
}

export type ClientMessage =
  | SessionStartMessage
  | SessionUpdateMessage
  | SessionFinalizeMessage
  | SessionEndMessage
  | PingMessage;

export type ClientMessageType = ClientMessage['type'];
export const CLIENT_MESSAGE_TYPES: readonly ClientMessageType[] = [
  'session.start', 'session.update', 'session.finalize', 'session.end', 'ping',
];

// ---------------------------------------------------------------------------------------------------------------
// Server -> client

export interface SessionStartedMessage {
  type: 'session.started';
  session_id: string;
  protocol_version: typeof PROTOCOL_VERSION;
  /** Name of the model serving the session. */
  model: string;
  /** Normalised echo of session.start.audio. */
  audio: AudioFormat;
  chunk_ms: number;
  /** The preset in use, or null when chunk_ms was given explicitly. */
  latency: LatencyPreset | null;
  interim_results: boolean;
  endpointing: Required<EndpointingParams>;
  /** Number of hotwords in effect. */
  hotwords: number;
  denoise: DenoiseMode;
  min_confidence: number;
  numerals: boolean;
  multichannel: boolean;
  alternatives: number;
  background_rejection_db: number;
  /** session.start's tag, or null. */
  tag: string | null;
  /** session.start's language, else the model's. */
  language: string;
  /** Server limits that apply to this session (ms unless named otherwise). */
  limits: SessionLimits;
}

export interface SessionLimits {
  max_frame_bytes: number;
  idle_timeout_ms: number;
  max_duration_ms: number;
  flow_high_water_ms: number;
  flow_low_water_ms: number;
  backlog_limit_ms: number;
  /** Text-frame budget (section 6, "Rate limits on text frames"). */
  text_frames_burst: number;
  text_frames_per_second: number;
  text_chars_per_second: number;
}

/** Events of a session with `multichannel`: the input channel they belong to, 0 left, 1 right. */
export interface ChannelField {
  channel?: number;
}

/** VAD saw speech begin / end. `audio_ms`: audio time since session start. */
export interface SpeechStartedMessage extends ChannelField {
  type: 'speech.started';
  audio_ms: number;
}

export interface SpeechStoppedMessage extends ChannelField {
  type: 'speech.stopped';
  audio_ms: number;
}

export interface TranscriptPartialMessage extends ChannelField {
  type: 'transcript.partial';
  /** 0, 1, 2, ... per utterance within the session (within the channel, with multichannel). */
  utterance_id: number;
  /** +1 per transcript message (partials and finals) within the session, starting at 0. */
  seq: number;
  text: string;
  /** Prefix of `text` that later partials and the final of this utterance will not change. */
  stable_text: string;
  /** Audio time since session start. */
  start_ms: number;
  end_ms: number;
  /** From arrival of the newest audio frame this partial covers to the moment it is sent. */
  latency_ms: number;
}

export interface WordTiming {
  word: string;
  start_ms: number;
  end_ms: number;
  /** In [0, 1]. */
  confidence: number;
}

/** Why an utterance was finalised. */
export type FinalReason = 'silence' | 'max_utterance' | 'finalize' | 'session_end' | 'shutdown' | 'max_duration';

export interface TranscriptFinalMessage extends ChannelField {
  type: 'transcript.final';
  utterance_id: number;
  seq: number;
  text: string;
  words: WordTiming[];
  /** In [0, 1]. */
  confidence: number;
  start_ms: number;
  end_ms: number;
  /** Same definition as in transcript.partial. */
  latency_ms: number;
  reason: FinalReason;
  /** Only with session.start `numerals`: `text` with numbers as digits (inference/numerals.ts); words keep theirs. */
  formatted_text?: string;
  /** Only when session.start `alternatives` > 1 (and the utterance was not rejected): distinct texts, best first. */
  alternatives?: TranscriptAlternative[];
  /** Only on a rejected utterance, by `min_confidence` or `background_rejection_db` (then text is "", words [] and
   *  confidence 0): what the model heard and its confidence. */
  rejected?: { text: string; confidence: number };
}

/**
 * One text of a final's n-best list. The first is the final's `text`. Ordered by the score of the best hypothesis
 * spelling each text (the score that picked the final); `confidence` is the share of the decoder's beam that spells
 * it (all hypotheses' scores normalised to sum to 1), so it need not fall monotonically and the list's sum is <= 1.
 */
export interface TranscriptAlternative {
  text: string;
  confidence: number;
  /** Only with session.start `numerals`. */
  formatted_text?: string;
}

/** Stop sending audio: unprocessed audio passed the high-water mark. */
export interface FlowPauseMessage {
  type: 'flow.pause';
  /** Unprocessed audio held by the server, ms. */
  buffered_ms: number;
}

/** Resume sending audio: unprocessed audio fell below the low-water mark. */
export interface FlowResumeMessage {
  type: 'flow.resume';
  buffered_ms: number;
}

export interface SessionUpdatedMessage {
  type: 'session.updated';
  /** Number of hotwords in effect after the update. */
  hotwords: number;
  endpointing: Required<EndpointingParams>;
  /** Values in effect after the update. */
  min_confidence: number;
  numerals: boolean;
  alternatives: number;
  background_rejection_db: number;
}

export interface PongMessage {
  type: 'pong';
  id?: string | number;
}

export interface SessionStats {
  /** Audio received, ms. */
  audio_ms: number;
  /** Audio run through the model, ms (equals audio_ms after a clean end). */
  processed_audio_ms: number;
  bytes_received: number;
  frames_received: number;
  /** Audio bytes that arrived after the session began closing (session.end, drain, max duration): not
   *  transcribed; the first such frame is answered with a non-fatal GW_ERR_SESSION_ENDED. */
  bytes_discarded: number;
  utterances: number;
  partials_sent: number;
  /** Interim partials dropped because the client read slowly. */
  partials_dropped: number;
  finals_sent: number;
  /** Finals of rejected utterances, by min_confidence or background_rejection_db (counted in finals_sent too). */
  finals_rejected: number;
  flow_pauses: number;
  /** Wall-clock session length, ms. */
  duration_ms: number;
  /** null when no partial was sent. */
  partial_latency_mean_ms: number | null;
  partial_latency_max_ms: number | null;
}

export interface SessionEndedMessage {
  type: 'session.ended';
  session_id: string;
  /** Audio received, ms (same as stats.audio_ms). */
  audio_ms: number;
  /** 'client_end' after session.end; 'error' when a fatal error (error_code) ended the session. */
  reason: 'client_end' | 'error';
  error_code?: GwErrorCode;
  stats: SessionStats;
}

export type ServerMessage =
  | SessionStartedMessage
  | SpeechStartedMessage
  | SpeechStoppedMessage
  | TranscriptPartialMessage
  | TranscriptFinalMessage
  | ErrorMessage
  | FlowPauseMessage
  | FlowResumeMessage
  | SessionUpdatedMessage
  | PongMessage
  | SessionEndedMessage;

export type ServerMessageType = ServerMessage['type'];
export const SERVER_MESSAGE_TYPES: readonly ServerMessageType[] = [
  'session.started', 'speech.started', 'speech.stopped', 'transcript.partial', 'transcript.final', 'error',
  'flow.pause', 'flow.resume', 'session.updated', 'pong', 'session.ended',
];
