/**
 * VoxgateClient's liveness: requests that wait for an answer give up on a server that stopped answering (a real `ws`
 * server that starts the session, then reads everything and answers nothing, as a wedged process or a proxy that
 * swallows frames does), and `ping()` is not held behind audio that the real gateway's flow.pause holds.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { VoxgateClient } from '../../clients/node-client.js';
import { startFieldsFor } from '../../src/cli/stream-wav.js';
import { GatewayError } from '../../src/protocol/errors.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { parseClientMessage } from '../../src/protocol/validate.js';
import type { Gateway } from '../../src/server/gateway.js';
import { longestFixture, repeatPcm, ROOT, startRealGateway } from '../integration/helpers.js';

/** The session.started of docs/protocol.md section 11 (test/protocol/docs.test.ts checks the server answers so). */
const STARTED = /^< (\{"type":"session\.started".*)$/m
  .exec(readFileSync(path.join(ROOT, 'docs', 'protocol.md'), 'utf8'))![1]!;
const START = { audio: { encoding: 'pcm_s16le', sample_rate_hz: 16000, channels: 1 } } as const;

const UPDATED: ServerMessage = { type: 'session.updated', hotwords: 0, endpointing: { silence_ms: 500,
  max_utterance_ms: 15000 }, min_confidence: 0.15, numerals: true, alternatives: 1, background_rejection_db: 0 };

interface Started {
  url: string;
  /** Frames received after session.start: text as sent, audio as `[binary BYTES]`. */
  inbound: string[];
  /** Sends `m` to every connected client. */
  broadcast: (m: ServerMessage) => void;
  close: () => Promise<void>;
}

/** A real ws server: answers session.start, then reads every frame and answers none; `answering`, it answers pings and
 *  updates as the gateway does, after pausing the flow at once (and resuming it when the test says). */
async function startedServer(answering = false): Promise<Started> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  const inbound: string[] = [];
  const send = (ws: WebSocket, m: ServerMessage): void => ws.send(JSON.stringify(m));
  wss.on('connection', (ws) => {
    ws.once('message', () => {
      ws.send(STARTED);
      if (answering) send(ws, { type: 'flow.pause', buffered_ms: 2100 });
      ws.on('message', (data, isBinary) => {
        inbound.push(isBinary ? `[binary ${(data as Buffer).byteLength}]` : data.toString());
        if (isBinary) return;
        const m = parseClientMessage(data.toString());
        if (answering && m.type === 'ping') send(ws, { type: 'pong', ...(m.id === undefined ? {} : { id: m.id }) });
        if (answering && m.type === 'session.update') send(ws, UPDATED);
      });
    });
  });
  await new Promise((resolve) => wss.once('listening', resolve));
  return {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/v1/stream`,
    inbound,
    broadcast: (m) => { for (const c of wss.clients) send(c, m); },
    close: () => new Promise((resolve) => { for (const c of wss.clients) c.terminate(); wss.close(() => resolve()); }),
  };
}

async function rejection(p: Promise<unknown>): Promise<GatewayError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(GatewayError);
  return e as GatewayError;
}

let server: Started | null = null;
afterEach(async () => { await server?.close(); server = null; });

describe('VoxgateClient replyTimeoutMs (a real ws server that answers nothing, or only while the test lets it)', () => {
  it('ping() rejects with GW_ERR_INTERNAL once replyTimeoutMs passed, and the socket is given up', async () => {
    server = await startedServer();
    const client = await VoxgateClient.connect(server.url, { start: START, replyTimeoutMs: 300 });
    const e = await rejection(client.ping('alive'));
    expect(e).toMatchObject({ code: 'GW_ERR_INTERNAL', fatal: true, message: 'no pong within 300 ms of ping' });
    expect((await client.closed).code).toBe(1006);
    expect(server.inbound).toContain('{"type":"ping","id":"alive"}');
    // The session is over: later requests fail with what ended it.
    expect(await rejection(client.sendAudio(new Uint8Array(640)))).toBe(e);
  }, 10_000);

  it('update() rejects once replyTimeoutMs passed, and so does a ping sent behind it: the socket is given up (a '
    + 'late session.updated would otherwise settle the next update)', async () => {
    server = await startedServer();
    const client = await VoxgateClient.connect(server.url, { start: START, replyTimeoutMs: 300 });
    const [updated, pong] = [rejection(client.update({ numerals: true })), rejection(client.ping('behind'))];
    const e = await updated;
    expect(e).toMatchObject({ code: 'GW_ERR_INTERNAL', message: 'no session.updated within 300 ms of session.update' });
    expect(await pong).toBe(e);
    expect((await client.closed).code).toBe(1006);
  }, 10_000);

  it('sendAudio() past the unacknowledged-audio window rejects once replyTimeoutMs passed (the acknowledging ping '
    + 'got no pong)', async () => {
    server = await startedServer();
    const client = await VoxgateClient.connect(server.url, { start: START, replyTimeoutMs: 300 });
    // 8 s of 16 kHz pcm_s16le: twice the 4 s window the documented limits give
    const e = await rejection(client.sendAudio(new Uint8Array(256_000)));
    expect(e).toMatchObject({ code: 'GW_ERR_INTERNAL', message: 'no pong within 300 ms of ping' });
    expect((await client.closed).code).toBe(1006);
  }, 10_000);

  it('time spent queued behind flow.pause does not count: an update held longer than replyTimeoutMs gets its answer',
    async () => {
      server = await startedServer(true);
      const client = await VoxgateClient.connect(server.url, { start: START, replyTimeoutMs: 200 });
      await vi.waitUntil(() => client.paused);
      const held = client.sendAudio(new Uint8Array(640));
      const updated = client.update({ numerals: true });
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(server.inbound).toEqual([]); // still held
      server.broadcast({ type: 'flow.resume', buffered_ms: 400 });
      await held;
      expect(await updated).toEqual(UPDATED);
      expect(await client.ping('after')).toEqual({ type: 'pong', id: 'after' });
      client.close();
    });

  it('a replyTimeoutMs that is not a positive integer timer delay: GW_ERR_BAD_CONFIG quoting it, before connecting',
    async () => {
      for (const ms of [0, -1, 1.5, 2 ** 31, Number.NaN]) {
        const e = await rejection(VoxgateClient.connect('ws://127.0.0.1:9/v1/stream',
          { start: START, replyTimeoutMs: ms }));
        expect(e, String(ms)).toMatchObject({ code: 'GW_ERR_BAD_CONFIG',
          message: `replyTimeoutMs must be an integer in [1, 2147483647], got ${ms}` });
      }
    });
});

/** Small flow marks (as an operator may set them): a fast sender is paused at once. */
let smallFlow: Gateway;
beforeAll(async () => {
  smallFlow = await startRealGateway('ws', { flowHighWaterMs: 300, flowLowWaterMs: 100, backlogLimitMs: 1500 });
}, 60_000);
afterAll(async () => {
  await smallFlow?.close();
});

describe('VoxgateClient ping() while flow.pause holds audio', () => {
  it('a server that keeps the flow paused answers the ping at once; the audio and update asked before it stay held '
    + 'and go in their order after flow.resume', async () => {
    server = await startedServer(true);
    const client = await VoxgateClient.connect(server.url, { start: START });
    await vi.waitUntil(() => client.paused);
    const held = client.sendAudio(new Uint8Array(640));
    const updated = client.update({ numerals: true });
    expect(await client.ping('during')).toEqual({ type: 'pong', id: 'during' });
    expect(client.paused).toBe(true);
    expect(server.inbound).toEqual(['{"type":"ping","id":"during"}']);
    server.broadcast({ type: 'flow.resume', buffered_ms: 400 });
    await held;
    expect(await updated).toEqual(UPDATED);
    expect(server.inbound).toEqual(['{"type":"ping","id":"during"}', '[binary 640]',
      '{"type":"session.update","numerals":true}']);
    client.close();
  }, 10_000);

  it('the real gateway: the ping goes out at once, its pong comes before flow.resume; the held audio still goes '
    + 'before session.end and is transcribed', async () => {
    const wav = longestFixture().wav;
    const client = await VoxgateClient.connect(`ws://127.0.0.1:${smallFlow.port}/v1/stream`,
      { start: startFieldsFor(wav) });
    const seen: string[] = [];
    const held: Promise<unknown>[] = [];
    const paused = new Promise<void>((resolve) => {
      client.onMessage((m) => {
        seen.push(m.type === 'pong' ? `pong ${String(m.id)}` : m.type);
        if (m.type !== 'flow.pause' || held.length > 0) return;
        held.push(client.sendAudio(repeatPcm(wav, 200)), client.ping('alive'));
        resolve();
      });
    });
    await client.sendAudio(repeatPcm(wav, 1000));
    await paused;
    await Promise.all(held);
    const ended = await client.end();
    const afterPause = seen.slice(seen.indexOf('flow.pause'));
    expect(afterPause.indexOf('pong alive')).toBeGreaterThan(0);
    expect(afterPause.indexOf('pong alive')).toBeLessThan(afterPause.indexOf('flow.resume'));
    expect(ended).toMatchObject({ reason: 'client_end',
      stats: { bytes_received: (1200 * 16000 * 2) / 1000, bytes_discarded: 0, processed_audio_ms: 1200 } });
  });
});
