/**
 * How a session's end is counted (`voxgate_sessions_total{reason}`, docs/protocol.md section 10) when the socket
 * closes without the session deciding it: the `ws` carrier closing for a frame that breaks RFC 6455 (1002, 1007,
 * 1008) is the client's protocol violation, counted under the nearest error code, while a client that simply leaves
 * is `abandoned`. Real gateway on loopback, real `ws` clients writing the broken frames on their own socket; the
 * speech pipeline is scripted (framing, not the model, is under test).
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
  const text = await gw.metrics.metricsText();
  return [...text.matchAll(/^voxgate_sessions_total\{reason="([^"]+)"\} (\d+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
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
