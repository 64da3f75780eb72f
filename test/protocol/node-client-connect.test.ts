/**
 * VoxgateClient.connect against a real gateway (port 0, ws transport, the shipped model) that refuses the upgrade,
 * and with no server to reach: each failure reaches the caller as its own registry code, not as GW_ERR_INTERNAL
 * (which reads as a server bug).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { VoxgateClient } from '../../clients/node-client.js';
import { startFieldsFor } from '../../src/cli/stream-wav.js';
import { GatewayError } from '../../src/protocol/errors.js';
import type { Gateway } from '../../src/server/gateway.js';
import { longestFixture, repeatPcm, startRealGateway } from '../integration/helpers.js';

const start = (): ReturnType<typeof startFieldsFor> => startFieldsFor(longestFixture().wav);

async function refusal(url: string, apiKey?: string): Promise<GatewayError> {
  const e = await VoxgateClient.connect(url, { start: start(), ...(apiKey === undefined ? {} : { apiKey }) })
    .then((c) => { c.close(); throw new Error(`${url} connected`); }, (err: unknown) => err);
  expect(e).toBeInstanceOf(GatewayError);
  return e as GatewayError;
}

/** One session at most, behind an API key. */
let gw: Gateway;
let url: string;
beforeAll(async () => {
  const keys = path.join(mkdtempSync(path.join(tmpdir(), 'voxgate-keys-')), 'keys.txt');
  writeFileSync(keys, 'good-key\n');
  gw = await startRealGateway('ws', { apiKeysFile: keys, maxSessions: 1 });
  url = `ws://127.0.0.1:${gw.port}/v1/stream`;
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

describe('VoxgateClient.connect refused by the gateway', () => {
  it('a wrong or missing API key: GW_ERR_UNAUTHORIZED (HTTP 401), not retryable', async () => {
    for (const key of ['wrong-key', undefined]) {
      const e = await refusal(url, key);
      expect(e).toMatchObject({ code: 'GW_ERR_UNAUTHORIZED', retryable: false, httpStatus: 401 });
      expect(e.message).toContain('HTTP 401');
    }
  });

  it('an upgrade to another path: the server\'s GW_ERR_BAD_MESSAGE (HTTP 404), fatal as its body says', async () => {
    const e = await refusal(url.replace('/v1/stream', '/v2/stream'), 'good-key');
    // the status received, not the registry's for the code (BAD_MESSAGE has none)
    expect(e).toMatchObject({ code: 'GW_ERR_BAD_MESSAGE', fatal: true, retryable: false, httpStatus: 404 });
    expect(e.message).toContain('HTTP 404');
  });

  it('at its session limit, then draining: GW_ERR_TOO_MANY_SESSIONS, then GW_ERR_SHUTTING_DOWN (both HTTP 503)',
    async () => {
      const held = await VoxgateClient.connect(url, { start: start(), apiKey: 'good-key' });
      const full = await refusal(url, 'good-key');
      expect(full).toMatchObject({ code: 'GW_ERR_TOO_MANY_SESSIONS', retryable: true });
      expect(full.message).toContain('HTTP 503');
      // audio still to decode keeps the held session, and so the drain, open while the next upgrade comes
      await held.sendAudio(repeatPcm(longestFixture().wav, 8000));
      const draining = gw.drain();
      const shutting = await refusal(url, 'good-key');
      expect(shutting).toMatchObject({ code: 'GW_ERR_SHUTTING_DOWN', retryable: true });
      expect(shutting.message).toContain('HTTP 503');
      await draining;
    }, 60_000);
});

/** A loopback port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('VoxgateClient.connect with no server to reach', () => {
  it('a refused connection or an unresolvable host: GW_ERR_UNREACHABLE naming the URL (never the key), retryable',
    async () => {
      const refused = `ws://127.0.0.1:${await closedPort()}/v1/stream`;
      const unknownHost = 'ws://no-such-host.invalid/v1/stream'; // .invalid never resolves (RFC 2606)
      for (const [target, cause] of [[refused, /ECONNREFUSED/], [unknownHost, /ENOTFOUND|EAI_AGAIN/]] as const) {
        const e = await VoxgateClient.connect(target, { start: start(), apiKey: 'secret-key', apiKeyIn: 'query' })
          .then(() => null, (err: unknown) => err as GatewayError);
        expect(e, target).toMatchObject({ code: 'GW_ERR_UNREACHABLE', retryable: true });
        expect(e!.message).toContain(`cannot connect to ${target}: `);
        expect(e!.message).toMatch(cause);
        expect(e!.message).not.toContain('secret-key');
      }
    });

  it('a URL that is not a ws:// or wss:// one: GW_ERR_BAD_CONFIG quoting it (not its query), before connecting',
    async () => {
      for (const target of ['localhost:8080/v1/stream', 'ftp://127.0.0.1/v1/stream', 'not a url',
        'ws://127.0.0.1:1/v1/stream#part', 'localhost:8080/v1/stream?api_key=secret-key']) {
        const e = await VoxgateClient.connect(target, { start: start() }).then(() => null, (err: unknown) => err);
        expect(e, target).toBeInstanceOf(GatewayError);
        expect(e, target).toMatchObject({ code: 'GW_ERR_BAD_CONFIG' });
        expect((e as GatewayError).message).toContain(JSON.stringify(target.split('?')[0]));
        expect((e as GatewayError).message).not.toContain('secret-key');
      }
    });

  it('a WebSocket server that is not voxgate (an echo server, one that answers text): a fatal GW_ERR_INTERNAL '
    + 'naming the answer, not the codes of the client\'s own bad frames', async () => {
    const echo = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    echo.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(isBinary ? data : data.toString())));
    const other = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    other.on('connection', (ws) => ws.send('hello'));
    await Promise.all([echo, other].map((server) => new Promise((resolve) => server.once('listening', resolve))));
    try {
      for (const [server, answer] of [[echo, /unknown server message type "session\.start"/], [other, /invalid JSON/]] as const) {
        const target = `ws://127.0.0.1:${(server.address() as { port: number }).port}/v1/stream`;
        const e = await VoxgateClient.connect(target, { start: start() }).then(() => null, (err: unknown) => err as GatewayError);
        expect(e, target).toMatchObject({ code: 'GW_ERR_INTERNAL', fatal: true });
        expect(e!.message).toMatch(/^not a voxgate answer to session\.start: /);
        expect(e!.message).toMatch(answer);
      }
    } finally {
      echo.close();
      other.close();
    }
  });

  it('a listener that never answers the upgrade: GW_ERR_UNREACHABLE once the start timeout passes', async () => {
    const silent = createServer(() => { /* accepts and says nothing, as a wedged host or a black-holing proxy */ });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const target = `ws://127.0.0.1:${(silent.address() as { port: number }).port}/v1/stream`;
      const e = await VoxgateClient.connect(target, { start: start(), startTimeoutMs: 300 })
        .then(() => null, (err: unknown) => err as GatewayError);
      expect(e).toMatchObject({ code: 'GW_ERR_UNREACHABLE', message: `cannot connect to ${target}: no answer within 300 ms` });
    } finally {
      silent.close();
    }
  });
});
