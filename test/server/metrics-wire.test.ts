/**
 * docs/protocol.md section 10's metric definitions held against what crossed the wire: `voxgate_errors_total` counts
 * `error` messages sent (an error the socket refused, because that very send passed the outbound hard limit, is not
 * one: the close it caused counts as GW_ERR_SLOW_CONSUMER), and `voxgate_inbound_backlog_seconds` is sampled at every
 * binary audio frame, an empty one included (it counts in `stats.frames_received` and resets the idle timer like any
 * other). Real gateway on loopback, real `ws` clients; the speech pipeline is scripted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerMessage, SessionEndedMessage } from '../../src/protocol/messages.js';
import { resolveGatewayConfig, type GatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { clientSocket, closed, connect } from '../transports/helpers.js';
import { inbox, pcm16, scriptedServices, START_16K, until, type ScriptedOptions } from './helpers.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function startedSession(transport: 'uws' | 'ws', options: ScriptedOptions, overrides: Partial<GatewayConfig> = {}) {
  const services = scriptedServices(options);
  const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent', ...overrides });
  const gw = await startGateway(config, { services });
  gateways.push(gw);
  const ws = await connect(gw.port, '/v1/stream');
  const box = inbox(ws);
  ws.send(JSON.stringify(START_16K));
  expect(await box.next()).toMatchObject({ type: 'session.started' });
  return { gw, ws, box, pipeline: services.created[0]! };
}

/** `name{label="value"} N` lines of a scrape as `value N` (or the unlabelled sample's value). */
function samples(text: string, name: string): string[] {
  return [...text.matchAll(new RegExp(`^${name}(?:\\{[a-z]+="([^"]+)"\\})? (\\S+)$`, 'gm'))]
    .map((m) => (m[1] === undefined ? m[2]! : `${m[1]} ${m[2]}`));
}

const SOFT_LIMIT_BYTES = 16 * 1024;
const PARTIAL_CHARS = 8 * 1024;
/** Above what partials can fill (they are sent only at or below the soft limit), so only an error can pass it. */
const HARD_LIMIT_BYTES = SOFT_LIMIT_BYTES + PARTIAL_CHARS + 8 * 1024;

describe.each(['uws', 'ws'] as const)('metrics against the wire over %s', (transport) => {
  it('voxgate_errors_total counts the error messages the client got, not one its socket refused at the hard limit',
    async () => {
      const { gw, ws, pipeline } = await startedSession(transport, {},
        { outboundSoftLimitBytes: SOFT_LIMIT_BYTES, outboundHardLimitBytes: HARD_LIMIT_BYTES });
      const received: ServerMessage[] = [];
      ws.on('message', (data: Buffer) => received.push(JSON.parse(data.toString()) as ServerMessage));
      const clientClosed = closed(ws);
      clientSocket(ws).pause();
      // Partials fill the kernel's buffers, then the server's up to the soft limit, where they start being dropped.
      const dropped = async (): Promise<number> => Number(samples(await gw.metrics.metricsText(),
        'voxgate_partials_dropped_total')[0]);
      for (let i = 0; (await dropped()) === 0; i++) {
        expect(i, 'partials never reached the soft limit').toBeLessThan(5000);
        pipeline.emitPartial(`${'a'.repeat(PARTIAL_CHARS)} ${i}`, '');
        await new Promise((r) => setImmediate(r));
      }
      // Each frame now gets an error (GW_ERR_BAD_JSON, then GW_ERR_RATE_LIMITED), on top of partials that keep the
      // buffer at the soft limit whatever the kernel still takes, until an error passes the hard limit.
      for (let i = 0; gw.sessionCount() > 0; i++) {
        expect(i, 'the errors never passed the hard limit').toBeLessThan(500);
        pipeline.emitPartial(`${'b'.repeat(PARTIAL_CHARS)} ${i}`, '');
        ws.send('not json');
        await new Promise((r) => setTimeout(r, 1));
      }
      clientSocket(ws).resume();
      expect((await clientClosed).code).toBe(4004);
      const sent = received.filter((m) => m.type === 'error').length;
      expect(sent).toBeGreaterThan(0);
      const text = await gw.metrics.metricsText();
      const counted = samples(text, 'voxgate_errors_total');
      expect(counted).toContain('GW_ERR_SLOW_CONSUMER 1');
      const errorsCounted = counted.filter((s) => !s.startsWith('GW_ERR_SLOW_CONSUMER '))
        .reduce((sum, s) => sum + Number(s.split(' ')[1]), 0);
      expect(errorsCounted).toBe(sent);
      expect(samples(text, 'voxgate_sessions_total')).toEqual(['GW_ERR_SLOW_CONSUMER 1']);
    });

  it('voxgate_inbound_backlog_seconds is sampled at every binary audio frame, empty ones included', async () => {
    const { gw, ws, box } = await startedSession(transport, { auto: true });
    for (const frame of [pcm16(40), new Uint8Array(0), pcm16(40), new Uint8Array(0), pcm16(40)]) ws.send(frame);
    ws.send(JSON.stringify({ type: 'session.end' }));
    let ended: ServerMessage;
    do ended = await box.next(); while (ended.type !== 'session.ended');
    expect((ended as SessionEndedMessage).stats.frames_received).toBe(5);
    await until(() => gw.sessionCount() === 0, 2000, 'session closed');
    expect(samples(await gw.metrics.metricsText(), 'voxgate_inbound_backlog_seconds_count')).toEqual(['5']);
  });
});
