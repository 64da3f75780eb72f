/**
 * LatencyMonitor: the gateway's recent transcript latency (every partial's and final's `latency_ms`, all sessions),
 * which load shedding acts on: while its 90th percentile over the last {@link LATENCY_WINDOW_MS} passes
 * `--overload-latency-ms`, new sessions are refused (503) and /readyz says "overloaded".
 *
 * Why this signal: the gateway is over capacity exactly when transcripts fall behind the audio, and `latency_ms` is
 * that delay as clients see it. The encoder pool's own queue cannot show it (each session has at most one chunk
 * there; the backlog builds in the sessions' queues), and a session's unprocessed audio is large for a fast file
 * upload on an idle server too. A window, not a running average: when the load goes, old samples leave and the
 * gateway admits again even if no transcript is sent. Clock: the sessions' performance.now() milliseconds.
 */

/** How far back the percentile looks, ms. */
export const LATENCY_WINDOW_MS = 5000;

/** Most samples kept (the oldest are dropped first): bounds memory and the percentile's cost under heavy load. */
const MAX_SAMPLES = 4096;

export class LatencyMonitor {
  readonly #atMs: Float64Array = new Float64Array(MAX_SAMPLES);
  readonly #latencyMs: Float64Array = new Float64Array(MAX_SAMPLES);
  #next = 0;
  #count = 0;

  /** One transcript message's `latency_ms`, sent at `nowMs`. */
  record(latencyMs: number, nowMs: number): void {
    this.#atMs[this.#next] = nowMs;
    this.#latencyMs[this.#next] = latencyMs;
    this.#next = (this.#next + 1) % MAX_SAMPLES;
    this.#count = Math.min(this.#count + 1, MAX_SAMPLES);
  }

  /** 90th percentile of the latencies sent within the window before `nowMs`; 0 when none was. */
  p90(nowMs: number): number {
    const recent: number[] = [];
    for (let k = 0; k < this.#count; k++) {
      if (nowMs - this.#atMs[k]! <= LATENCY_WINDOW_MS) recent.push(this.#latencyMs[k]!);
    }
    if (recent.length === 0) return 0;
    recent.sort((a, b) => a - b);
    return recent[Math.ceil(0.9 * recent.length) - 1]!; // nearest rank: of 10 samples the 9th, not the largest
  }
}
