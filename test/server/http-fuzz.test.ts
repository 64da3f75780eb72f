/**
 * Seeded fuzzing of the gateway's HTTP side on both real transports: raw TCP garbage, malformed request lines and
 * headers, WebSocket upgrades with broken handshakes, odd paths and mangled API keys, sent over plain sockets.
 * Properties: the server never answers 5xx (an unhandled exception would), an upgrade is accepted (101) only on
 * /v1/stream with the right key and a valid handshake, a wrong or missing key is 401 and an unknown path 404 (paths
 * are matched as sent, on both carriers: the ws carrier once parsed targets as WHATWG URLs, resolved
 * `/v1/stream/../stream` to the endpoint, and crashed the process on `GET http://[`); and
 * afterwards the same gateway still serves /healthz and a full session. The speech pipeline is scripted (this is
 * about the HTTP layer; test/integration/ runs the real model).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rng } from '../../bench/bench-random.js';
import { VoxgateClient } from '../../clients/node-client.js';
import type { Gateway } from '../../src/server/gateway.js';
import { int, pick, type Rand } from '../protocol/fuzz-frames.js';
import { rawExchange } from '../transports/helpers.js';
import { pcm16, START_16K, startKeyedGateway } from './helpers.js';

const KEY = 'secret-key-1';
const REQUESTS = 150;
const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function status(response: string): number | null {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(response);
  return m === null ? null : Number(m[1]);
}

/** `refused`: a 4xx or no answer; `not-5xx`: anything but a server error (or no answer). */
type Expect = 101 | 401 | 404 | 426 | 'refused' | 'not-5xx';

/** One request and what the gateway must answer. */
function request(r: Rand): { bytes: Uint8Array | string; expect: Expect; what: string } {
  const kind = int(r, 0, 6);
  const handshake = `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n`;
  switch (kind) {
    case 0: { // raw bytes
      const b = new Uint8Array(int(r, 1, 4096));
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
      return { bytes: b, expect: 'refused', what: `${b.length} random bytes` };
    }
    case 1: { // malformed request line or headers
      const line = pick(r, ['GET\r\n\r\n', 'GARBAGE / HTTP/1.1\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'GET /healthz\r\n\r\n',
        `GET /${'a'.repeat(70_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 'GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n',
        `GET /healthz HTTP/1.1\r\n${'X-A: b\r\n'.repeat(2000)}\r\n`, 'POST /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n',
        'POST /v1/stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'GET /readyz HTTP/1.1\r\nHost: \u00ff\u0000\r\n\r\n',
        'GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n', 'GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n', 'GET %%% HTTP/1.1\r\n\r\n',
        `GET http://[ HTTP/1.1\r\nHost: x\r\n${handshake}\r\n`]);
      return { bytes: line, expect: 'not-5xx', what: JSON.stringify(line.slice(0, 80)) };
    }
    case 2: { // broken WebSocket handshakes on the right path with the right key
      const h = pick(r, ['Upgrade: websocket\r\nConnection: Upgrade\r\n', `${handshake.replace('13', '12')}`,
        handshake.replace(WS_KEY, 'short'), 'Upgrade: h2c\r\nConnection: Upgrade\r\n']);
      const req = `GET /v1/stream?api_key=${KEY} HTTP/1.1\r\nHost: x\r\n${h}\r\n`;
      // protocol version 12 gets 426 on both carriers (uWebSockets.js alone accepted it before); nothing here opens a socket
      return { bytes: req, expect: h.includes('Version: 12') ? 426 : 'refused', what: JSON.stringify(req) };
    }
    case 3: { // odd paths with a valid handshake
      const p = pick(r, ['/', '/v1', '/v1/stream/', '/V1/STREAM', '/v1/stream/../stream', '//v1/stream', '/%00', '/v1/streamx',
        '//host/v1/stream', '/v1/./stream', '/v1/%73tream', 'http://127.0.0.1/v1/stream', '*']);
      const req = `GET ${p}?api_key=${KEY} HTTP/1.1\r\nHost: x\r\n${handshake}\r\n`;
      // uWebSockets.js closes absolute-form and `*` targets without an answer; origin-form ones get 404
      return { bytes: req, expect: p.startsWith('/') ? 404 : 'refused', what: req.split('\r\n')[0]! };
    }
    case 4: { // mangled keys
      const q = pick(r, ['', '?api_key=', '?api_key=%zz', `?api_key=${KEY}x`, `?api_key=${KEY.toUpperCase()}`,
        '?api_key=%00', `?api_key=${encodeURIComponent(' ' + KEY)}`, '?api_key[]=1', `?API_KEY=${KEY}`]);
      const auth = pick(r, ['', 'Authorization: Bearer\r\n', 'Authorization: Basic eDp5\r\n', `Authorization: Bearer ${KEY} extra\r\n`,
        'Authorization: \r\n', `Authorization: Bearer ${'k'.repeat(5000)}\r\n`]);
      const req = `GET /v1/stream${q} HTTP/1.1\r\nHost: x\r\n${auth}${handshake}\r\n`;
      return { bytes: req, expect: 401, what: `${q} ${JSON.stringify(auth)}` };
    }
    default: { // valid upgrades, key in the query or the header
      const inHeader = r() < 0.5;
      const req = `GET /v1/stream${inHeader ? '' : `?api_key=${KEY}`} HTTP/1.1\r\nHost: x\r\n`
        + `${inHeader ? `Authorization: ${pick(r, ['Bearer', 'bearer'])} ${KEY}\r\n` : ''}${handshake}\r\n`;
      return { bytes: req, expect: 101, what: req.split('\r\n').slice(0, 3).join(' | ') };
    }
  }
}

describe.each(['uws', 'ws'] as const)('HTTP fuzz over %s', (transport) => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startKeyedGateway(transport, KEY);
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('never answers 5xx, accepts only valid upgrades, and keeps serving', async () => {
    const r = rng(transport === 'uws' ? 7 : 8);
    const seen = new Map<string, number>();
    const all = Array.from({ length: REQUESTS }, () => request(r));
    for (let i = 0; i < all.length; i += 15) {
      await Promise.all(all.slice(i, i + 15).map(async (req) => {
        const response = await rawExchange(gw.port, req.bytes, { until: 'head', timeoutMs: 1500 });
        const s = status(response);
        if (s === 426) expect(response, req.what).toMatch(/\r\nsec-websocket-version: 13\r\n/i);
        seen.set(String(s), (seen.get(String(s)) ?? 0) + 1);
        if (req.expect === 'refused') expect(s === null || (s >= 400 && s < 500), `${req.what} -> ${s}`).toBe(true);
        else if (req.expect === 'not-5xx') expect(s === null || s < 500, `${req.what} -> ${s}`).toBe(true);
        else expect(s, req.what).toBe(req.expect);
      }));
    }
    // each expected answer occurred (the generator reaches every branch)
    for (const code of ['101', '401', '404']) expect(seen.get(code) ?? 0, `${code} in ${JSON.stringify([...seen])}`).toBeGreaterThan(5);

    const health = await fetch(`http://127.0.0.1:${gw.port}/healthz`);
    expect(health.status).toBe(200);
    const client = await VoxgateClient.connect(`ws://127.0.0.1:${gw.port}/v1/stream`,
      { apiKey: KEY, start: { audio: START_16K.audio } });
    await client.sendAudio(pcm16(200));
    expect((await client.end()).reason).toBe('client_end');
  }, 60_000);
});
