/**
 * Malformed opening handshakes (RFC 6455 section 4.2.1) on a real gateway over both real carriers, sent as raw TCP:
 * the same request must get the same status on uWebSockets.js and ws, a refusal the JSON error body, and none of
 * them may reach the upgrade gate (voxgate_upgrades_rejected_total counts the gate's refusals only). Found unequal
 * before: a missing or malformed Sec-WebSocket-Key (uWS 404 text or even 101, ws 400 HTML), no `Connection: Upgrade`
 * (uWS 101, ws 404), a POST or HEAD upgrade (ws ran the gate, counted its 401, then answered 405 HTML; uWS 404 text),
 * `Upgrade: h2c` (ws 400 JSON, uWS 404 text, 200 on /healthz, or 101 when the request also carried a key), and a
 * request with a key but no Upgrade header at all (uWS 101, ws 404).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/server/gateway.js';
import { rawExchange } from '../transports/helpers.js';
import { startKeyedGateway } from './helpers.js';

const KEY = 'secret-key-1';
const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** The header lines of a valid handshake; a case replaces (value) or drops (null) some. */
const VALID: Readonly<Record<string, string>> = {
  Host: 'x',
  Upgrade: 'websocket',
  Connection: 'Upgrade',
  'Sec-WebSocket-Key': WS_KEY,
  'Sec-WebSocket-Version': '13',
};

function request(method: string, target: string, changes: Record<string, string | null>): string {
  const lines = Object.entries({ ...VALID, ...changes }).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v}\r\n`);
  return `${method} ${target} HTTP/1.1\r\n${lines.join('')}${method === 'GET' || method === 'HEAD' ? '' : 'Content-Length: 0\r\n'}\r\n`;
}

function parse(response: string): { status: number; headers: Record<string, string>; body: string } {
  const split = response.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = response.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body: response.slice(split + 4) };
}

/** [what, method, target, header changes, status]: refusals, each before the gate (no API key is sent). */
const REFUSED: [string, string, string, Record<string, string | null>, number][] = [
  ['no Sec-WebSocket-Key', 'GET', '/v1/stream', { 'Sec-WebSocket-Key': null }, 400],
  ['a short key', 'GET', '/v1/stream', { 'Sec-WebSocket-Key': 'abc' }, 400],
  ['24 characters, not base64', 'GET', '/v1/stream', { 'Sec-WebSocket-Key': '************************' }, 400],
  ['base64 of 17 bytes', 'GET', '/v1/stream', { 'Sec-WebSocket-Key': 'AAAAAAAAAAAAAAAAAAAAAAA=' }, 400],
  ['two keys', 'GET', '/v1/stream', { 'Sec-WebSocket-Key': `${WS_KEY}\r\nSec-WebSocket-Key: ${WS_KEY}` }, 400],
  ['no Connection header', 'GET', '/v1/stream', { Connection: null }, 400],
  ['Connection without upgrade', 'GET', '/v1/stream', { Connection: 'keep-alive' }, 400],
  ['Connection: Upgrades', 'GET', '/v1/stream', { Connection: 'Upgrades' }, 400],
  ['POST', 'POST', '/v1/stream', {}, 405],
  ['POST without Connection', 'POST', '/v1/stream', { Connection: null }, 405],
  ['PUT to another path', 'PUT', '/elsewhere', {}, 405],
  ['Upgrade: h2c', 'GET', '/v1/stream', { Upgrade: 'h2c', Connection: 'Upgrade, HTTP2-Settings',
    'Sec-WebSocket-Key': null, 'Sec-WebSocket-Version': null, 'HTTP2-Settings': 'AAMAAABkAAQCAAAAAAIAAAAA' }, 400],
  ['Upgrade: h2c with a WebSocket key', 'GET', '/v1/stream', { Upgrade: 'h2c' }, 400],
  ['Upgrade: h2c on /healthz', 'GET', '/healthz', { Upgrade: 'h2c', Connection: 'Upgrade, HTTP2-Settings',
    'Sec-WebSocket-Key': null, 'Sec-WebSocket-Version': null }, 400],
  ['Upgrade: h2c without Connection', 'GET', '/healthz', { Upgrade: 'h2c', Connection: null }, 400],
];

describe.each(['uws', 'ws'] as const)('malformed handshakes over %s', (transport) => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startKeyedGateway(transport, KEY);
  });
  afterAll(async () => {
    await gw?.close();
  });

  const exchange = async (raw: string) => parse(await rawExchange(gw.port, raw, { until: 'close', timeoutMs: 500 }));
  const gateRefusals = async () => (await gw.metrics.upgradesRejectedTotal.get()).values.reduce((n, v) => n + v.value, 0);

  it.each(REFUSED)('%s: refused with the JSON error body, before the gate', async (_what, method, target, changes, status) => {
    const before = await gateRefusals();
    const r = await exchange(request(method, target, changes));
    expect(r.status).toBe(status);
    expect(r.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.body)).toMatchObject({ type: 'error', code: 'GW_ERR_BAD_MESSAGE', fatal: true });
    if (status === 405) expect(r.headers.allow).toBe('GET');
    expect(await gateRefusals()).toBe(before);
  });

  it('answers a HEAD upgrade 405 without a body', async () => {
    const r = await exchange(request('HEAD', '/v1/stream', {}));
    expect({ status: r.status, body: r.body }).toEqual({ status: 405, body: '' });
  });

  it('opens with Connection as a token list in any case, and Upgrade in any case', async () => {
    for (const changes of [{ Connection: 'keep-alive, Upgrade' }, { Connection: 'upgrade' }, { Upgrade: 'WebSocket' }] as Record<string, string>[]) {
      const raw = request('GET', '/v1/stream', { ...changes, Authorization: `Bearer ${KEY}` });
      const head = parse(await rawExchange(gw.port, raw, { until: 'head', timeoutMs: 500 }));
      expect(head.status, JSON.stringify(changes)).toBe(101);
    }
  });

  it('serves a request with a key but no Upgrade header as plain HTTP', async () => {
    const r = await exchange(request('GET', '/v1/stream', { Upgrade: null, Authorization: `Bearer ${KEY}` }));
    expect({ status: r.status, body: r.body.replace(/^a\r\n|\r\n0\r\n\r\n$/g, '') }).toEqual({ status: 404, body: 'not found\n' });
  });
});
