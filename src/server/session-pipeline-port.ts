/**
 * What the server layer needs from a per-session pipeline (src/stream/session-pipeline.ts) and from the loaded model,
 * as structural types. session.ts codes against these only, so the protocol state machine does not load the model;
 * speech-engine.ts is the one place that plugs the real SessionPipeline / EncoderPool in.
 */
import type { SessionConfig } from '../protocol/session-config.js';
import type { SessionPipelinePort } from '../stream/pipeline-event.js';

export type { PipelineEvent, PipelineWord, SessionPipelinePort } from '../stream/pipeline-event.js';

/** What a session needs from the loaded model: its name, language and a pipeline per session. */
export interface SessionServices {
  /** The served model's name (a `session.start.model` naming anything else is rejected). */
  readonly modelName: string;
  /** BCP-47 language of the model, e.g. `en`. */
  readonly language: string;
  /** A fresh pipeline for one session. May throw GatewayError (e.g. GW_ERR_BAD_HOTWORD for unspellable hotwords). */
  createPipeline(config: SessionConfig): SessionPipelinePort;
}
