/**
 * The load benchmark's report (bench.ts): per-session results and server-side figures summed into one BenchResult,
 * printed and written as JSON with the same fields.
 */
import { percentile, percentiles, round, type Percentiles } from './bench-stats.js';
import { CLIENT_SEND_LAG_P99_MS, REALTIME_CHUNK_DELAY_MS, realtimeFailures } from './bench-verdict.js';
import type { SessionResult } from './load-session.js';

type Rounded = Record<keyof Percentiles, number | null>;

export interface BenchResult {
  sessions: number;
  partial_latency_ms: Rounded;
  word_latency_ms: Rounded;
  dropped_partials: number;
  event_loop_delay_ms: { p99: number | null; max: number | null };
  /** (peak - idle RSS) / sessions: includes what the first inferences allocate once (arenas, JIT), so it falls with N. */
  rss_mb_per_session: number | null;
  realtime: boolean;
  /** Why not real time (bench-verdict.ts); empty when real time. */
  realtime_failures: string[];
  chunk_delay_ms: Rounded;
  final_latency_ms: Rounded;
  /** Sending the frame that holds a speech onset -> speech.started arrives (load-session.ts). */
  speech_started_latency_ms: Rounded;
  end_drain_ms: { p50: number | null; max: number | null };
  flow_pauses: number;
  inbound_backlog_ms_p99_bucket: number | null;
  cpu_percent: number | null;
  /** Server CPU time over the sessions' summed streaming time, % (cpu_percent / n would count the ramp as load). */
  cpu_percent_per_session: number | null;
  rss_mb_baseline: number | null;
  rss_mb_peak: number | null;
  /** Chunks per encoder call over the load window (the pool batches whatever is ready when a worker frees up). */
  encoder_mean_batch: number | null;
  /** Encoder run time summed over the workers, % of the load window's wall time (2 workers: at most ~200%). */
  encoder_busy_percent: number | null;
  partials: number;
  finals: number;
  words: number;
  /** Of `words`: held by no partial, timed to the final's arrival. */
  words_only_in_final: number;
  /** Words of finals not timed (never held, or their end frame never sent): not in word_latency_ms. */
  words_unmatched: number;
  /** A frame sent minus when it was due, pooled over sessions, ms: whether the client kept real-time pace. */
  client_send_lag_ms: { p99: number | null; max: number | null };
  sessions_failed: number;
  errors: Record<string, number>;
  client_event_loop_delay_ms_p99: number | null;
  duration_s: number;
  latency: string;
  transport: string;
  wire: string;
}

const r1 = (p: Percentiles): Rounded => ({ p50: round(p.p50, 1), p95: round(p.p95, 1), p99: round(p.p99, 1) });
const mb = (bytes: number): number | null => round(bytes / 2 ** 20, 2);

/** A run that did not complete (the server did not start, ...): kept in the sweep's JSON, never real time. */
export interface BenchFailure {
  sessions: number;
  realtime: false;
  error: string;
}

/** How the run was set up, as the report names it. */
export interface RunInfo {
  durationS: number;
  latency: string;
  transport: string;
  wire: string;
}

export interface ServerSide {
  loop: { p99Ms: number; maxMs: number };
  /** Upper bucket bound of the p99 of the server's per-frame backlog samples, ms (NaN: not exported). */
  backlogP99Ms: number;
  cpuMs: number;
  wallMs: number;
  baseRss: number;
  peakRss: number;
  clientLoopP99Ms: number;
  encoderBatches: number;
  encoderRows: number;
  encoderRunS: number;
}

export function summarise(n: number, info: RunInfo, results: SessionResult[], s: ServerSide): BenchResult {
  const flat = (f: (r: SessionResult) => number[]): number[] => results.flatMap(f);
  const partials = flat((r) => r.partialLatencyMs), finals = flat((r) => r.finalLatencyMs);
  const words = flat((r) => r.wordLatencyMs), onsets = flat((r) => r.speechStartedLatencyMs);
  const chunkDelays = [...partials, ...finals];
  const drains = results.map((r) => r.endDrainMs).filter((x): x is number => x !== null);
  const errors: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const dropped = results.reduce((a, r) => a + (r.stats?.partials_dropped ?? 0), 0);
  const flowPauses = results.reduce((a, r) => a + Math.max(r.flowPauses, r.stats?.flow_pauses ?? 0), 0);
  const failed = results.filter((r) => r.stats === null || r.closeCode !== 1000 || Object.keys(r.errors).length > 0).length;
  const chunkP99 = percentile(chunkDelays, 99);
  const lags = flat((r) => r.sendLagMs);
  const lagP99 = percentile(lags, 99);
  const realtimeMisses = realtimeFailures({ chunkDelays: chunkDelays.length, chunkDelayP99Ms: chunkP99, flowPauses,
    droppedPartials: dropped, failedSessions: failed, clientSendLagP99Ms: lagP99 });
  const cpuPercent = (100 * s.cpuMs) / s.wallMs;
  // Per session: over the sessions' streaming time, not n x the window (the ramp-in and the staggered ends are in it).
  const streamMs = results.reduce((a, r) => a + r.streamMs, 0);
  return {
    sessions: n,
    partial_latency_ms: r1(percentiles(partials)),
    word_latency_ms: r1(percentiles(words)),
    dropped_partials: dropped,
    event_loop_delay_ms: { p99: round(s.loop.p99Ms, 1), max: round(s.loop.maxMs, 1) },
    rss_mb_per_session: round((s.peakRss - s.baseRss) / 2 ** 20 / n, 2),
    realtime: realtimeMisses.length === 0,
    realtime_failures: realtimeMisses,
    chunk_delay_ms: r1(percentiles(chunkDelays)),
    final_latency_ms: r1(percentiles(finals)),
    speech_started_latency_ms: r1(percentiles(onsets)),
    end_drain_ms: { p50: round(percentile(drains, 50), 1), max: round(Math.max(...drains), 1) },
    flow_pauses: flowPauses,
    inbound_backlog_ms_p99_bucket: round(s.backlogP99Ms, 0),
    cpu_percent: round(cpuPercent, 1),
    cpu_percent_per_session: round((100 * s.cpuMs) / streamMs, 2),
    rss_mb_baseline: mb(s.baseRss),
    rss_mb_peak: mb(s.peakRss),
    encoder_mean_batch: round(s.encoderRows / s.encoderBatches, 1),
    encoder_busy_percent: round((100 * 1000 * s.encoderRunS) / s.wallMs, 0),
    partials: partials.length,
    finals: finals.length,
    words: words.length,
    words_only_in_final: results.reduce((a, r) => a + r.wordsOnlyInFinal, 0),
    words_unmatched: results.reduce((a, r) => a + r.wordsUnmatched, 0),
    client_send_lag_ms: { p99: round(lagP99, 1), max: round(lags.reduce((a, x) => Math.max(a, x), -Infinity), 1) },
    sessions_failed: failed,
    errors,
    client_event_loop_delay_ms_p99: round(s.clientLoopP99Ms, 1),
    duration_s: info.durationS,
    latency: info.latency,
    transport: info.transport,
    wire: info.wire,
  };
}

