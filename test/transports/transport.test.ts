import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../src/protocol/errors.js';
import {
  createTransport,
  isNativeUws,
  resolveTransportOptions,
  type HttpRoutes,
  type TransportKind,
  type TransportOptions,
  type TransportServer,
} from '../../src/transports/index.js';
import {
  clientSocket, closed, connect, echoHandler, nextMessage, rawExchange, refusedUpgrade, testGate, until,
} from './helpers.js';

const routes: HttpRoutes = {
  '/healthz': () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' }),
  '/metrics': async () => ({ status: 200, headers: { 'content-type': 'text/plain; version=0.0.4' }, body: 'voxgate_up 1\n' }),
  '/boom': () => {
    throw new Error('route bug');
  },
};

const servers: TransportServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(kind: TransportKind, options: Partial<TransportOptions> = {}) {
  const handler = echoHandler();
  const server = createTransport(kind, { closeTimeoutMs: 500, ...options }, handler, testGate, routes);
  servers.push(server);
  const port = await server.listen('127.0.0.1', 0);
  return { server, handler, port };
}

/** A server that does not echo, with one client connected and open on it: what the backpressure tests start from. */
async function openedQuiet(kind: TransportKind, options: Partial<TransportOptions>) {
  const { handler, port } = await start(kind, options);
  handler.echo = false;
  const client = await connect(port);
  await until(() => handler.events.opened.length === 1);
  return { handler, client, conn: handler.events.opened[0]!.conn };
}

