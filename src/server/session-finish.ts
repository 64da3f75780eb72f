/**
 * The last step of a session that ends with its transcripts (session.end, drain, max duration): the pipeline decodes
 * what it holds and emits its last events, and the session waits for that, within bounds of its own. Apart from
 * session.ts so the state machine only decides when to finish and what to send after.
 *
 * Why bounded: the drain has its own deadline, but `session.end` and max duration had none, so a pipeline whose `end()`
 * never settled (an encoder worker's ONNX Runtime that stopped answering) held its session open, with no error and no
 * `session.ended`, until the client gave up.
 */
import { GatewayError } from '../protocol/errors.js';
import type { FinalReason } from '../protocol/messages.js';
import type { SessionLimitsConfig } from './config.js';
import { BACKLOG_CAP_FACTOR } from './flow-control.js';
import type { Logger } from './logger.js';
import type { SessionPipelinePort } from './session-pipeline-port.js';

/** Longest wait for `events$` to complete after `pipeline.end()` resolved. */
const EVENTS_COMPLETE_TIMEOUT_MS = 5000;

/** What `pipelineEndTimeoutMs` allows on top of decoding the largest backlog at real time. */
const PIPELINE_END_SLACK_MS = 30_000;

/**
 * Longest wait for `pipeline.end()`. It decodes the session's unprocessed audio, which flow control caps at
 * BACKLOG_CAP_FACTOR x `backlogLimitMs` (20 s by default); that much again as wall time, plus
 * {@link PIPELINE_END_SLACK_MS}, is beyond any loaded encoder: only one that stopped answering passes it.
 */
export function pipelineEndTimeoutMs(limits: Pick<SessionLimitsConfig, 'backlogLimitMs'>): number {
  return PIPELINE_END_SLACK_MS + BACKLOG_CAP_FACTOR * limits.backlogLimitMs;
}

export interface FinishWait {
  /** Settles when the session's subscription to `events$` completes (rejects with its error). */
  eventsDone: Promise<void>;
  /** Resolves when the session released the pipeline (fatal error, socket closed): nothing more to wait for. */
  released: Promise<void>;
  limits: Pick<SessionLimitsConfig, 'backlogLimitMs'>;
  log: Logger;
}

/**
 * Ends `pipeline` with `reason` and waits for its last events. Rejects with the pipeline's error, or with
 * GW_ERR_INFERENCE when `end()` has not settled within {@link pipelineEndTimeoutMs}; `events$` not completing within
 * {@link EVENTS_COMPLETE_TIMEOUT_MS} after that is only logged (the transcripts are out; the end goes on).
 */
export async function finishPipeline(pipeline: SessionPipelinePort, reason: FinalReason, w: FinishWait): Promise<void> {
  const endMs = pipelineEndTimeoutMs(w.limits);
  await withDeadline([pipeline.end(reason), w.released], endMs, () => {
    throw new GatewayError('GW_ERR_INFERENCE', `the speech pipeline did not end within ${endMs} ms of the session's `
      + 'end (the encoder is not answering); the rest of the transcript is lost');
  });
  await withDeadline([w.eventsDone, w.released], EVENTS_COMPLETE_TIMEOUT_MS, () => {
    w.log.warn('pipeline events did not complete after end(); ending anyway');
  });
}

/**
 * The first of `ps` to settle, or what `onTimeout` does (returns or throws) once `ms` passed first. The timer is
 * unref'd and cleared as soon as the race is decided.
 */
function withDeadline(ps: Promise<void>[], ms: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        onTimeout();
        resolve();
      } catch (e) {
        reject(e);
      }
    }, ms).unref();
  });
  return Promise.race([...ps, deadline]).finally(() => clearTimeout(timer));
}
