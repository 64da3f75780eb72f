/**
 * The partial metrics against what crossed the wire to a slow reader, on a real gateway on loopback over both
 * carriers: `voxgate_partial_latency_seconds` observes exactly one value per partial the client got (none for the
 * partials dropped at the soft limit), `voxgate_partials_dropped_total` counts the dropped ones, and both agree with
 * `session.ended.stats`. The pipeline is scripted, to make partials large enough to fill loopback's socket buffers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerMessage, SessionEndedMessage } from '../../src/protocol/messages.js';
import { resolveGatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { clientSocket, closed, connect } from '../transports/helpers.js';
import { scriptedServices, START_16K, until } from './helpers.js';
import { parsePrometheusText, valueOf } from './prom-text.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

const PARTIAL_CHARS = 8 * 1024;

describe.each(['uws', 'ws'] as const)('partial metrics over %s', (transport) => {
  it('one latency observation per partial sent, none per partial dropped; drops counted', async () => {
    const services = scriptedServices();
    const gw = await startGateway(resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent',
      outboundSoftLimitBytes: 16 * 1024, outboundHardLimitBytes: 64 * 1024 * 1024 }), { services });
    gateways.push(gw);
    const ws = await connect(gw.port, '/v1/stream');
    const received: ServerMessage[] = [];
    ws.on('message', (d: Buffer) => received.push(JSON.parse(d.toString()) as ServerMessage));
    const done = closed(ws);
    ws.send(JSON.stringify(START_16K));
    await until(() => received.length > 0, 2000, 'session.started');
    const pipeline = services.created[0]!;
    const scrape = async () => parsePrometheusText(await gw.metrics.metricsText());
    clientSocket(ws).pause();
    let emitted = 0;
    const emit = (): void => { pipeline.emitPartial(`${'a'.repeat(PARTIAL_CHARS)} ${emitted++}`, ''); };
    for (let i = 0; valueOf(await scrape(), 'voxgate_partials_dropped_total') === 0; i++) {
      expect(i, 'partials never reached the soft limit').toBeLessThan(5000);
      emit();
      await new Promise((r) => setImmediate(r));
    }
    for (let i = 0; i < 20; i++) emit(); // while the buffer stays above the soft limit: dropped
    clientSocket(ws).resume();
    ws.send(JSON.stringify({ type: 'session.end' }));
    await done;
    const ended = received.find((m): m is SessionEndedMessage => m.type === 'session.ended')!;
    const got = received.filter((m) => m.type === 'transcript.partial').length;
    const m = await scrape();
    expect(ended.stats.partials_dropped).toBeGreaterThanOrEqual(20);
    expect({
      observed: valueOf(m, 'voxgate_partial_latency_seconds_count'),
      sent: valueOf(m, 'voxgate_partials_sent_total'),
      dropped: valueOf(m, 'voxgate_partials_dropped_total'),
    }).toEqual({ observed: got, sent: got, dropped: ended.stats.partials_dropped });
    expect(ended.stats.partials_sent).toBe(got);
    expect(got + ended.stats.partials_dropped).toBe(emitted);
  });
});
