/**
 * Seeded protocol fuzzing of the real gateway (real transports, the real model): clients send mutated and random
 * text frames and random audio in every format while a witness session streams real speech.
 *
 * The oracle is src/protocol's own validator plus the session state machine of docs/protocol.md: a text frame the
 * validator rejects gets exactly one `error` with the validator's code and fatal flag; a fatal error ends the socket
 * with the registry's close code (after `session.ended` when the session had started); ping gets its pong, a valid
 * start `session.started`, a valid update `session.updated`; audio before start or with a split sample is fatal.
 * Every server message must be a known type, every error a registered code. The witness's final transcript must
 * equal the one it gets alone (int8 activations are quantised per row, so batching with garbage changes nothing),
 * and afterwards the gateway is ready with no sessions and no encoder streams left, also of clients that vanished
 * mid-session without a close frame.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { rng } from '../../bench/bench-random.js';
import { VoxgateClient } from '../../clients/node-client.js';
import { startFieldsFor, streamWav } from '../../src/cli/stream-wav.js';
import type { WavAudio } from '../../src/cli/wav.js';
import { GW_ERRORS, isGatewayError, isGwErrorCode, type GatewayError } from '../../src/protocol/errors.js';
import { PROTOCOL_LIMITS, type ServerMessage } from '../../src/protocol/messages.js';
import {
  bytesPerSampleFrame, clientMessageType, parseClientJson, parseClientMessage, parseServerMessage,
} from '../../src/protocol/validate.js';
import type { Gateway } from '../../src/server/gateway.js';
import { int, type Rand, textFrame, validStart } from '../protocol/fuzz-frames.js';
import { connect } from '../transports/helpers.js';
import { longestFixture, startRealGateway } from './helpers.js';

const CLIENTS = 8;
const ACTIONS_PER_CLIENT = 80;
const REPLY_TIMEOUT_MS = 10_000;

/** What a fuzz run exercised, so a generator that stopped reaching the server's paths fails the test. */
interface Coverage {
  connections: number;
  started: number;
  audioBytesAccepted: number;
  codes: Set<string>;
  transcripts: number;
}

/** A socket's messages in order; `reply()` skips transcripts, speech and flow events, which may come at any time. */
class Inbox {
  private readonly queue: ServerMessage[] = [];
  private waiter: ((m: ServerMessage) => void) | null = null;
  readonly closed: Promise<number>;

