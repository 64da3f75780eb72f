/** LatencyMonitor: p90 of the transcript latencies sent in the last 5 s; old samples leave the window. */
import { describe, expect, it } from 'vitest';
import { LATENCY_WINDOW_MS, LatencyMonitor } from '../../src/server/latency-monitor.js';

describe('LatencyMonitor', () => {
  it('p90 over the window; 0 when nothing was sent in it', () => {
    const m = new LatencyMonitor();
    expect(m.p90(0)).toBe(0);
    for (let k = 1; k <= 100; k++) m.record(k, 1000); // 1 .. 100 ms
    expect(m.p90(1000)).toBe(90);
    m.record(5000, 3000); // one slow transcript does not make an overload
    expect(m.p90(3000)).toBe(91);
    expect(m.p90(1000 + LATENCY_WINDOW_MS)).toBe(91); // still inside
    expect(m.p90(1001 + LATENCY_WINDOW_MS)).toBe(5000); // only the slow one is left
    expect(m.p90(3001 + LATENCY_WINDOW_MS)).toBe(0); // the load went: admit again without waiting for transcripts
  });

  it('nearest rank: of ten samples the ninth, never the largest', () => {
    const m = new LatencyMonitor();
    for (let k = 1; k <= 10; k++) m.record(k * 100, 0);
    expect(m.p90(0)).toBe(900);
  });

  it('keeps a bounded number of samples, newest first', () => {
    const m = new LatencyMonitor();
    for (let k = 0; k < 10_000; k++) m.record(k < 9_500 ? 1 : 1000, 0);
    // the newest 4,096 kept (3,596 of 1 ms, 500 of 1000 ms): p90 1000; all 10,000 would give 1
    expect(m.p90(0)).toBe(1000);
  });
});
