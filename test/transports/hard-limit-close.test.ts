/**
 * The slow-consumer close (4004) reaches a client that stops reading and then reads again, on both carriers, however
 * close to the outbound hard limit the last accepted frame left the buffer. Real servers on loopback, real `ws`
 * clients whose socket is paused (nothing read) until the server has closed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../src/protocol/errors.js';
import {
  createTransport, type Connection, type TransportKind, type TransportServer,
} from '../../src/transports/index.js';
import { clientSocket, closed, connect, echoHandler, testGate, until } from './helpers.js';

const HARD_LIMIT_BYTES = 256 * 1024;

const servers: TransportServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function pausedClient(kind: TransportKind) {
  const handler = echoHandler();
  handler.echo = false;
  const server = createTransport(kind,
    { closeTimeoutMs: 500, highWaterMarkBytes: 64 * 1024, maxBackpressureBytes: HARD_LIMIT_BYTES }, handler, testGate);
  servers.push(server);
  const client = await connect(await server.listen('127.0.0.1', 0));
  await until(() => handler.events.opened.length === 1);
  clientSocket(client).pause();
  return { client, conn: handler.events.opened[0]!.conn };
}

/** Sends until the kernel's buffers are full and the carrier queues in user space. */
async function fillKernelBuffers(conn: Connection): Promise<void> {
  for (let i = 0; conn.bufferedAmount() === 0; i++) {
    expect(i, 'the carrier never queued').toBeLessThan(4096);
    conn.send(new Uint8Array(16 * 1024));
    await new Promise((r) => setImmediate(r));
  }
}

describe.each(['uws', 'ws'] as const)('hard-limit close over %s', (kind) => {
  it('a client that reads again gets 4004 even after a frame filled the buffer to the exact limit', async () => {
    const { client, conn } = await pausedClient(kind);
    const clientClosed = closed(client);
    await fillKernelBuffers(conn);
    // A payload of exactly the room left is within the limit: the buffer then holds the limit plus the frame's header.
    // Loopback's kernel buffers can still grow and take part of that payload (uWebSockets.js flushes what it holds on
    // each send), so top up with the room left each time until the carrier itself holds the limit.
    for (let i = 0; conn.bufferedAmount() < HARD_LIMIT_BYTES; i++) {
      expect(i, 'the kernel kept taking the frames').toBeLessThan(64);
      expect(conn.send(new Uint8Array(HARD_LIMIT_BYTES - conn.bufferedAmount()))).not.toBe('dropped');
    }
    expect(conn.send('one byte too many')).toBe('dropped');
    expect(conn.closed).toBe(true);
    clientSocket(client).resume();
    expect((await clientClosed).code).toBe(CLOSE_CODES.SLOW_CONSUMER);
  });
});
