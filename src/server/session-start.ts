/**
 * The `session.start` negotiation of one session (docs/protocol.md section 3): checks a session.start against the
 * model this server serves, creates the session's pipeline, and builds the `session.started` answer; and the
 * `session.update` that changes it mid-stream. Pure apart from the pipeline calls; split out of session.ts so the
 * state machine only decides *when* a start or update is allowed and wires the result in, while what is accepted
 * and what is answered lives here.
 */
import { GatewayError, toGatewayError } from '../protocol/errors.js';
import {
  PROTOCOL_LIMITS, PROTOCOL_VERSION, type SessionStartedMessage, type SessionStartMessage, type SessionUpdatedMessage,
  type SessionUpdateMessage,
} from '../protocol/messages.js';
import {
  applySessionUpdate, normaliseSessionStart, normaliseSessionUpdate, outputOptionsToWire, type SessionConfig,
} from '../protocol/session-config.js';
import { quoteValue } from '../protocol/validate.js';
import type { SessionLimitsConfig } from './config.js';
import type { SessionPipelinePort, SessionServices } from './session-pipeline-port.js';

/** An accepted session.start: its normalised config and the pipeline created for it. */
export interface AcceptedStart {
  config: SessionConfig;
  pipeline: SessionPipelinePort;
}

/**
 * Normalises `msg`, checks its `model` and `language` against `services` and creates the pipeline. Throws a fatal
 * GatewayError (GW_ERR_BAD_MESSAGE for a model/language mismatch; the pipeline's own code, made fatal, otherwise).
 */
export function acceptSessionStart(msg: SessionStartMessage, services: SessionServices): AcceptedStart {
  const config = normaliseSessionStart(msg);
  if (config.model !== null && config.model !== services.modelName) {
    throw new GatewayError('GW_ERR_BAD_MESSAGE', `session.start: model must be ${quoteValue(services.modelName)} `
      + `(the model this server serves), got ${quoteValue(config.model)}`, { fatal: true });
  }
  const primary = (tag: string): string => tag.split('-')[0]!.toLowerCase();
  if (config.language !== null && primary(config.language) !== primary(services.language)) {
    throw new GatewayError('GW_ERR_BAD_MESSAGE', `session.start: language must be ${quoteValue(services.language)} `
      + `(the model's language), got ${quoteValue(config.language)}`, { fatal: true });
  }
  try {
    return { config, pipeline: services.createPipeline(config) };
  } catch (e) {
    const err = toGatewayError(e);
    throw err.fatal ? err : new GatewayError(err.code, `session.start: ${err.message}`, { fatal: true, cause: e });
  }
}

/**
 * `session.update`: validates it, hands what changed to the pipeline (hotwords first: a list it refuses leaves
 * everything as it was) and returns the new config with its `session.updated` answer. Throws non-fatal errors.
 * `flushRequested` is called just before a lower `silence_ms` or `max_utterance_ms` reaches the pipeline: the open
 * utterance may then end at once, at the audio received so far, which is a flush the client asked for (as
 * session.finalize is), so what it decodes must not count as the server's lag (transcript-sender.ts `lagMs`).
 */
export function acceptSessionUpdate(msg: SessionUpdateMessage, config: SessionConfig, pipeline: SessionPipelinePort,
  flushRequested?: () => void): { config: SessionConfig; reply: SessionUpdatedMessage } {
  const patch = normaliseSessionUpdate(msg);
  const next = applySessionUpdate(config, patch);
  if (patch.hotwords !== undefined) pipeline.updateHotwords(patch.hotwords);
  if (patch.silenceMs !== undefined || patch.maxUtteranceMs !== undefined) {
    if (next.silenceMs < config.silenceMs || next.maxUtteranceMs < config.maxUtteranceMs) flushRequested?.();
    pipeline.updateEndpointing({ silenceMs: next.silenceMs, maxUtteranceMs: next.maxUtteranceMs });
  }
  if (patch.minConfidence !== undefined || patch.alternatives !== undefined || patch.backgroundRejectionDb !== undefined) {
    pipeline.updateDecoding({ minConfidence: next.minConfidence, alternatives: next.alternatives,
      backgroundRejectionDb: next.backgroundRejectionDb });
  }
  return { config: next, reply: { type: 'session.updated', hotwords: next.hotwords.length,
    endpointing: { silence_ms: next.silenceMs, max_utterance_ms: next.maxUtteranceMs },
    min_confidence: next.minConfidence, numerals: next.numerals, alternatives: next.alternatives,
    background_rejection_db: next.backgroundRejectionDb } };
}

/** The `session.started` answer: the negotiated config with defaults applied, and the limits the server enforces. */
export function sessionStartedMessage(sessionId: string, config: SessionConfig, services: SessionServices,
  limits: SessionLimitsConfig): SessionStartedMessage {
  return {
    type: 'session.started',
    session_id: sessionId,
    protocol_version: PROTOCOL_VERSION,
    model: services.modelName,
    audio: { encoding: config.encoding, sample_rate_hz: config.sampleRateHz, channels: config.channels },
    chunk_ms: config.chunkMs,
    latency: config.latency,
    interim_results: config.interimResults,
    endpointing: { silence_ms: config.silenceMs, max_utterance_ms: config.maxUtteranceMs },
    hotwords: config.hotwords.length,
    ...outputOptionsToWire(config),
    tag: config.tag,
    language: config.language ?? services.language,
    limits: {
      max_frame_bytes: limits.maxFrameBytes,
      idle_timeout_ms: limits.idleTimeoutMs,
      max_duration_ms: limits.maxDurationMs,
      flow_high_water_ms: limits.flowHighWaterMs,
      flow_low_water_ms: limits.flowLowWaterMs,
      backlog_limit_ms: limits.backlogLimitMs,
      text_frames_burst: PROTOCOL_LIMITS.textMessagesBurst,
      text_frames_per_second: PROTOCOL_LIMITS.textMessagesPerSecond,
      text_chars_per_second: PROTOCOL_LIMITS.textCharsPerSecond,
    },
  };
}