export function print(r: BenchResult): void {
  const p = (x: Rounded): string => `p50 ${x.p50 ?? '-'} / p95 ${x.p95 ?? '-'} / p99 ${x.p99 ?? '-'} ms`;
  const errs = Object.entries(r.errors).map(([k, v]) => `${k} x${v}`).join(', ') || 'none';
  console.log([
    `sessions ${r.sessions} (${r.transport}, latency ${r.latency}, ${r.duration_s} s of audio each, wire ${r.wire})`,
    `  partial latency      ${p(r.partial_latency_ms)}   (${r.partials} partials)`,
    `  final latency        ${p(r.final_latency_ms)}   (${r.finals} finals)`,
    `  word -> partial      ${p(r.word_latency_ms)}   (${r.words} words, ${r.words_only_in_final} held by no ` +
      `partial: timed to the final; ${r.words_unmatched} not timed)`,
    `  onset -> speech.started ${p(r.speech_started_latency_ms)}`,
    `  chunk delay          ${p(r.chunk_delay_ms)}   (limit p99 <= ${REALTIME_CHUNK_DELAY_MS} ms)`,
    `  end drain            p50 ${r.end_drain_ms.p50 ?? '-'} / max ${r.end_drain_ms.max ?? '-'} ms`,
    `  dropped partials     ${r.dropped_partials}    flow pauses ${r.flow_pauses}    failed sessions ${r.sessions_failed}`,
    `  inbound backlog      p99 <= ${r.inbound_backlog_ms_p99_bucket ?? '-'} ms (server histogram bucket)`,
    `  event loop delay     p99 ${r.event_loop_delay_ms.p99 ?? '-'} ms, max ${r.event_loop_delay_ms.max ?? '-'} ms ` +
      `(client p99 ${r.client_event_loop_delay_ms_p99 ?? '-'} ms)`,
    `  client send lag      p99 ${r.client_send_lag_ms.p99 ?? '-'} / max ${r.client_send_lag_ms.max ?? '-'} ms ` +
      `(limit p99 <= ${CLIENT_SEND_LAG_P99_MS} ms: real-time pace)`,
    `  server CPU           ${r.cpu_percent ?? '-'} % (${r.cpu_percent_per_session ?? '-'} % per session)`,
    `  server RSS           ${r.rss_mb_baseline ?? '-'} MB idle, ${r.rss_mb_peak ?? '-'} MB peak, ` +
      `${r.rss_mb_per_session ?? '-'} MB per session ((peak - idle) / sessions)`,
    `  encoder              mean batch ${r.encoder_mean_batch ?? '-'} chunks, busy ${r.encoder_busy_percent ?? '-'} % ` +
      `(run time summed over workers / wall)`,
    `  errors               ${errs}`,
    `  real time            ${r.realtime ? 'YES' : `NO (${r.realtime_failures.join('; ')})`}`,
  ].join('\n'));
}

/**
 * Growth of (peak - idle) RSS per session added between consecutive N of a sweep, MB: the memory a session costs,
 * without the growth the first inferences cause once (which rss_mb_per_session spreads over N).
 */
export function rssPerAddedSession(
  runs: readonly { sessions: number; rss_mb_baseline?: number | null; rss_mb_peak?: number | null }[],
): { from: number; to: number; mb: number }[] {
  const growth = runs
    .filter((r) => r.rss_mb_baseline != null && r.rss_mb_peak != null)
    .map((r) => ({ n: r.sessions, mb: r.rss_mb_peak! - r.rss_mb_baseline! }))
    .sort((a, b) => a.n - b.n);
  const out: { from: number; to: number; mb: number }[] = [];
  for (let i = 1; i < growth.length; i++) {
    const [a, b] = [growth[i - 1]!, growth[i]!];
    if (b.n > a.n) out.push({ from: a.n, to: b.n, mb: round((b.mb - a.mb) / (b.n - a.n), 2)! });
  }
  return out;
}
