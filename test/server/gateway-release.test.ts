/**
 * Processes that start many gateways (tests, embedders) must get everything back on close. prom-client's
 * collectDefaultMetrics starts a GC PerformanceObserver and an event-loop-delay histogram per call and has no way to
 * stop them; called once per gateway, every closed gateway's registry (and all its metrics) stayed reachable from the
 * observer forever, and its GC histogram kept counting. uWebSockets.js keeps every callback handed to an App for the
 * life of the process, so a closed uWS server must not be reachable from them; and a gateway that could not listen
 * was never closed (ws's keepalive timer and uWS's callbacks held it).
 */
import { createServer } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../../src/server/config.js';
import { startGateway } from '../../src/server/gateway.js';
import { createMetrics } from '../../src/server/metrics.js';
import { scriptedServices } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Collects garbage until `done()` (finalisation callbacks run on a later task), at most 20 rounds. */
async function collectGarbageUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 20 && !done(); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('closing gateways', () => {
  it.each(['uws', 'ws'] as const)('releases every registry and handle of 50 gateways over %s', async (transport) => {
    const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent' });
    // not WeakRefs: Node keeps the last WeakRef's target alive past the job that made it
    let released = 0;
    const registries = new FinalizationRegistry<0>(() => released++);
    // in a function of its own, so that no frame of this test still holds the last gateway
    const startAndClose = async (): Promise<void> => {
      const gw = await startGateway(config, { services: scriptedServices() });
      registries.register(gw.metrics.registry, 0);
      await gw.close();
    };
    await startAndClose(); // what a process opens once (stdout for the logger, the process-wide default metrics)
    const handlesBefore = process.getActiveResourcesInfo().length;
    for (let i = 0; i < 50; i++) await startAndClose();
    await collectGarbageUntil(() => released === 51);
    expect(released).toBe(51);
    expect(process.getActiveResourcesInfo().length).toBeLessThanOrEqual(handlesBefore);
  });

  it.each(['uws', 'ws'] as const)('releases 20 gateways over %s that could not listen', async (transport) => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    let released = 0;
    const configs = new FinalizationRegistry<0>(() => released++);
    const failToStart = async (): Promise<void> => {
      const config = resolveGatewayConfig({ host: '127.0.0.1', port, transport, logLevel: 'silent' });
      configs.register(config, 0);
      // not expect().rejects: with it every config stayed reachable until the test ended
      const err = await startGateway(config, { services: scriptedServices() }).then(() => null, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'GW_ERR_BAD_CONFIG' });
    };
    try {
      for (let i = 0; i < 20; i++) await failToStart();
    } finally {
      holder.close();
    }
    await collectGarbageUntil(() => released === 20);
    expect(released).toBe(20);
  });

  it('a stopped gateway\'s default process metrics still scrape, and are the process\'s', async () => {
    const m = createMetrics();
    m.stop();
    const text = await m.metricsText();
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_gc_duration_seconds');
    expect(text).toContain('voxgate_sessions_active');
  });
});
