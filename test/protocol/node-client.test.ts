/**
 * VoxgateClient against a throwaway scripted `ws` server (the real server's integration tests come with it).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { VoxgateClient } from '../../clients/node-client.js';
import { GatewayError } from '../../src/protocol/errors.js';
import type { ServerMessage, SessionStartMessage } from '../../src/protocol/messages.js';
import { normaliseSessionStart } from '../../src/protocol/session-config.js';
import { parseClientMessage } from '../../src/protocol/validate.js';

const AUDIO = { encoding: 'pcm_s16le', sample_rate_hz: 16000, channels: 1 } as const;
const STATS = {
  audio_ms: 0, processed_audio_ms: 0, bytes_received: 0, frames_received: 0, bytes_discarded: 0, utterances: 0, partials_sent: 0,
  partials_dropped: 0, finals_sent: 0, finals_rejected: 0, flow_pauses: 0, duration_ms: 0, partial_latency_mean_ms: null,
  partial_latency_max_ms: null,
};

type Script = (ws: WebSocket, send: (m: ServerMessage) => void, inbound: Array<string | Buffer>) => void;

interface Fake {
  url: string;
  inbound: Array<string | Buffer>;
  /** Sends `m` to every connected client. */
  broadcast: (m: ServerMessage) => void;
  close: () => Promise<void>;
}

