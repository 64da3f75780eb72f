import { describe, expect, it } from 'vitest';
import { percentile, percentiles } from '../../bench/bench-stats.js';

describe('percentile (nearest rank)', () => {
  it('returns a sample, never an interpolation between two', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([10, 20], 95)).toBe(20);
    expect(percentile([4, 1, 3, 2], 25)).toBe(1); // unsorted input
  });

  it('p99 of fewer than 100 samples is their maximum (report the count beside it)', () => {
    expect(percentile(Array.from({ length: 10 }, (_, i) => i), 99)).toBe(9);
    expect(percentile(Array.from({ length: 200 }, (_, i) => i + 1), 99)).toBe(198);
  });

  it('ranks exactly at p95 / p99 (no floating-point step to the next sample)', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentiles(v)).toEqual({ p50: 50, p95: 95, p99: 99 });
  });

  it('is NaN for no samples (printed as -, null in JSON)', () => {
    expect(percentile([], 99)).toBeNaN();
  });
});