describe.each(['uws', 'ws'] as const)('%s transport', (kind) => {
  it('reports its kind and whether the native uWS binary runs', async () => {
    const { server, port } = await start(kind);
    expect(port).toBeGreaterThan(0);
    expect(server.kind).toBe(kind);
    expect(server.nativeBinary).toBe(kind === 'uws');
  });

  it('opens with the gate context, echoes text and binary, closes once from either side', async () => {
    const { handler, port } = await start(kind);
    const client = await connect(port, '/v1/stream?api_key=good&lang=en', { 'x-custom': 'v' });
    await until(() => handler.events.opened.length === 1);
    const { conn, info } = handler.events.opened[0]!;
    expect(info.path).toBe('/v1/stream');
    expect(info.query.get('lang')).toBe('en');
    expect(info.headers['x-custom']).toBe('v');
    expect(info.remoteAddress).toBe('127.0.0.1');
    expect(conn.remoteAddress).toBe('127.0.0.1');
    expect(info.context).toEqual({ tenant: 't1' });

    const text = nextMessage(client);
    client.send('héllo ✓');
    expect(await text).toMatchObject({ isBinary: false });
    expect((await text).data.toString()).toBe('héllo ✓');

    const bytes = Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff);
    const bin = nextMessage(client);
    client.send(bytes);
    const echoed = await bin;
    expect(echoed.isBinary).toBe(true);
    expect(new Uint8Array(echoed.data)).toEqual(bytes);
    // The handler owns the copy: still intact after the callback returned (uWS neuters its buffer), exact buffer.
    const received = handler.events.messages[1]!.data as Uint8Array;
    expect(received.byteOffset).toBe(0);
    expect(received.buffer.byteLength).toBe(4096);
    expect(received).toEqual(bytes);

    const done = closed(client);
    client.send('close:4000:bye');
    expect(await done).toEqual({ code: 4000, reason: 'bye' });
    await until(() => handler.events.closes.length === 1);
    expect(handler.events.closes[0]).toMatchObject({ code: 4000, origin: 'server' });
    expect(conn.closed).toBe(true);
    expect(conn.send('late')).toBe('dropped');
    expect(conn.bufferedAmount()).toBe(0);

    const client2 = await connect(port);
    await until(() => handler.events.opened.length === 2);
    client2.close(1000, 'client done');
    await until(() => handler.events.closes.length === 2);
    expect(handler.events.closes[1]).toMatchObject({ code: 1000, reason: 'client done', origin: 'peer' });
    expect(handler.events.opened[1]!.conn.id).not.toBe(conn.id);
  });

  it('pings with a payload that the peer echoes in a pong after the frames it sent before (flow control acks)', async () => {
    const { handler, port } = await start(kind);
    const client = await connect(port);
    await until(() => handler.events.opened.length === 1);
    const { conn } = handler.events.opened[0]!;
    const payload = new TextEncoder().encode('flow:1');
    // the client's frame goes out before its stack answers the ping, so the server sees it first
    client.send(new Uint8Array(1000));
    conn.ping(payload);
    await until(() => handler.events.pongs.length === 1);
    expect(handler.events.pongs[0]!.payload).toEqual(payload);
    expect(handler.events.messages).toHaveLength(1);
    expect(() => conn.ping(new Uint8Array(126))).toThrow(RangeError);
    const done = closed(client);
    conn.close(1000, 'bye');
    await done;
    conn.ping(payload); // no-op once closed
  });

  it('refuses a frame over 1 MiB with GW_ERR_FRAME_TOO_LARGE + 1009; others survive', async () => {
    const MiB = 1024 * 1024;
    const { handler, port } = await start(kind);
    const bystander = await connect(port);
    const offender = await connect(port);
    const reply = nextMessage(offender);
    const done = closed(offender);
    offender.send(new Uint8Array(MiB + 1));
    const err = JSON.parse((await reply).data.toString());
    expect(err).toMatchObject({ type: 'error', code: 'GW_ERR_FRAME_TOO_LARGE', fatal: true });
    expect((await done).code).toBe(CLOSE_CODES.MESSAGE_TOO_BIG);
    expect(handler.events.messages.every((m) => (m.isBinary ? (m.data as Uint8Array).byteLength : 0) <= MiB)).toBe(true);

    // Above the carrier ceiling (2x): ws closes with 1009, uWS drops the TCP connection (1006).
    const huge = await connect(port);
    const hugeDone = closed(huge);
    huge.send(new Uint8Array(2 * MiB + 1));
    expect((await hugeDone).code).toBe(kind === 'ws' ? 1009 : 1006);

    const echo = nextMessage(bystander);
    bystander.send('still here');
    expect((await echo).data.toString()).toBe('still here');
    bystander.close();
  });

  it('a frame the carrier refuses (bad UTF-8) from a peer that never reads: onClose within closeTimeoutMs', async () => {
    const { handler, port } = await start(kind); // closeTimeoutMs 500
    const client = await connect(port);
    await until(() => handler.events.opened.length === 1);
    const { conn } = handler.events.opened[0]!;
    clientSocket(client).pause(); // never reads the server's close frame, so never answers it
    client.send(Buffer.from([0x7b, 0xff, 0x7d]), { binary: false });
    await until(() => handler.events.closes.length === 1, 2000);
    // ws closes with 1007 (section 1); uWS drops the connection, reported as the 1007 it stands for
    expect(handler.events.closes[0]).toMatchObject({ code: 1007, origin: 'carrier' });
    expect(conn.closed).toBe(true);
    expect(handler.events.messages).toHaveLength(0);
    client.terminate();
  });

  it('answers rejected upgrades with the gate status and JSON error before the handshake', async () => {
    const { handler, port } = await start(kind);
    const unauthorised = await refusedUpgrade(port, '/v1/stream');
    expect(unauthorised.status).toBe(401);
    expect(JSON.parse(unauthorised.body)).toEqual({ type: 'error', code: 'GW_ERR_UNAUTHORIZED', message: 'bad key', fatal: true });
    const full = await refusedUpgrade(port, '/v1/stream?api_key=good', { 'x-full': '1' });
    expect(full.status).toBe(503);
    expect(full.retryAfter).toBe('1');
    expect(unauthorised.retryAfter).toBeUndefined();
    expect(JSON.parse(full.body).code).toBe('GW_ERR_TOO_MANY_SESSIONS');
    const wrongPath = await refusedUpgrade(port, '/v2/other?api_key=good');
    expect(wrongPath.status).toBe(404);
    expect(JSON.parse(wrongPath.body).code).toBe('GW_ERR_BAD_MESSAGE');
    expect(handler.events.opened).toHaveLength(0);
  });

  it('routes plain HTTP requests through HttpRoutes', async () => {
    const { port } = await start(kind);
    const base = `http://127.0.0.1:${port}`;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok');
    const metrics = await fetch(`${base}/metrics?x=1`);
    expect(metrics.headers.get('content-type')).toContain('version=0.0.4');
    expect(await metrics.text()).toBe('voxgate_up 1\n');
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    const post = await fetch(`${base}/healthz`, { method: 'POST', body: 'x' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    // HEAD (load balancers' health probes): GET's status and headers, and not one byte of body on the wire
    const head = await rawExchange(port, 'HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(head.endsWith('\r\n\r\n')).toBe(true);
    expect((await rawExchange(port, 'HEAD /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).split('\r\n')[0])
      .toBe('HTTP/1.1 404 Not Found');
    const boom = await fetch(`${base}/boom`);
    expect(boom.status).toBe(500);
    expect(JSON.parse(await boom.text()).code).toBe('GW_ERR_INTERNAL');
  });

  it('reports outbound backpressure, drops droppable sends, drains after the reader resumes', async () => {
    const { handler, client, conn } = await openedQuiet(kind, { highWaterMarkBytes: 64 * 1024, maxBackpressureBytes: 256 * 1024 * 1024 });
    let received = 0;
    client.on('message', (d: Buffer) => (received += d.byteLength));
    clientSocket(client).pause();

    const chunk = new Uint8Array(256 * 1024);
    let sent = 0;
    let result = conn.send(chunk);
    for (let i = 0; result === 'sent' && i < 512; i++) {
      sent += chunk.byteLength;
      await new Promise((r) => setImmediate(r)); // let the kernel buffers fill
      result = conn.send(chunk);
    }
    sent += chunk.byteLength;
    expect(result).toBe('buffered');
    const before = conn.bufferedAmount();
    expect(before).toBeGreaterThan(64 * 1024);
    expect(conn.send(chunk)).toBe('buffered');
    sent += chunk.byteLength;
    expect(conn.bufferedAmount()).toBeGreaterThan(before);
    expect(conn.send('{"type":"transcript.partial"}', { droppable: true })).toBe('dropped');
    expect(handler.events.drains).toHaveLength(0);

    clientSocket(client).resume();
    await until(() => handler.events.drains.length === 1, 5000);
    expect(conn.bufferedAmount()).toBeLessThanOrEqual(32 * 1024);
    await until(() => received === sent, 5000);
    expect(conn.send('after drain', { droppable: true })).toBe('sent');
  });

  it('drains also with a high-water mark below the socket\'s own write buffer (16 KiB in Node)', async () => {
    const { handler, client, conn } = await openedQuiet(kind, { highWaterMarkBytes: 1024, maxBackpressureBytes: 64 * 1024 * 1024 });
    clientSocket(client).pause();
    const chunk = new Uint8Array(2048);
    let result = conn.send(chunk);
    for (let i = 0; result === 'sent' && i < 100_000; i++) {
      if (i % 16 === 0) await new Promise((r) => setImmediate(r)); // let the kernel buffers fill
      result = conn.send(chunk);
    }
    expect(result).toBe('buffered');
    clientSocket(client).resume();
    await until(() => handler.events.drains.length === 1, 3000);
    expect(conn.bufferedAmount()).toBeLessThanOrEqual(512);
  });

  it('closes a slow consumer with 4004 at the hard outbound limit', async () => {
    const { handler, client, conn } = await openedQuiet(kind, { highWaterMarkBytes: 64 * 1024, maxBackpressureBytes: 1024 * 1024 });
    const done = closed(client);
    clientSocket(client).pause();
    const chunk = new Uint8Array(128 * 1024);
    let result = conn.send(chunk);
    for (let i = 0; result !== 'dropped' && i < 2048; i++) {
      await new Promise((r) => setImmediate(r));
      result = conn.send(chunk);
    }
    expect(result).toBe('dropped');
    expect(conn.closed).toBe(true);
    expect(conn.bufferedAmount()).toBe(0); // the Connection contract: 0 once closed (ws still holds the bytes)
    clientSocket(client).resume();
    expect((await done).code).toBe(CLOSE_CODES.SLOW_CONSUMER);
    await until(() => handler.events.closes.length === 1);
    expect(handler.events.closes[0]).toMatchObject({ code: CLOSE_CODES.SLOW_CONSUMER, origin: 'carrier' });
  });

  it('a peer that closes while not reading: onClose with its code within closeTimeoutMs', async () => {
    const { handler, client, conn } = await openedQuiet(kind, { highWaterMarkBytes: 64 * 1024, maxBackpressureBytes: 256 * 1024 * 1024 });
    clientSocket(client).pause(); // so the server's echo of the close frame never leaves its buffer
    const chunk = new Uint8Array(64 * 1024);
    let result = conn.send(chunk);
    for (let i = 0; result === 'sent' && i < 4096; i++) {
      await new Promise((r) => setImmediate(r));
      result = conn.send(chunk);
    }
    expect(result).toBe('buffered');
    client.close(1000, 'bye');
    await until(() => handler.events.closes.length === 1, 2000); // closeTimeoutMs is 500
    expect(handler.events.closes[0]).toMatchObject({ code: 1000, reason: 'bye', origin: 'peer' });
    client.terminate();
  });

  it('close() ends open connections with 1001 and stops listening', async () => {
    const { server, handler, port } = await start(kind);
    const client = await connect(port);
    await until(() => handler.events.opened.length === 1);
    const done = closed(client);
    await server.close();
    expect((await done).code).toBe(CLOSE_CODES.GOING_AWAY);
    expect(handler.events.closes).toHaveLength(1);
    expect(handler.events.closes[0]).toMatchObject({ code: CLOSE_CODES.GOING_AWAY, origin: 'server' });
    await expect(connect(port)).rejects.toThrow();
  });
});

describe('transport options and uWS detection', () => {
  it('validates options quoting the bad value', () => {
    expect(() => resolveTransportOptions({ maxPayloadBytes: 10 })).toThrow(/maxPayloadBytes .* got 10/);
    expect(() => resolveTransportOptions({ idleTimeoutS: 5 })).toThrow(/idleTimeoutS .* got 5/);
    expect(() => resolveTransportOptions({ highWaterMarkBytes: 8192, maxBackpressureBytes: 4096 })).toThrow(/got 4096/);
    expect(resolveTransportOptions().maxPayloadBytes).toBe(1024 * 1024);
  });

  it('tells the native addon from the package JavaScript fallback', () => {
    const require = createRequire(import.meta.url);
    expect(isNativeUws(require('uWebSockets.js') as object)).toBe(true);
    const fallback = require('uWebSockets.js/dist/index.js') as object;
    expect(isNativeUws(fallback)).toBe(false);
  });

  it('refuses to listen on the JavaScript fallback (it would bypass the gate)', async () => {
    const script = `
      import { createTransport } from './src/transports/index.js';
      const s = createTransport('uws', {}, {}, { authorise: () => ({ ok: true }) });
      const r = await s.listen('127.0.0.1', 0).then(() => 'listening', (e) => e.code);
      console.log(JSON.stringify({ native: s.nativeBinary, r }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, UWS_USE_FALLBACK: '1' },
      timeout: 10_000,
    });
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ native: false, r: 'GW_ERR_BAD_CONFIG' });
  });
});
