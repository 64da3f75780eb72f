/**
 * Prometheus metrics of one gateway process, on a private prom-client Registry (never the global default, so that
 * several gateways in one process, e.g. in tests, do not collide).
 *
 * prom-client's default process/runtime metrics (process_*, nodejs_*) live in one registry per process, created on
 * first use and merged into every gateway's scrape: collectDefaultMetrics starts a GC PerformanceObserver and an
 * event-loop-delay histogram that prom-client can never stop, so one call per gateway kept every closed gateway's
 * registry reachable (and sampling) for the life of the process. They describe the process, not one gateway, anyway;
 * with several gateways in one process a scrape of any resets the shared nodejs_eventloop_lag_* window.
 *
 * All durations are seconds, all sizes bytes or counts, following https://prometheus.io/docs/practices/naming/.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GwErrorCode } from '../protocol/errors.js';

/** 5 ms .. 1 s, roughly doubling: partial results are expected within one chunk (80-1280 ms; presets 160-640 ms). */
export const PARTIAL_LATENCY_BUCKETS_S = [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1];
/** 10 ms .. 5 s: finals wait for the endpoint and the last chunk. */
export const FINAL_LATENCY_BUCKETS_S = [0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5];
/** Sessions per encoder batch. */
export const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64];
/** Unprocessed inbound audio per session, seconds (flow marks default to 0.5 / 2 / 10 s). */
export const BACKLOG_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16];
/** One encoder run (a batch), seconds. */
export const ENCODER_RUN_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64];

export interface MetricsOptions {
  /** Also export prom-client's default process/runtime metrics. Default true. */
  defaultMetrics?: boolean;
  /** perf_hooks event-loop delay sampling resolution in ms. Default 10. */
  eventLoopResolutionMs?: number;
}

export interface GatewayMetrics {
  /** This gateway's own metrics (not the process-wide defaults, which only `metricsText` adds). */
  readonly registry: Registry;
  readonly sessionsActive: Gauge;
  /** Ended sessions by `reason`: `client_end`, the fatal error code, or `abandoned` (client closed first). */
  readonly sessionsTotal: Counter<'reason'>;
  /** Upgrades answered 401/429/503 (404 for a wrong path is not counted), by code. */
  readonly upgradesRejectedTotal: Counter<'code'>;
  readonly audioSecondsTotal: Counter;
  readonly partialLatencySeconds: Histogram;
  readonly finalLatencySeconds: Histogram;
  readonly partialsSentTotal: Counter;
  readonly partialsDroppedTotal: Counter;
  readonly finalsTotal: Counter;
  /** Finals of utterances rejected as noise (min_confidence); also counted in finalsTotal. */
  readonly finalsRejectedTotal: Counter;
  readonly flowPausesTotal: Counter;
  readonly inboundBacklogSeconds: Histogram;
  readonly errorsTotal: Counter<'code'>;
  /** `voxgate_encoder_batch_size` (docs/protocol.md section 10). */
  readonly inferenceBatchSize: Histogram;
  readonly encoderRunSeconds: Histogram;
  /** Counts one error by code (convenience over `errorsTotal.inc({code})`). */
  countError(code: GwErrorCode): void;
  /** The Prometheus text exposition of every metric, defaults included; use `registry.contentType` as Content-Type. */
  metricsText(): Promise<string>;
  /** Stops the event-loop monitor; afterwards nothing outside the returned object holds this gateway's metrics. */
  stop(): void;
}

let processDefaults: Registry | undefined;

/** The process-wide registry of prom-client's default metrics (see module doc). */
function processDefaultMetrics(): Registry {
  if (processDefaults === undefined) {
    processDefaults = new Registry();
    collectDefaultMetrics({ register: processDefaults });
  }
  return processDefaults;
}

/**
 * Creates the registry and every voxgate metric. `voxgate_event_loop_delay_seconds{stat}` reports mean, p50, p99
 * and max of the loop delay since the previous scrape (the histogram is reset on each scrape).
 */
