/**
 * The normalised, internal form of a session's configuration: `session.start` with every default applied
 * (validate.ts `normaliseSessionStart`) and `session.update` patches. camelCase with units in names; the wire
 * shapes are in messages.ts.
 */
import type { AudioEncoding, DenoiseMode, LatencyPreset } from './messages.js';

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
}
