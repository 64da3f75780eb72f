/**
 * A port that cannot be bound must say why on both carriers: uWebSockets.js reports only `false` to its listen
 * callback, and its error read `cannot listen on HOST:PORT` with no reason where ws names EADDRINUSE.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTransport, type TransportServer } from '../../src/transports/index.js';
import { echoHandler, testGate } from './helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((c) => c()));
});

async function occupiedPort(): Promise<number> {
  const holder: Server = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise((resolve) => holder.close(() => resolve())));
  return (holder.address() as { port: number }).port;
}

describe.each(['uws', 'ws'] as const)('listen over %s', (kind) => {
  function server(): TransportServer {
    const s = createTransport(kind, {}, echoHandler(), testGate);
    cleanup.push(() => s.close());
    return s;
  }

  it('names EADDRINUSE when the port is taken', async () => {
    const port = await occupiedPort();
    const err = await server().listen('127.0.0.1', port).then(() => null, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'GW_ERR_BAD_CONFIG' });
    expect((err as Error).message).toContain(`cannot listen on 127.0.0.1:${port}: `);
    expect((err as Error).message).toContain('EADDRINUSE');
  });

  it('names the reason for an address this host does not have', async () => {
    // TEST-NET-1 (RFC 5737): never a local address
    const err = await server().listen('192.0.2.1', 0).then(() => null, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'GW_ERR_BAD_CONFIG' });
    expect((err as Error).message).toContain('EADDRNOTAVAIL');
  });
});