/** Starts a fake server on port 0: 401 without `Bearer good`, then a minimal v1 session driven by `script`. */
async function fakeServer(script: Script): Promise<Fake> {
  const inbound: Array<string | Buffer> = [];
  const wss = new WebSocketServer({ noServer: true });
  const http: Server = createServer();
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.headers.authorization !== 'Bearer good' && url.searchParams.get('api_key') !== 'good') {
      const body = JSON.stringify({ code: 'GW_ERR_UNAUTHORIZED', message: 'bad key' });
      socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n`
        + `Connection: close\r\n\r\n${body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const send = (m: ServerMessage): void => ws.send(JSON.stringify(m));
      ws.once('message', (data) => {
        const text = data.toString();
        inbound.push(text);
        let start: SessionStartMessage;
        try {
          start = parseClientMessage(text) as SessionStartMessage;
          normaliseSessionStart(start);
          if (start.model !== undefined && start.model !== 'fake') {
            throw new GatewayError('GW_ERR_BAD_MESSAGE', `session.start: unknown model "${start.model}"`, { fatal: true });
          }
        } catch (e) {
          send((e as GatewayError).toErrorMessage());
          ws.close((e as GatewayError).closeCode);
          return;
        }
        send({
          type: 'session.started', session_id: 's1', protocol_version: 1, model: 'fake', audio: start.audio,
          chunk_ms: 320, latency: 'balanced', interim_results: true, endpointing: { silence_ms: 500, max_utterance_ms: 15000 },
          hotwords: 0, denoise: 'off', min_confidence: 0.15, numerals: false, multichannel: false, alternatives: 1,
          background_rejection_db: 0, tag: null, language: 'en', limits: { max_frame_bytes: 1 << 20, idle_timeout_ms: 30000, max_duration_ms: 3600000, flow_high_water_ms: 2000,
            flow_low_water_ms: 500, backlog_limit_ms: 10000, text_frames_burst: 60, text_frames_per_second: 30,
            text_chars_per_second: 262144 },
        });
        ws.on('message', (d, isBinary) => inbound.push(isBinary ? (d as Buffer) : d.toString()));
        script(ws, send, inbound);
      });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/v1/stream`,
    inbound,
    broadcast: (m) => { for (const c of wss.clients) c.send(JSON.stringify(m)); },
    close: () => new Promise((resolve) => { for (const c of wss.clients) c.terminate(); http.close(() => resolve()); }),
  };
}

async function thrownAsync(p: Promise<unknown>): Promise<GatewayError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    return e as GatewayError;
  }
  throw new Error('expected a rejection');
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

let fake: Fake | null = null;
afterEach(async () => { await fake?.close(); fake = null; });

describe('VoxgateClient', () => {
  it('runs a session: start, audio with flow control, update, ping, end, messages in order', async () => {
    fake = await fakeServer((ws, send) => {
      ws.on('message', (d, isBinary) => {
        if (isBinary) return;
        const m = parseClientMessage(d.toString());
        if (m.type === 'session.update') send({ type: 'session.updated', hotwords: m.hotwords?.length ?? 0, endpointing: { silence_ms: 500, max_utterance_ms: 15000 },
          min_confidence: 0.15, numerals: false, alternatives: 1, background_rejection_db: 0 });
        if (m.type === 'ping') send({ type: 'pong', ...(m.id === undefined ? {} : { id: m.id }) });
        if (m.type === 'session.end') {
          send({ type: 'transcript.final', utterance_id: 0, seq: 0, text: 'hi', words: [], confidence: 1, start_ms: 0, end_ms: 40, latency_ms: 1, reason: 'session_end' });
          send({ type: 'session.ended', session_id: 's1', audio_ms: 40, reason: 'client_end', stats: STATS });
          ws.close(1000);
        }
      });
    });
    const client = await VoxgateClient.connect(fake.url, { apiKey: 'good', start: { audio: AUDIO, latency: 'balanced' } });
    expect(client.started.session_id).toBe('s1');
    const seen: string[] = [];
    const reader = (async () => { for await (const m of client) seen.push(m.type); })();

    await client.sendAudio(new Uint8Array(640));
    await until(() => fake!.inbound.length === 2);
    expect((fake.inbound[1] as Buffer).byteLength).toBe(640);

    // flow.pause holds sendAudio until flow.resume.
    const pauseSeen = new Promise<void>((r) => { const off = client.onMessage((m) => { if (m.type === 'flow.pause') { off(); r(); } }); });
    fake.broadcast({ type: 'flow.pause', buffered_ms: 2100 });
    await pauseSeen;
    expect(client.paused).toBe(true);
    let sent = false;
    const pending = client.sendAudio(new Uint8Array(320)).then(() => { sent = true; });
    await new Promise((r) => setTimeout(r, 30));
    expect(sent).toBe(false);
    expect(fake.inbound.length).toBe(2);
    fake.broadcast({ type: 'flow.resume', buffered_ms: 400 });
    await pending;
    expect(client.paused).toBe(false);
    await until(() => fake!.inbound.length === 3);

    expect(await client.update({ hotwords: [{ phrase: 'voxgate' }] })).toMatchObject({ type: 'session.updated', hotwords: 1 });
    expect(await client.ping(7)).toEqual({ type: 'pong', id: 7 });
    expect((await client.ping()).id).toBe('p0');

    const ended = await client.end();
    expect(ended).toMatchObject({ type: 'session.ended', reason: 'client_end' });
    expect((await client.closed).code).toBe(1000);
    await reader;
    expect(seen).toEqual(['flow.pause', 'flow.resume', 'session.updated', 'pong', 'pong', 'transcript.final', 'session.ended']);
    await expect(client.sendAudio(new Uint8Array(2))).rejects.toBeInstanceOf(GatewayError);
  });

  it('rejects a partial sample frame locally', async () => {
    fake = await fakeServer(() => {});
    const client = await VoxgateClient.connect(fake.url, { apiKey: 'good', apiKeyIn: 'query', start: { audio: { ...AUDIO, channels: 2 } } });
    expect((await thrownAsync(client.sendAudio(new Uint8Array(6)))).code).toBe('GW_ERR_PARTIAL_SAMPLE');
    client.close();
    await client.closed;
  });

  it('maps a 401 upgrade to GW_ERR_UNAUTHORIZED', async () => {
    fake = await fakeServer(() => {});
    const e = await thrownAsync(VoxgateClient.connect(fake.url, { apiKey: 'bad', start: { audio: AUDIO } }));
    expect(e.code).toBe('GW_ERR_UNAUTHORIZED');
    expect(e.message).toContain('401');
  });

  it('validates session.start locally before connecting', async () => {
    const e = await thrownAsync(VoxgateClient.connect('ws://127.0.0.1:9/v1/stream',
      { start: { audio: { ...AUDIO, sample_rate_hz: 4000 } } }));
    expect(e.code).toBe('GW_ERR_UNSUPPORTED_RATE');
  });

  it('surfaces the server error for a rejected session.start', async () => {
    fake = await fakeServer(() => {});
    const e = await thrownAsync(VoxgateClient.connect(fake.url, { apiKey: 'good', start: { audio: AUDIO, model: 'nope' } }));
    expect(e.code).toBe('GW_ERR_BAD_MESSAGE');
    expect(e.fatal).toBe(true);
    expect(e.message).toContain('"nope"');
  });

  // The real gateway ends a session.end that does not finish with GW_ERR_INFERENCE (docs/protocol.md section 3); a
  // wedged server (a stopped process, a proxy that swallows frames) does not.
  it('end() to a server that never answers session.end rejects once endTimeoutMs passed, and gives up the socket',
    async () => {
      fake = await fakeServer(() => { /* reads everything, answers nothing */ });
      const client = await VoxgateClient.connect(fake.url, { apiKey: 'good', start: { audio: AUDIO }, endTimeoutMs: 300 });
      await client.sendAudio(new Uint8Array(640));
      const e = await thrownAsync(client.end());
      expect(e).toMatchObject({ code: 'GW_ERR_INTERNAL', message: 'no session.ended within 300 ms of session.end' });
      expect((await client.closed).code).toBe(1006);
      expect(fake.inbound).toContain('{"type":"session.end"}');
    }, 10_000);

  it('a close without a reason or without a close frame is said plainly (it read "socket closed (1006 )")', async () => {
    for (const [drop, message] of [[(ws: WebSocket) => ws.terminate(), 'connection lost (1006: closed without a close frame)'],
      [(ws: WebSocket) => ws.close(4321), 'socket closed (4321)'],
      [(ws: WebSocket) => ws.close(4321, 'bye'), 'socket closed (4321 bye)']] as const) {
      fake = await fakeServer((ws) => { ws.once('message', () => drop(ws)); });
      const client = await VoxgateClient.connect(fake.url, { apiKey: 'good', start: { audio: AUDIO } });
      expect(await thrownAsync(client.ping())).toMatchObject({ code: 'GW_ERR_INTERNAL', message });
      await fake.close();
    }
  });

  it('rejects pending sends with the fatal error that closed the session', async () => {
    fake = await fakeServer((ws, send) => {
      send({ type: 'flow.pause', buffered_ms: 2500 });
      setTimeout(() => {
        send({ type: 'error', code: 'GW_ERR_BACKLOG', message: 'backlog 10100 ms', fatal: true });
        ws.close(4003);
      }, 20);
    });
    const client = await VoxgateClient.connect(fake.url, { apiKey: 'good', start: { audio: AUDIO } });
    await until(() => client.paused);
    const e = await thrownAsync(client.sendAudio(new Uint8Array(2)));
    expect(e.code).toBe('GW_ERR_BACKLOG');
    expect(e.fatal).toBe(true);
    expect((await client.closed).code).toBe(4003);
  });
});
