/**
 * The bounded wait of a session's end (src/server/session.ts `finish`): a pipeline whose `end()` never settles (an
 * encoder that stopped answering; no real model can be made to hang, so the pipeline is scripted) must still end the
 * session, with GW_ERR_INFERENCE, `session.ended` and close 1011, once the wait's deadline passes. Real gateway on
 * loopback and a real `ws` client; only the clock of the deadline is faked (no test waits that long).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveGatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { pipelineEndTimeoutMs } from '../../src/server/session-finish.js';
import { closed, connect } from '../transports/helpers.js';
import { scriptedServices, startedSession } from './helpers.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

describe.each(['uws', 'ws'] as const)('a session whose pipeline never ends, over %s', (transport) => {
  it('session.end: GW_ERR_INFERENCE, session.ended and close 1011 at the deadline, not before', async () => {
    const services = scriptedServices({ auto: true, endHangs: true });
    const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent' });
    const gw = await startGateway(config, { services });
    gateways.push(gw);
    const { ws, box } = await startedSession(gw.port, services, 100, connect);
    const done = closed(ws);
    while ((await box.next()).type !== 'transcript.partial'); // the audio is decoded: no scripted timer is pending
    const deadlineMs = pipelineEndTimeoutMs(config);
    expect(deadlineMs).toBe(50_000); // 30 s + the 20 s of audio a session may hold undecoded by default
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    ws.send(JSON.stringify({ type: 'session.end' }));
    ws.send(JSON.stringify({ type: 'ping', id: 'after-end' }));
    while ((await box.next()).type !== 'pong'); // so session.end, sent before the ping, has been handled
    const pipeline = services.created[0]!;
    expect(pipeline.endReason).toBe('session_end');
    await vi.advanceTimersByTimeAsync(deadlineMs - 1);
    expect(pipeline.disposed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(pipeline.disposed).toBe(true);
    vi.useRealTimers();
    const error = await box.next();
    expect(error).toMatchObject({ type: 'error', code: 'GW_ERR_INFERENCE', fatal: true });
    expect((error as { message: string }).message).toContain(`${deadlineMs} ms`);
    expect(await box.next()).toMatchObject({ type: 'session.ended', reason: 'error', error_code: 'GW_ERR_INFERENCE' });
    expect((await done).code).toBe(1011);
    expect(await gw.metrics.metricsText()).toContain('voxgate_sessions_total{reason="GW_ERR_INFERENCE"} 1');
  });
});
