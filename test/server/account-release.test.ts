/**
 * A per-key session slot (account-sessions.ts) is given back on every way a session can end, on both real carriers:
 * a fatal error of the session (start timeout), one the transport enforces (a frame over the limit, a slow consumer),
 * the client leaving, and the drain. Each case runs under `max_sessions=1`, so a slot that leaked would refuse the
 * next upgrade with 429; the per-account gauge must be empty afterwards. The speech pipeline is scripted.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { resolveGatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { clientSocket, closed, connect } from '../transports/helpers.js';
import { scriptedServices, startedSession, until } from './helpers.js';

const KEY = 'acme-key-1';
const AUTH = { authorization: `Bearer ${KEY}` };

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function start(transport: 'uws' | 'ws') {
  const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-release-'));
  writeFileSync(path.join(dir, 'keys.txt'), `${KEY} name=acme max_sessions=1\n`);
  const services = scriptedServices({ auto: true });
  const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent',
    apiKeysFile: path.join(dir, 'keys.txt'), startTimeoutMs: 150, outboundSoftLimitBytes: 16 * 1024,
    outboundHardLimitBytes: 64 * 1024 });
  const gw = await startGateway(config, { services });
  gateways.push(gw);
  return { gw, services };
}

/** Waits for every session to close, then checks that the account holds no slot: the gauge is empty. */
async function released(gw: Gateway, what: string): Promise<void> {
  await until(() => gw.sessionCount() === 0, 3000, `${what}: session closed`);
  expect(await gw.metrics.metricsText(), what).not.toContain('voxgate_account_sessions{');
}

describe.each(['uws', 'ws'] as const)('account slots over %s', (transport) => {
  it('are given back after a start timeout, an oversized frame, a client that leaves, a slow consumer', async () => {
    const { gw, services } = await start(transport);
    const open = (): Promise<WebSocket> => connect(gw.port, '/v1/stream', AUTH);

    const idle = await open();
    expect((await closed(idle)).code).toBe(4006); // GW_ERR_START_TIMEOUT
    await released(gw, 'start timeout');

    const big = await open();
    const bigClosed = closed(big);
    big.send(new Uint8Array(1024 * 1024 + 1));
    expect((await bigClosed).code).toBe(1009);
    await released(gw, 'frame too large');

    const leaver = await open();
    await until(() => gw.sessionCount() === 1, 2000, 'leaver open');
    leaver.terminate();
    await released(gw, 'client left');

    const { ws } = await startedSession(gw.port, services, 20, (port, p) => connect(port, p, AUTH));
    clientSocket(ws).pause();
    const pipeline = services.created[0]!;
    for (let i = 0; i < 1024 && !pipeline.disposed; i++) {
      pipeline.emitFinal('silence', 'a'.repeat(64 * 1024));
      await new Promise((r) => setImmediate(r));
    }
    ws.terminate();
    await released(gw, 'slow consumer');
    expect(await gw.metrics.metricsText()).toContain('voxgate_sessions_total{reason="GW_ERR_SLOW_CONSUMER"} 1');

    const last = await open();
    const lastClosed = closed(last);
    await until(() => gw.sessionCount() === 1, 2000, 'last open');
    await gw.drain();
    expect((await lastClosed).code).toBe(1001);
    expect(await gw.metrics.metricsText()).not.toContain('voxgate_account_sessions{');
    expect(await gw.metrics.metricsText()).not.toContain('voxgate_upgrades_rejected_total{code="GW_ERR_KEY_SESSION_LIMIT"}');
  });
});
