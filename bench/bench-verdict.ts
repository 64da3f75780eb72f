/** Whether one load run was real time, and the largest real-time N of a sweep (bench.ts). Pure, tested. */

/** A session's chunk processing delay (latency_ms of its partials and finals), p99 pooled over sessions, limit, ms. */
export const REALTIME_CHUNK_DELAY_MS = 200;
/**
 * Limit on the p99 of the client's send lag (a frame sent minus when it was due), ms. Beyond about one 50 ms frame
 * of jitter the benchmark client itself (on the same cores as the gateway) did not offer real-time load, so the run
 * cannot show that the gateway keeps up with it.
 */
export const CLIENT_SEND_LAG_P99_MS = 50;

export interface RunCounts {
  chunkDelays: number;
  chunkDelayP99Ms: number;
  flowPauses: number;
  droppedPartials: number;
  failedSessions: number;
  clientSendLagP99Ms: number;
}

/** Why the run was not real time; empty when it was. */
export function realtimeFailures(c: RunCounts): string[] {
  const out: string[] = [];
  if (c.chunkDelays === 0) out.push('no partial or final');
  else if (!(c.chunkDelayP99Ms <= REALTIME_CHUNK_DELAY_MS)) {
    out.push(`chunk delay p99 ${c.chunkDelayP99Ms} > ${REALTIME_CHUNK_DELAY_MS} ms`);
  }
  if (c.flowPauses > 0) out.push(`${c.flowPauses} flow pauses`);
  if (c.droppedPartials > 0) out.push(`${c.droppedPartials} dropped partials`);
  if (c.failedSessions > 0) out.push(`${c.failedSessions} failed sessions`);
  // NaN (no frame sent) is caught above: no session streamed, so no chunk delay either
  if (c.clientSendLagP99Ms > CLIENT_SEND_LAG_P99_MS) {
    out.push(`client fell behind real-time pace: send lag p99 ${Math.round(c.clientSendLagP99Ms)} > ` +
      `${CLIENT_SEND_LAG_P99_MS} ms`);
  }
  return out;
}

export interface RunOutcome {
  sessions: number;
  /** False also for a run that did not complete. */
  realtime: boolean;
}

/**
 * Largest N of the sweep that was real time with every smaller N tried real time too (capacity does not grow with
 * load, so a pass above a miss is the machine's noise, not headroom). `passedAboveFailure`: those passes, to report.
 */
export function realtimeCapacity(runs: readonly RunOutcome[]): { max: number; passedAboveFailure: number[] } {
  const sorted = [...runs].sort((a, b) => a.sessions - b.sessions);
  const firstMiss = sorted.findIndex((r) => !r.realtime);
  const ok = firstMiss < 0 ? sorted : sorted.slice(0, firstMiss);
  const missN = firstMiss < 0 ? Infinity : sorted[firstMiss]!.sessions;
  return {
    max: ok.length === 0 ? 0 : ok[ok.length - 1]!.sessions,
    passedAboveFailure: sorted.filter((r) => r.realtime && r.sessions > missN).map((r) => r.sessions),
  };
}
