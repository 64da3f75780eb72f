/**
 * What the server layer needs from a per-session pipeline (src/stream/session-pipeline.ts) and from the loaded model,
 * as structural types. session.ts codes against these only, so the protocol state machine does not load the model;
 * speech-engine.ts is the one place that plugs the real SessionPipeline / EncoderPool in.
 */
import type { Observable } from 'rxjs';
import type { FinalReason, Hotword, SessionConfig } from '../protocol/messages.js';
import type { PipelineEvent } from '../stream/pipeline-event.js';

export type { PipelineEvent, PipelineWord } from '../stream/pipeline-event.js';

/** The per-session pipeline as session.ts uses it (the real one is SessionPipeline). */
export interface SessionPipelinePort {
  /**
   * Completes after `end()`; errors with a GatewayError (INFERENCE / DECODER / ...). May be hot: the session
   * subscribes right after creating the pipeline, before any audio.
   */
  readonly events$: Observable<PipelineEvent>;
  /** Audio in the negotiated format; `arrivalMs` on the session's `now()` clock. May throw GatewayError. */
  pushAudio(bytes: Uint8Array, arrivalMs: number): void;
  /** Finalise the open utterance once all audio pushed so far is decoded. */
  finalize(): void;
  /** No more audio: decode everything, finalise with `reason`, complete `events$`. */
  end(reason?: FinalReason): Promise<void>;
  updateHotwords(hotwords: Hotword[]): void;
  updateEndpointing(e: { silenceMs: number; maxUtteranceMs: number }): void;
  /** Audio pushed but not yet run through the model, ms. */
  backlogMs(): number;
  /** Abandons the session (fatal error, socket closed without session.end): tears the stages down, frees the encoder. */
  dispose(): void;
}

/** What a session needs from the loaded model: its name, language and a pipeline per session. */
export interface SessionServices {
  /** The served model's name (a `session.start.model` naming anything else is rejected). */
  readonly modelName: string;
  /** BCP-47 language of the model, e.g. `en`. */
  readonly language: string;
  /** A fresh pipeline for one session. May throw GatewayError (e.g. GW_ERR_BAD_HOTWORD for unspellable hotwords). */
  createPipeline(config: SessionConfig): SessionPipelinePort;
}