export function createMetrics(options: MetricsOptions = {}): GatewayMetrics {
  const registry = new Registry();
  const registers = [registry];
  const defaults = options.defaultMetrics === false ? null : processDefaultMetrics();

  const resolutionMs = options.eventLoopResolutionMs ?? 10;
  const loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: resolutionMs });
  loopDelay.enable();
  // The histogram holds the whole gap between two of its timer's ticks (an idle loop reads ~10.1 ms at a 10 ms
  // resolution): the delay is what exceeds the resolution.
  const delaySeconds = (ns: number): number => Math.max(0, ns * 1e-9 - resolutionMs / 1000);
  new Gauge({
    name: 'voxgate_event_loop_delay_seconds',
    help: 'Event loop delay since the previous scrape (perf_hooks.monitorEventLoopDelay), by statistic.',
    labelNames: ['stat'],
    registers,
    collect() {
      const count = loopDelay.count;
      this.set({ stat: 'mean' }, count > 0 ? delaySeconds(loopDelay.mean) : 0);
      this.set({ stat: 'p50' }, count > 0 ? delaySeconds(loopDelay.percentile(50)) : 0);
      this.set({ stat: 'p99' }, count > 0 ? delaySeconds(loopDelay.percentile(99)) : 0);
      this.set({ stat: 'max' }, count > 0 ? delaySeconds(loopDelay.max) : 0);
      loopDelay.reset();
    },
  });

  const errorsTotal = new Counter({
    name: 'voxgate_errors_total',
    help: 'Errors sent to clients or raised by sessions, by GW_ERR_* code.',
    labelNames: ['code'] as const,
    registers,
  });

  return {
    registry,
    sessionsActive: new Gauge({ name: 'voxgate_sessions_active', help: 'Open sessions.', registers }),
    sessionsTotal: new Counter({
      name: 'voxgate_sessions_total',
      help: 'Ended sessions by reason: client_end, the fatal GW_ERR_* code, or abandoned.',
      labelNames: ['reason'] as const,
      registers,
    }),
    upgradesRejectedTotal: new Counter({
      name: 'voxgate_upgrades_rejected_total',
      help: 'WebSocket upgrades answered with 401, 429 or 503, by GW_ERR_* code.',
      labelNames: ['code'] as const,
      registers,
    }),
    partialsSentTotal: new Counter({ name: 'voxgate_partials_sent_total', help: 'transcript.partial sent.', registers }),
    finalsTotal: new Counter({ name: 'voxgate_finals_total', help: 'transcript.final sent.', registers }),
    finalsRejectedTotal: new Counter({ name: 'voxgate_finals_rejected_total',
      help: 'transcript.final of utterances rejected as noise (min_confidence) or as background speech '
        + '(background_rejection_db), also in voxgate_finals_total.',
      registers }),
    flowPausesTotal: new Counter({ name: 'voxgate_flow_pauses_total', help: 'flow.pause sent.', registers }),
    inboundBacklogSeconds: new Histogram({
      name: 'voxgate_inbound_backlog_seconds',
      help: 'Unprocessed inbound audio of a session, sampled at every binary audio frame.',
      buckets: BACKLOG_BUCKETS_S,
      registers,
    }),
    encoderRunSeconds: new Histogram({
      name: 'voxgate_encoder_run_seconds',
      help: 'Wall time of one encoder run (one batch).',
      buckets: ENCODER_RUN_BUCKETS_S,
      registers,
    }),
    audioSecondsTotal: new Counter({
      name: 'voxgate_audio_seconds_total',
      help: 'Seconds of audio received before the session began closing (session.ended audio_ms; not bytes_discarded).',
      registers,
    }),
    partialLatencySeconds: new Histogram({
      name: 'voxgate_partial_latency_seconds',
      help: 'latency_ms of the partials sent: from the arrival of the newest audio a partial covers to sending it.',
      buckets: PARTIAL_LATENCY_BUCKETS_S,
      registers,
    }),
    finalLatencySeconds: new Histogram({
      name: 'voxgate_final_latency_seconds',
      help: 'latency_ms of the finals sent: from the arrival of the newest audio a final covers to sending it.',
      buckets: FINAL_LATENCY_BUCKETS_S,
      registers,
    }),
    partialsDroppedTotal: new Counter({
      name: 'voxgate_partials_dropped_total',
      help: 'Partial results dropped because the client socket was backpressured.',
      registers,
    }),
    errorsTotal,
    inferenceBatchSize: new Histogram({
      name: 'voxgate_encoder_batch_size',
      help: 'Sessions per encoder batch.',
      buckets: BATCH_SIZE_BUCKETS,
      registers,
    }),
    countError(code: GwErrorCode): void {
      errorsTotal.inc({ code });
    },
    metricsText(): Promise<string> {
      // merge() builds a throwaway registry per scrape, so neither registry keeps a reference to the other
      return (defaults === null ? registry : Registry.merge([defaults, registry])).metrics();
    },
    stop(): void {
      loopDelay.disable();
    },
  };
}
