/**
 * Seeded fuzzing of the WebSocket framing on both real carriers: after a valid handshake on a plain TCP socket, a
 * client sends hand-built frames that break RFC 6455 (reserved opcodes and RSV bits, unmasked frames, continuations
 * out of order, oversized or truncated control frames, close frames with invalid codes, invalid UTF-8 text, 64-bit
 * lengths) mixed with valid protocol messages. Properties: every connection ends with the server closing it or
 * stays usable, the gateway never crashes (an uncaught exception fails the run), and afterwards it still serves
 * /healthz and a full session, with `voxgate_sessions_active` back at 0. Scripted pipeline: this is the framing
 * layer; test/integration/ runs the real model.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rng } from '../../bench/bench-random.js';
import { VoxgateClient } from '../../clients/node-client.js';
import { resolveGatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { int, pick, type Rand } from '../protocol/fuzz-frames.js';
import { pcm16, scriptedServices, START_16K, until } from './helpers.js';

const CONNECTIONS = 60;

/** One frame: FIN + RSV + opcode, masked (or not) payload, with an optional lying length. */
function frame(opts: { fin?: boolean; rsv?: number; opcode: number; payload: Uint8Array; masked?: boolean;
  lengthOverride?: bigint }): Buffer {
  const { payload } = opts;
  const masked = opts.masked ?? true;
  const len = opts.lengthOverride ?? BigInt(payload.length);
  const head: number[] = [((opts.fin ?? true) ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | opts.opcode];
  const m = masked ? 0x80 : 0;
  if (len < 126n) head.push(m | Number(len));
  else if (len < 65536n) head.push(m | 126, Number(len >> 8n) & 0xff, Number(len) & 0xff);
  else {
    head.push(m | 127);
    for (let i = 7; i >= 0; i--) head.push(Number((len >> BigInt(8 * i)) & 0xffn));
  }
  const key = [0x12, 0x34, 0x56, 0x78];
  const body = Buffer.from(payload);
  if (masked) for (let i = 0; i < body.length; i++) body[i]! ^= key[i % 4]!;
  return Buffer.concat([Buffer.from(head), Buffer.from(masked ? key : []), body]);
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

function randomBytes(r: Rand, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** A random frame, mostly broken, sometimes a valid protocol message. */
function fuzzFrame(r: Rand): Buffer {
  const start = text(JSON.stringify(START_16K));
  switch (int(r, 0, 11)) {
    case 0: return frame({ opcode: pick(r, [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), payload: randomBytes(r, int(r, 0, 40)) });
    case 1: return frame({ opcode: 1, rsv: int(r, 1, 7), payload: text('{"type":"ping"}') });
    case 2: return frame({ opcode: pick(r, [1, 2]), masked: false, payload: text('{"type":"ping"}') });
    case 3: return frame({ opcode: 0, payload: randomBytes(r, int(r, 0, 64)) }); // continuation with nothing to continue
    case 4: return frame({ opcode: 1, fin: false, payload: text('{"type":') }); // fragment left open
    case 5: return frame({ opcode: pick(r, [8, 9, 10]), payload: randomBytes(r, int(r, 126, 300)) }); // control > 125
    case 6: return frame({ opcode: 8, payload: Uint8Array.of(pick(r, [0, 3, 0x03]), pick(r, [0xe7, 0xed, 0xee, 0x00])) });
    case 7: return frame({ opcode: 8, payload: Uint8Array.of(0x03) }); // 1-byte close payload
    case 8: return frame({ opcode: 1, payload: Uint8Array.of(0x7b, 0xff, 0xfe, 0xc3, 0x28, 0x7d) }); // invalid UTF-8
    case 9: return frame({ opcode: 2, payload: new Uint8Array(0), lengthOverride: pick(r, [2n ** 62n, 2n ** 63n - 1n, 70_000n]) }).subarray(0, int(r, 2, 14));
    case 10: return frame({ opcode: 9, payload: randomBytes(r, int(r, 0, 125)) }); // valid ping
    default: return r() < 0.5 ? frame({ opcode: 1, payload: start }) : frame({ opcode: 2, payload: randomBytes(r, 2 * int(r, 0, 800)) });
  }
}

/** Opens a raw socket and completes the WebSocket handshake on /v1/stream; resolves once the 101 is read. */
function handshake(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      got = Buffer.concat([got, d]);
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      sock.off('data', onData);
      if (!got.subarray(0, 12).toString().startsWith('HTTP/1.1 101')) reject(new Error(got.toString('latin1', 0, 200)));
      else resolve(sock);
    };
    sock.on('data', onData);
    sock.on('error', reject);
    sock.write('GET /v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
      + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  });
}

/** Sends a few fuzzed frames; resolves 'closed' when the server closes the socket, 'open' if it is still up after. */
async function fuzzConnection(port: number, r: Rand): Promise<'closed' | 'open'> {
  const sock = await handshake(port);
  sock.on('error', () => undefined);
  const closed = new Promise<'closed'>((resolve) => sock.once('close', () => resolve('closed')));
  for (let i = int(r, 1, 5); i > 0 && !sock.destroyed; i--) sock.write(fuzzFrame(r));
  const outcome = await Promise.race([closed, new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), 500))]);
  sock.destroy();
  await closed;
  return outcome;
}

describe.each(['uws', 'ws'] as const)('WebSocket frame fuzz over %s', (transport) => {
  let gw: Gateway;
  beforeAll(async () => {
    const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent' });
    gw = await startGateway(config, { services: scriptedServices({ auto: true }) });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('survives malformed frames and keeps serving', async () => {
    const r = rng(transport === 'uws' ? 11 : 12);
    const outcomes = { closed: 0, open: 0 };
    for (let i = 0; i < CONNECTIONS; i += 20) {
      const batch = await Promise.all(Array.from({ length: Math.min(20, CONNECTIONS - i) }, () => fuzzConnection(gw.port, r)));
      for (const o of batch) outcomes[o]++;
    }
    // most connections break a framing rule and must be closed by the server; some only send valid frames
    expect(outcomes.closed).toBeGreaterThan(CONNECTIONS / 2);
    await until(() => gw.sessionCount() === 0, 5000, 'every fuzzed session released');
    expect((await fetch(`http://127.0.0.1:${gw.port}/healthz`)).status).toBe(200);
    expect(await gw.metrics.metricsText()).toContain('voxgate_sessions_active 0');
    const client = await VoxgateClient.connect(`ws://127.0.0.1:${gw.port}/v1/stream`, { start: { audio: START_16K.audio } });
    await client.sendAudio(pcm16(200));
    expect((await client.end()).reason).toBe('client_end');
  }, 60_000);
});
