/**
 * `session.ended.stats` (docs/protocol.md section 5) held against what crossed the wire, and against the /metrics
 * deltas of the same session, on a real gateway on loopback (the ws carrier) with the real model and real speech:
 * telephony mu-law and 44.1 kHz stereo float in odd frame sizes with an empty frame, sent as fast as the socket takes
 * them, then `session.end` and audio after it (discarded).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AudioEncoding, ServerMessage, SessionEndedMessage } from '../../src/protocol/messages.js';
import { bytesPerSampleFrame } from '../../src/protocol/validate.js';
import type { Gateway } from '../../src/server/gateway.js';
import { longestFixture, startRealGateway, toWire } from '../integration/helpers.js';
import { closed, connect } from '../transports/helpers.js';
import { until } from './helpers.js';
import { parsePrometheusText, sumOf, valueOf, type Family } from './prom-text.js';

const round1 = (v: number): number => Math.round(v * 10) / 10;

// One carrier for suite time (ws; session-endings-observability runs uws): the stats are the session's.
describe.each(['ws'] as const)('session.ended stats over %s (real model)', (transport) => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startRealGateway(transport);
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
  });

  it.each([
    ['mulaw', 8000, 1, [161, 7, 333, 0, 8001]],
    ['pcm_f32le', 44100, 2, [441, 13, 0, 4409, 7]],
    ['pcm_s16le', 22050, 1, [111, 2205, 3, 0, 997]],
  ] as const)('%s %i Hz x%i: every field agrees with the wire and with /metrics', async (encoding, rate, channels,
    sizes) => {
    const scrape = async (): Promise<Map<string, Family>> => parsePrometheusText(await gw.metrics.metricsText());
    const before = await scrape();
    const wire = toWire(longestFixture().wav, { encoding: encoding as AudioEncoding, sampleRateHz: rate, channels });
    const frameBytes = bytesPerSampleFrame(encoding as AudioEncoding, channels);
    const ws = await connect(gw.port, '/v1/stream');
    const msgs: ServerMessage[] = [];
    ws.on('message', (d: Buffer) => msgs.push(JSON.parse(d.toString()) as ServerMessage));
    const done = closed(ws);
    ws.send(JSON.stringify({ type: 'session.start', audio: { encoding, sample_rate_hz: rate, channels } }));
    await until(() => msgs.length > 0, 5000, 'session.started');
    let bytes = 0;
    let frames = 0;
    for (let off = 0, k = 0; off < wire.byteLength; k++) {
      const n = Math.min(sizes[k % sizes.length]! * frameBytes, wire.byteLength - off);
      ws.send(wire.subarray(off, off + n));
      off += n;
      bytes += n;
      frames++;
    }
    ws.send(JSON.stringify({ type: 'session.end' }));
    ws.send(wire.subarray(0, 5 * frameBytes)); // after session.end: discarded
    ws.send(new Uint8Array(0)); // empty: neither received nor discarded
    await done;
    await until(() => gw.sessionCount() === 0, 5000, 'session closed');
    const after = await scrape();
    const delta = (name: string): number => sumOf(after, name) - sumOf(before, name);

    const ended = msgs.find((m): m is SessionEndedMessage => m.type === 'session.ended')!;
    const partials = msgs.filter((m) => m.type === 'transcript.partial');
    const finals = msgs.filter((m) => m.type === 'transcript.final');
    const latencies = partials.map((p) => p.latency_ms);
    const audioMs = Math.round((bytes / frameBytes / rate) * 1000);
    expect(ended).toMatchObject({ reason: 'client_end', audio_ms: audioMs });
    expect(ended.stats).toMatchObject({
      audio_ms: audioMs,
      processed_audio_ms: audioMs,
      bytes_received: bytes,
      frames_received: frames,
      bytes_discarded: 5 * frameBytes,
      utterances: finals.length,
      finals_sent: finals.length,
      finals_rejected: finals.filter((f) => f.rejected !== undefined).length,
      partials_sent: partials.length,
      partials_dropped: 0,
      flow_pauses: msgs.filter((m) => m.type === 'flow.pause').length,
      partial_latency_mean_ms: partials.length === 0 ? null : round1(latencies.reduce((a, b) => a + b, 0) / partials.length),
      partial_latency_max_ms: partials.length === 0 ? null : Math.max(...latencies),
    });
    expect(partials.length).toBeGreaterThan(0);
    expect(msgs.filter((m) => m.type === 'error').map((m) => m.code)).toEqual(['GW_ERR_SESSION_ENDED']);

    expect(Math.abs(delta('voxgate_audio_seconds_total') - bytes / frameBytes / rate)).toBeLessThan(1e-9);
    expect({
      partials: delta('voxgate_partials_sent_total'),
      observed: delta('voxgate_partial_latency_seconds_count'),
      finals: delta('voxgate_finals_total'),
      finalLatencies: delta('voxgate_final_latency_seconds_count'),
      rejected: delta('voxgate_finals_rejected_total'),
      pauses: delta('voxgate_flow_pauses_total'),
      backlogSamples: delta('voxgate_inbound_backlog_seconds_count'),
      errors: delta('voxgate_errors_total'),
      clientEnd: valueOf(after, 'voxgate_sessions_total', { reason: 'client_end' })
        - valueOf(before, 'voxgate_sessions_total', { reason: 'client_end' }),
    }).toEqual({
      partials: partials.length, observed: partials.length, finals: finals.length, finalLatencies: finals.length,
      rejected: ended.stats.finals_rejected, pauses: ended.stats.flow_pauses, backlogSamples: frames, errors: 1,
      clientEnd: 1,
    });
    expect(delta('voxgate_partial_latency_seconds_sum') * 1000).toBeCloseTo(latencies.reduce((a, b) => a + b, 0), 6);
  }, 60_000);
});
