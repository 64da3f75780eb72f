import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/server/metrics.js';

describe('metrics', () => {
  it('exposes every voxgate metric plus default process metrics on a private registry', async () => {
    const m = createMetrics();
    const other = createMetrics({ defaultMetrics: false }); // no name clash: registries are private
    m.sessionsActive.inc();
    m.sessionsTotal.inc();
    m.audioSecondsTotal.inc(1.5);
    m.partialLatencySeconds.observe(0.012);
    m.finalLatencySeconds.observe(0.3);
    m.partialsDroppedTotal.inc();
    m.countError('GW_ERR_BAD_JSON');
    m.inferenceBatchSize.observe(3);
    const text = await m.metricsText();
    for (const name of [
      'voxgate_sessions_active 1',
      'voxgate_sessions_total 1',
      'voxgate_audio_seconds_total 1.5',
      'voxgate_partial_latency_seconds_bucket{le="0.005"} 0',
      'voxgate_partial_latency_seconds_bucket{le="0.02"} 1',
      'voxgate_partial_latency_seconds_bucket{le="1"} 1',
      'voxgate_final_latency_seconds_count 1',
      'voxgate_partials_dropped_total 1',
      'voxgate_errors_total{code="GW_ERR_BAD_JSON"} 1',
      'voxgate_encoder_batch_size_bucket{le="4"} 1',
      'voxgate_event_loop_delay_seconds{stat="p99"}',
      'process_cpu_user_seconds_total',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(text).toContain(name);
    }
    expect(await other.metricsText()).not.toContain('process_cpu_user_seconds_total');
    expect(m.registry.contentType).toContain('text/plain');
    m.stop();
    other.stop();
  });

  it('reports the event loop\'s delay beyond the sampling interval, not the interval itself', async () => {
    const m = createMetrics({ defaultMetrics: false });
    await m.metricsText(); // resets the histogram
    await new Promise((r) => setTimeout(r, 400)); // an idle loop: ~40 ticks of the 10 ms timer, each ~10.1 ms apart
    const p50 = /voxgate_event_loop_delay_seconds\{stat="p50"\} (\S+)/.exec(await m.metricsText())?.[1];
    expect(Number(p50)).toBeLessThan(0.008); // the interval itself read 0.0101
    m.stop();
  });
});
