/**
 * `onClose`'s origin (transport.ts, CloseOrigin) on both carriers: real servers on loopback, real `ws` clients. A
 * peer's close frame is `'peer'` whatever its code, even the codes the carriers use themselves (4004, 1009, 1007,
 * 1002, 1008); what the carrier enforces (frame over its ceiling or over maxPayloadBytes, bad UTF-8, broken framing,
 * slow consumer, keepalive) is `'carrier'`; `Connection.close()` and `TransportServer.close()` are `'server'`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CLOSE_CODES } from '../../src/protocol/errors.js';
import {
  createTransport, type TransportKind, type TransportOptions, type TransportServer,
} from '../../src/transports/index.js';
import { closed, connect, echoHandler, testGate, until } from './helpers.js';

const MiB = 1024 * 1024;

const servers: TransportServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(kind: TransportKind, options: Partial<TransportOptions> = {}) {
  const handler = echoHandler();
  const server = createTransport(kind, { closeTimeoutMs: 500, ...options }, handler, testGate);
  servers.push(server);
  const port = await server.listen('127.0.0.1', 0);
  return { server, handler, port };
}

/** One connection on a fresh server; resolves with what `onClose` reported after `act`. */
async function closeReport(kind: TransportKind, act: (client: WebSocket) => void,
  options: Partial<TransportOptions> = {}) {
  const { handler, port } = await start(kind, options);
  const client = await connect(port);
  client.on('error', () => undefined);
  await until(() => handler.events.opened.length === 1);
  const clientClosed = closed(client);
  act(client);
  await until(() => handler.events.closes.length === 1, 3000);
  const { code, reason, origin } = handler.events.closes[0]!;
  const seen = await clientClosed;
  return { code, reason, origin, clientCode: seen.code };
}

/** Writes raw bytes on the client's socket, bypassing its WebSocket framing. */
function writeRaw(ws: WebSocket, bytes: Uint8Array): void {
  (ws as unknown as { _socket: { write(b: Uint8Array): void } })._socket.write(bytes);
}

describe.each(['uws', 'ws'] as const)('close origin over %s', (kind) => {
  it.each([4004, 1009, 1007, 1002, 1008, 1001, 1000])('a peer close frame with %i is the peer\'s, with its code',
    async (code) => {
      const r = await closeReport(kind, (c) => c.close(code, 'client says'));
      expect(r).toEqual({ code, reason: 'client says', origin: 'peer', clientCode: code });
    });

  it('a peer close frame without a code (1005) and a lost connection (1006) are the peer\'s', async () => {
    expect(await closeReport(kind, (c) => c.close())).toMatchObject({ code: 1005, origin: 'peer' });
    expect(await closeReport(kind, (c) => c.terminate())).toMatchObject({ code: 1006, origin: 'peer' });
  });

  it('Connection.close() is the server\'s', async () => {
    const r = await closeReport(kind, (c) => c.send('close:4004:server says'));
    expect(r).toEqual({ code: 4004, reason: 'server says', origin: 'server', clientCode: 4004 });
  });

  it('a frame over the carrier\'s ceiling is the carrier\'s, as 1009 on both', async () => {
    const r = await closeReport(kind, (c) => c.send(new Uint8Array(2 * MiB + 1)));
    expect(r).toMatchObject({ code: CLOSE_CODES.MESSAGE_TOO_BIG, origin: 'carrier' });
    // ws sends its 1009, uWS drops the TCP connection
    expect(r.clientCode).toBe(kind === 'ws' ? 1009 : 1006);
  });

  it('a frame over maxPayloadBytes that the handler does not close for is the carrier\'s 1009', async () => {
    // the echo handler has no onFrameTooLarge: the transport answers and closes itself
    const r = await closeReport(kind, (c) => c.send(new Uint8Array(MiB + 1)));
    expect(r).toEqual({ code: 1009, reason: 'frame too large', origin: 'carrier', clientCode: 1009 });
  });

  it('a text frame that is not UTF-8 is the carrier\'s 1007 on both', async () => {
    const r = await closeReport(kind, (c) => c.send(Buffer.from([0x7b, 0xff, 0x7d]), { binary: false }));
    expect(r).toMatchObject({ code: 1007, origin: 'carrier' });
  });

  it('a reserved opcode: ws enforces it (1002); uWS drops the connection as silently as a lost one', async () => {
    const r = await closeReport(kind, (c) => writeRaw(c, Buffer.from([0x83, 0x80, 0, 0, 0, 0])));
    // uWebSockets.js v20.30 reports its protocol-error drops as 1006 with no message (transport.ts module doc)
    expect(r).toMatchObject(kind === 'ws' ? { code: 1002, origin: 'carrier' } : { code: 1006, origin: 'peer' });
  });

  it('TransportServer.close() is the server\'s 1001', async () => {
    const { server, handler, port } = await start(kind);
    const client = await connect(port);
    await until(() => handler.events.opened.length === 1);
    await server.close();
    expect(handler.events.closes).toEqual([expect.objectContaining({ code: 1001, origin: 'server' })]);
    client.terminate();
  });
});

describe('close origin of the keepalive', () => {
  it('a peer that answers no ping is dropped by the carrier (1006) on both', async () => {
    // idleTimeoutS 8 is the least allowed: both carriers wait 8 to 12 s, so they run side by side
    const reports = await Promise.all((['uws', 'ws'] as const).map(async (kind) => {
      const { handler, port } = await start(kind, { idleTimeoutS: 8 });
      const client = new WebSocket(`ws://127.0.0.1:${port}/v1/stream?api_key=good`, { autoPong: false });
      client.on('error', () => undefined);
      await until(() => handler.events.opened.length === 1);
      await until(() => handler.events.closes.length === 1, 20_000);
      client.terminate();
      const { code, origin } = handler.events.closes[0]!;
      return { kind, code, origin };
    }));
    expect(reports).toEqual([{ kind: 'uws', code: 1006, origin: 'carrier' },
      { kind: 'ws', code: 1006, origin: 'carrier' }]);
  }, 30_000);
});
