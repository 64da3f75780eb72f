/**
 * How a session's end is counted (`voxgate_sessions_total{reason}`, docs/protocol.md section 10) when the socket
 * closes without the session deciding it: the carrier closing for a frame that breaks RFC 6455 (1002, 1007, 1008) or
 * is over its ceiling (1009) is the client's protocol violation, counted under the nearest error code, while a client
 * that leaves is `abandoned`, whatever code its own close frame carries (4004, 1009, 1007, ... included). A gateway
 * closed under open sessions counts them as GW_ERR_SHUTTING_DOWN. Real gateway on loopback, real `ws` clients (some
 * writing broken frames on their own socket); the speech pipeline is scripted (framing, not the model, is under test).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { resolveGatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { closed, connect } from '../transports/helpers.js';
import { inbox, pcm16, scriptedServices, START_16K, until } from './helpers.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function startedSession(transport: 'uws' | 'ws'): Promise<{ gw: Gateway; ws: WebSocket }> {
  const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent' });
  const gw = await startGateway(config, { services: scriptedServices({ auto: true }) });
  gateways.push(gw);
  const ws = await connect(gw.port, '/v1/stream');
  const box = inbox(ws);
  ws.send(JSON.stringify(START_16K));
  expect(await box.next()).toMatchObject({ type: 'session.started' });
  ws.send(pcm16(40));
  return { gw, ws };
}

/** Writes raw bytes on the client's socket, bypassing its WebSocket framing. */
function writeRaw(ws: WebSocket, bytes: Uint8Array): void {
  (ws as unknown as { _socket: { write(b: Uint8Array): void } })._socket.write(bytes);
}

/** A masked client frame (all-zero mask key, so the payload goes as is). */
function maskedFrame(fin: boolean, opcode: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

async function reasons(gw: Gateway): Promise<string[]> {
  return sessionReasons(await gw.metrics.metricsText());
}

function sessionReasons(text: string): string[] {
  return [...text.matchAll(/^voxgate_sessions_total\{reason="([^"]+)"\} (\d+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
}

function errorCounts(text: string): string[] {
  return [...text.matchAll(/^voxgate_errors_total\{code="([^"]+)"\} (\d+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
}

/** The gateway's GET /metrics, as a scraper reads it. */
async function scrape(gw: Gateway): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${gw.port}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** Waits for the session to close; GET /metrics then counts one session ended as `reason` and one of each `errors`. */
async function expectCountedOnce(gw: Gateway, reason: string, errors: string[]): Promise<string> {
  await until(() => gw.sessionCount() === 0, 3000, 'session closed');
  const text = await scrape(gw);
  expect(sessionReasons(text)).toEqual([`${reason} 1`]);
  expect(errorCounts(text)).toEqual(errors.map((e) => `${e} 1`));
  return text;
}

describe('session outcome when the ws carrier closes for a broken frame', () => {
  it('invalid UTF-8 in a text frame (1007) counts as GW_ERR_BAD_JSON, not abandoned', async () => {
    const { gw, ws } = await startedSession('ws');
    const done = closed(ws);
    ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await done).code).toBe(1007);
    await until(() => gw.sessionCount() === 0, 3000, 'session closed');
    expect(await reasons(gw)).toEqual(['GW_ERR_BAD_JSON 1']);
    expect(await gw.metrics.metricsText()).toContain('voxgate_errors_total{code="GW_ERR_BAD_JSON"} 1');
  });

  it('a reserved opcode (1002) counts as GW_ERR_BAD_MESSAGE', async () => {
    const { gw, ws } = await startedSession('ws');
    const done = closed(ws);
    writeRaw(ws, maskedFrame(true, 0x3));
    expect((await done).code).toBe(1002);
    await until(() => gw.sessionCount() === 0, 3000, 'session closed');
    expect(await reasons(gw)).toEqual(['GW_ERR_BAD_MESSAGE 1']);
  });

  it('a message cut into more fragments than ws allows (1008) counts as GW_ERR_BAD_MESSAGE', async () => {
    const { gw, ws } = await startedSession('ws');
    const done = closed(ws);
    // ws's server refuses a message of more than 16384 fragments
    const fragments = [maskedFrame(false, 0x1, Buffer.from('{'))];
    for (let i = 0; i < 16_400; i++) fragments.push(maskedFrame(false, 0x0));
    writeRaw(ws, Buffer.concat(fragments));
    expect((await done).code).toBe(1008);
    await until(() => gw.sessionCount() === 0, 3000, 'session closed');
    expect(await reasons(gw)).toEqual(['GW_ERR_BAD_MESSAGE 1']);
  });
});

describe.each(['uws', 'ws'] as const)('session outcome over %s', (transport) => {
  it('a client that closes mid-session without session.end is abandoned', async () => {
    const { gw, ws } = await startedSession(transport);
    ws.close(1000, 'bye');
    await until(() => gw.sessionCount() === 0, 3000, 'session closed');
    expect(await reasons(gw)).toEqual(['abandoned 1']);
  });

  it.each([4004, 1007, 1009, 1002, 1008])('a client that itself closes with %i is abandoned, no error counted',
    async (code) => {
      const { gw, ws } = await startedSession(transport);
      const done = closed(ws);
      ws.close(code, 'client leaves');
      expect(await done).toEqual({ code, reason: 'client leaves' }); // the server echoed the client's close
      const text = await expectCountedOnce(gw, 'abandoned', []);
      expect(text).toContain('voxgate_sessions_active 0');
    });

  it('a frame over the carrier\'s ceiling (2 MiB) the carrier cuts off counts as GW_ERR_FRAME_TOO_LARGE', async () => {
    const { gw, ws } = await startedSession(transport);
    ws.on('error', () => undefined);
    const done = closed(ws);
    ws.send(new Uint8Array(2 * 1024 * 1024 + 2));
    // ws closes with 1009; uWebSockets.js drops the TCP connection
    expect((await done).code).toBe(transport === 'ws' ? 1009 : 1006);
    await expectCountedOnce(gw, 'GW_ERR_FRAME_TOO_LARGE', ['GW_ERR_FRAME_TOO_LARGE']);
  });

  it('a frame over the 1 MiB limit the session answers counts once as GW_ERR_FRAME_TOO_LARGE', async () => {
    const { gw, ws } = await startedSession(transport);
    const done = closed(ws);
    ws.send(new Uint8Array(1024 * 1024 + 2));
    expect((await done).code).toBe(1009);
    await expectCountedOnce(gw, 'GW_ERR_FRAME_TOO_LARGE', ['GW_ERR_FRAME_TOO_LARGE']);
  });

  it('invalid UTF-8 in a text frame, refused by the carrier, counts as GW_ERR_BAD_JSON', async () => {
    const { gw, ws } = await startedSession(transport);
    ws.on('error', () => undefined);
    const done = closed(ws);
    ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await done).code).toBe(transport === 'ws' ? 1007 : 1006);
    await expectCountedOnce(gw, 'GW_ERR_BAD_JSON', ['GW_ERR_BAD_JSON']);
  });
});

