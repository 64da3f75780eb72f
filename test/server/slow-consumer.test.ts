/**
 * Slow consumers on both carriers, through the gateway: real transports on loopback, real `ws` clients that stop
 * reading (their socket is paused), a scripted pipeline standing in for the model.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { clientSocket, closed, connect } from '../transports/helpers.js';
import { scriptedServices, startedSession } from './helpers.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

/** The transport's default closing-handshake timeout, which a peer that never reads always runs into. */
const CLOSE_TIMEOUT_MS = 5000;

async function slowReaderSession(transport: 'uws' | 'ws') {
  const services = scriptedServices({ auto: true });
  const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent',
    outboundSoftLimitBytes: 16 * 1024, outboundHardLimitBytes: 64 * 1024 });
  const gw = await startGateway(config, { services });
  gateways.push(gw);
  const { ws } = await startedSession(gw.port, services, 20, connect);
  return { gw, ws, pipeline: services.created[0]! };
}

describe.each(['uws', 'ws'] as const)('slow consumer over %s', (transport) => {
  it('stops the pipeline as soon as the server closes it with 4004, not when the peer\'s close handshake ends',
    async () => {
      const { gw, ws, pipeline } = await slowReaderSession(transport);
      const clientClosed = closed(ws);
      let finalsReceived = 0;
      ws.on('message', (data: Buffer) => {
        if ((JSON.parse(data.toString()) as { type: string }).type === 'transcript.final') finalsReceived++;
      });
      clientSocket(ws).pause();
      // Finals are never dropped: 16 KiB ones fill the kernel's buffers, then the server's, past the hard limit.
      const word = 'a'.repeat(16 * 1024);
      const t0 = Date.now();
      while (!pipeline.disposed && Date.now() - t0 < CLOSE_TIMEOUT_MS + 1000) {
        pipeline.emitFinal('silence', word);
        await new Promise((r) => setImmediate(r));
      }
      // The peer never reads, so the closing handshake only ends at the close timeout; the pipeline must not run on.
      expect(pipeline.disposed, 'the pipeline ran on until the close timeout').toBe(true);
      expect(gw.sessionCount()).toBe(0);
      const metrics = await gw.metrics.metricsText();
      expect(metrics).toContain('voxgate_sessions_total{reason="GW_ERR_SLOW_CONSUMER"} 1');
      expect(metrics).not.toContain('reason="abandoned"');
      // The carrier's own close comes later and is not counted again.
      clientSocket(ws).resume();
      expect((await clientClosed).code).toBe(4004);
      const after = await gw.metrics.metricsText();
      expect(after).toContain('voxgate_errors_total{code="GW_ERR_SLOW_CONSUMER"} 1');
      expect(after).toContain('voxgate_sessions_total{reason="GW_ERR_SLOW_CONSUMER"} 1');
      expect(after).toContain('voxgate_sessions_active 0');
      // The final refused at the hard limit never went out: not counted as sent
      expect(finalsReceived).toBeGreaterThan(0);
      expect(after).toContain(`voxgate_finals_total ${finalsReceived}\n`);
    });
});