  constructor(ws: WebSocket, private readonly cov: Coverage) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      expect(isBinary).toBe(false);
      const msg = parseServerMessage(data.toString());
      if (msg.type === 'error') {
        expect(isGwErrorCode(msg.code), JSON.stringify(msg)).toBe(true);
        expect(typeof msg.message === 'string' && msg.message.length > 0).toBe(true);
      }
      if (msg.type === 'error') this.cov.codes.add(msg.code);
      if (msg.type === 'transcript.partial' || msg.type === 'transcript.final') this.cov.transcripts++;
      if (/^(transcript|speech|flow)\./.test(msg.type)) return;
      if (this.waiter) { const w = this.waiter; this.waiter = null; w(msg); } else this.queue.push(msg);
    });
    this.closed = new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
  }

  async reply(what: string): Promise<ServerMessage> {
    const queued = this.queue.shift();
    if (queued !== undefined) return queued;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${what}`)), REPLY_TIMEOUT_MS);
      this.waiter = (m) => { clearTimeout(timer); resolve(m); };
    });
  }
}

/** Expects `error` with `code` (and session.ended first when fatal in a started session), then the close code. */
async function expectError(inbox: Inbox, what: string, err: Pick<GatewayError, 'code' | 'fatal'>, started: boolean): Promise<void> {
  expect(await inbox.reply(what), what).toMatchObject({ type: 'error', code: err.code, fatal: err.fatal });
  if (!err.fatal) return;
  if (started) expect(await inbox.reply(what), what).toMatchObject({ type: 'session.ended', reason: 'error', error_code: err.code });
  expect(await inbox.closed, what).toBe(GW_ERRORS[err.code].closeCode);
}

/** One connection of a fuzz client, until it closes or has used `budget` actions; returns the actions used. */
/** The client message type a text frame names, valid fields or not (undefined: no JSON or no such type). */
function namedType(text: string): string | undefined {
  try {
    return clientMessageType(parseClientJson(text));
  } catch {
    return undefined;
  }
}

async function fuzzConnection(port: number, r: Rand, seed: number, budget: number, cov: Coverage,
  wav: WavAudio): Promise<number> {
  const ws = await connect(port, '/v1/stream');
  cov.connections++;
  const inbox = new Inbox(ws, cov);
  let frameBytes = 0; // 0: not started
  let speech: Uint8Array | null = null;
  let speechAt = 0;
  let textFrames = 0;
  let i = 0;
  for (; i < budget; i++) {
    if (r() < 0.02) { // the client vanishes (no close frame), mid-utterance or not: the server must release everything
      ws.terminate();
      await inbox.closed;
      return i + 1;
    }
    if (frameBytes > 0 && r() < 0.01) {
      const what = `seed ${seed} action ${i}: a binary frame over 1 MiB`;
      ws.send(new Uint8Array(1024 * 1024 + frameBytes));
      expect(await inbox.reply(what), what).toMatchObject({ type: 'error', code: 'GW_ERR_FRAME_TOO_LARGE', fatal: true });
      expect(await inbox.closed, what).toBe(GW_ERRORS.GW_ERR_FRAME_TOO_LARGE.closeCode);
      return i + 1;
    }
    if (r() < 0.5 && (frameBytes > 0 || r() < 0.1)) {
      const frames = int(r, 0, 4000);
      const bytes = new Uint8Array(frames * Math.max(1, frameBytes) + (r() < 0.05 ? 1 : 0));
      if (speech !== null && r() < 0.7) {
        // real speech (this connection negotiated 16 kHz s16le mono), so the fuzzed sessions transcribe too
        for (let j = 0; j < bytes.length; j++) bytes[j] = speech[(speechAt + j) % speech.length]!;
        speechAt = (speechAt + bytes.length - (bytes.length % 2)) % speech.length;
      } else {
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(r() * 256);
      }
      const what = `seed ${seed} action ${i}: ${bytes.length} audio bytes`;
      ws.send(bytes);
      if (frameBytes === 0) {
        await expectError(inbox, what, { code: 'GW_ERR_NOT_STARTED', fatal: true }, false);
        return i + 1;
      }
      if (bytes.length % frameBytes !== 0) {
        await expectError(inbox, what, { code: 'GW_ERR_PARTIAL_SAMPLE', fatal: true }, true);
        return i + 1;
      }
      cov.audioBytesAccepted += bytes.length;
      continue;
    }
    // stay inside the per-session text budget (its refusals are tested in test/server/text-rate-limit.test.ts)
    if (++textFrames > PROTOCOL_LIMITS.textMessagesBurst - 2) break;
    const text = frameBytes === 0 && r() < 0.6 ? JSON.stringify(validStart(r)) : textFrame(r);
    const what = `seed ${seed} action ${i}: ${text.slice(0, 200)}`;
    let parsed: ReturnType<typeof parseClientMessage> | undefined;
    let invalid: GatewayError | undefined;
    try {
      parsed = parseClientMessage(text);
    } catch (e) {
      if (!isGatewayError(e)) throw e;
      invalid = e;
    }
    ws.send(text);
    // The session's state is judged before the fields, by the type the frame names (docs/protocol.md section 2).
    const type = namedType(text);
    if (type === 'session.start' && frameBytes > 0) {
      await expectError(inbox, what, { code: 'GW_ERR_ALREADY_STARTED', fatal: false }, true);
      continue;
    }
    if (type !== undefined && type !== 'ping' && type !== 'session.start' && frameBytes === 0) {
      await expectError(inbox, what, { code: 'GW_ERR_NOT_STARTED', fatal: true }, false);
      return i + 1;
    }
    if (invalid !== undefined) {
      await expectError(inbox, what, invalid, frameBytes > 0);
      if (invalid.fatal) return i + 1;
      continue;
    }
    const msg = parsed!;
    if (msg.type === 'ping') {
      expect(await inbox.reply(what), what).toEqual(msg.id === undefined ? { type: 'pong' } : { type: 'pong', id: msg.id });
    } else if (msg.type === 'session.start') {
      const reply = await inbox.reply(what);
      if (reply.type === 'error') {
        // The model refuses a hotword it cannot spell, or a model / language it is not: fatal in session.start.
        expect(['GW_ERR_BAD_HOTWORD', 'GW_ERR_BAD_MESSAGE'], what).toContain(reply.code);
        expect(reply.fatal, what).toBe(true);
        expect(await inbox.closed, what).toBe(GW_ERRORS[reply.code].closeCode);
        return i + 1;
      }
      expect(reply.type, what).toBe('session.started');
      cov.started++;
      frameBytes = bytesPerSampleFrame(msg.audio.encoding, msg.audio.channels ?? 1);
      const a = msg.audio;
      speech = a.encoding === 'pcm_s16le' && a.sample_rate_hz === wav.sampleRateHz && (a.channels ?? 1) === 1 ? wav.data : null;
    } else if (msg.type === 'session.update') {
      const reply = await inbox.reply(what);
      if (reply.type === 'error') expect(reply, what).toMatchObject({ fatal: false });
      else expect(reply.type, what).toBe('session.updated');
    } else if (msg.type === 'session.end') {
      expect(await inbox.reply(what), what).toMatchObject({ type: 'session.ended', reason: 'client_end' });
      expect(await inbox.closed, what).toBe(1000);
      return i + 1;
    }
  }
  ws.send(JSON.stringify({ type: 'session.end' }));
  if (frameBytes === 0) await expectError(inbox, `seed ${seed} final end`, { code: 'GW_ERR_NOT_STARTED', fatal: true }, false);
  else {
    expect(await inbox.reply(`seed ${seed} final end`)).toMatchObject({ type: 'session.ended', reason: 'client_end' });
    expect(await inbox.closed).toBe(1000);
  }
  return Math.max(1, i);
}

/** A fuzz client: connections one after another (a fatal error ends one) until ACTIONS_PER_CLIENT are used. */
async function fuzzClient(port: number, seed: number, cov: Coverage, wav: WavAudio): Promise<void> {
  const r = rng(seed);
  let used = 0;
  while (used < ACTIONS_PER_CLIENT) used += await fuzzConnection(port, r, seed, ACTIONS_PER_CLIENT - used, cov, wav);
}

async function witness(url: string, wav: WavAudio): Promise<string> {
  const client = await VoxgateClient.connect(url, { start: startFieldsFor(wav, { latency: 'balanced' }) });
  const result = await streamWav(client, wav);
  expect((await client.closed).code).toBe(1000);
  return result.text;
}

describe.each(['uws', 'ws'] as const)('fuzzed clients against the real gateway over %s', (transport) => {
  let gw: Gateway;
  let url: string;
  beforeAll(async () => {
    gw = await startRealGateway(transport);
    url = `ws://127.0.0.1:${gw.port}/v1/stream`;
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
  });

  it('answers every frame as the protocol says, and a concurrent session transcribes as if alone', async () => {
    const { wav } = longestFixture();
    const alone = await witness(url, wav);
    expect(alone.length).toBeGreaterThan(0);
    const seeds = Array.from({ length: CLIENTS }, (_, i) => (transport === 'uws' ? 1000 : 2000) + i);
    const cov: Coverage = { connections: 0, started: 0, audioBytesAccepted: 0, codes: new Set(), transcripts: 0 };
    const [withFuzz] = await Promise.all([
      witness(url, wav),
      ...seeds.map((s) => fuzzClient(gw.port, s, cov, wav)),
    ]);
    expect(withFuzz).toBe(alone);
    // the generator reached the paths it is meant to (a change that made every frame fail early would not pass)
    expect(cov.connections).toBeGreaterThanOrEqual(CLIENTS * 2);
    expect(cov.started).toBeGreaterThanOrEqual(CLIENTS * 2);
    expect(cov.audioBytesAccepted).toBeGreaterThan(320_000); // > 10 s at 16 kHz s16le
    expect(cov.transcripts).toBeGreaterThan(0);
    expect([...cov.codes]).toEqual(expect.arrayContaining(['GW_ERR_BAD_JSON', 'GW_ERR_UNKNOWN_TYPE', 'GW_ERR_BAD_MESSAGE',
      'GW_ERR_NOT_STARTED', 'GW_ERR_ALREADY_STARTED', 'GW_ERR_PARTIAL_SAMPLE']));
    const deadline = Date.now() + 5000;
    while (gw.sessionCount() > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    expect(gw.sessionCount()).toBe(0);
    // every encoder stream the fuzzed sessions opened (also of the vanished clients) was closed
    const metrics = await (await fetch(`http://127.0.0.1:${gw.port}/metrics`)).text();
    const streams = [...metrics.matchAll(/^voxgate_encoder_worker_streams\{worker="\d+"\} (\d+)$/gm)].map((m) => Number(m[1]));
    expect(streams.length).toBeGreaterThan(0);
    expect(streams).toEqual(streams.map(() => 0));
    expect((await fetch(`http://127.0.0.1:${gw.port}/readyz`)).status).toBe(200);
    expect(await witness(url, wav)).toBe(alone);
  }, 120_000);
});