describe.each(['uws', 'ws'] as const)('gateway.close() over %s', (transport) => {
  it('open sessions are told GW_ERR_SHUTTING_DOWN (session.ended once started), closed with 1001 and counted so, '
    + 'not abandoned', async () => {
    const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent' });
    const gw = await startGateway(config, { services: scriptedServices({ auto: true }) });
    gateways.push(gw);
    const started = await connect(gw.port, '/v1/stream');
    const startedMsgs: ServerMessage[] = [];
    started.on('message', (data: Buffer) => startedMsgs.push(JSON.parse(data.toString()) as ServerMessage));
    const startedClosed = closed(started);
    started.send(JSON.stringify(START_16K));
    started.send(pcm16(40));
    await until(() => startedMsgs.some((m) => m.type === 'transcript.partial'), 3000, 'the audio decoded');
    const idle = await connect(gw.port, '/v1/stream'); // connected, never started
    const idleMsgs: ServerMessage[] = [];
    idle.on('message', (data: Buffer) => idleMsgs.push(JSON.parse(data.toString()) as ServerMessage));
    const idleClosed = closed(idle);
    await until(() => gw.sessionCount() === 2, 3000, 'both sessions open');

    await gw.close();
    expect(await startedClosed).toMatchObject({ code: 1001 });
    expect(await idleClosed).toMatchObject({ code: 1001 });
    expect(startedMsgs.slice(-2)).toEqual([
      expect.objectContaining({ type: 'error', code: 'GW_ERR_SHUTTING_DOWN', fatal: true }),
      expect.objectContaining({ type: 'session.ended', reason: 'error', error_code: 'GW_ERR_SHUTTING_DOWN',
        stats: expect.objectContaining({ audio_ms: 40 }) })]);
    expect(idleMsgs).toEqual([expect.objectContaining({ type: 'error', code: 'GW_ERR_SHUTTING_DOWN', fatal: true })]);
    const text = await gw.metrics.metricsText();
    expect(sessionReasons(text)).toEqual(['GW_ERR_SHUTTING_DOWN 2']);
    expect(errorCounts(text)).toEqual(['GW_ERR_SHUTTING_DOWN 2']);
  });
});

describe.each(['uws', 'ws'] as const)('drain deadline over %s', (transport) => {
  it('a session still finalising at the drain deadline ends as GW_ERR_SHUTTING_DOWN (error, session.ended, 1001), '
    + 'not abandoned', async () => {
    // The pipeline's end() takes 5 s; the drain grants 200 ms.
    const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent',
      drainTimeoutMs: 200 });
    const gw = await startGateway(config, { services: scriptedServices({ auto: true, endDelayMs: 5000 }) });
    gateways.push(gw);
    const ws = await connect(gw.port, '/v1/stream');
    const msgs: ServerMessage[] = [];
    ws.on('message', (data: Buffer) => msgs.push(JSON.parse(data.toString()) as ServerMessage));
    const done = closed(ws);
    ws.send(JSON.stringify(START_16K));
    ws.send(pcm16(40));
    await until(() => msgs.some((m) => m.type === 'transcript.partial'), 3000, 'the audio decoded');
    await gw.drain();
    expect((await done).code).toBe(1001);
    expect(msgs.slice(-2)).toEqual([expect.objectContaining({ type: 'error', code: 'GW_ERR_SHUTTING_DOWN', fatal: true }),
      expect.objectContaining({ type: 'session.ended', reason: 'error', error_code: 'GW_ERR_SHUTTING_DOWN',
        stats: expect.objectContaining({ audio_ms: 40 }) })]);
    expect(await reasons(gw)).toEqual(['GW_ERR_SHUTTING_DOWN 1']);
  });
});
