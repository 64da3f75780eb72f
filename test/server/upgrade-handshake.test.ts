/**
 * The upgrade request as both real carriers see it, on a real gateway on loopback with raw TCP requests: the same
 * request must get the same answer on uWebSockets.js and on ws. Found unequal before: two Authorization headers
 * (ws read the first and opened, uWebSockets.js joined them and refused), a malformed or empty
 * Sec-WebSocket-Protocol (ws answered 400 with an HTML body, uWebSockets.js opened and echoed the garbage), and a 401
 * without the WWW-Authenticate header that RFC 9110 section 15.5.2 requires. The speech pipeline is scripted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/server/gateway.js';
import { rawExchange } from '../transports/helpers.js';
import { startKeyedGateway } from './helpers.js';

const KEY = 'secret-key-1';
const HANDSHAKE = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
  + 'Sec-WebSocket-Version: 13\r\n';

/** Status line, lower-cased header map and body of a raw response. */
function parse(response: string): { status: number; headers: Record<string, string>; body: string } {
  const [head = '', body = ''] = response.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body };
}

describe.each(['uws', 'ws'] as const)('upgrade handshake over %s', (transport) => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startKeyedGateway(transport, KEY);
  });
  afterAll(async () => {
    await gw?.close();
  });

  async function upgrade(headers: string, target = '/v1/stream') {
    const raw = await rawExchange(gw.port, `GET ${target} HTTP/1.1\r\nHost: x\r\n${HANDSHAKE}${headers}\r\n`,
      { until: 'close', timeoutMs: 500 });
    return parse(raw);
  }

  it('refuses two Authorization headers, even when the first holds the right key', async () => {
    for (const auth of [`Bearer ${KEY}\r\nAuthorization: Bearer other`, `Bearer other\r\nAuthorization: Bearer ${KEY}`]) {
      const r = await upgrade(`Authorization: ${auth}\r\n`);
      expect(r.status, auth).toBe(401);
      expect(JSON.parse(r.body)).toMatchObject({ type: 'error', code: 'GW_ERR_UNAUTHORIZED', fatal: true });
    }
    expect((await upgrade(`Authorization: Bearer ${KEY}\r\n`)).status).toBe(101);
  });

  it('answers 401 with WWW-Authenticate: Bearer and the JSON error body', async () => {
    for (const auth of ['', 'Authorization: Bearer wrong\r\n', 'Authorization: Basic eDp5\r\n']) {
      const r = await upgrade(auth);
      expect(r.status, auth).toBe(401);
      expect(r.headers['www-authenticate'], auth).toBe('Bearer');
      expect(r.headers['content-type']).toBe('application/json');
      expect(JSON.parse(r.body)).toMatchObject({ code: 'GW_ERR_UNAUTHORIZED' });
    }
  });

  it('echoes the first of a well-formed Sec-WebSocket-Protocol offer', async () => {
    for (const offer of ['a', 'a, b', 'a,b', ' a ,\tb', 'a\r\nSec-WebSocket-Protocol: b']) {
      const r = await upgrade(`Authorization: Bearer ${KEY}\r\nSec-WebSocket-Protocol: ${offer}\r\n`);
      expect({ status: r.status, protocol: r.headers['sec-websocket-protocol'] }, offer).toEqual({ status: 101, protocol: 'a' });
    }
  });

  it('refuses a malformed or empty Sec-WebSocket-Protocol with 400 and the JSON error body', async () => {
    for (const offer of ['', 'bad proto', 'a,,b', 'a, a', 'a;b', '\u00e9']) {
      const r = await upgrade(`Authorization: Bearer ${KEY}\r\nSec-WebSocket-Protocol: ${offer}\r\n`);
      expect(r.status, JSON.stringify(offer)).toBe(400);
      expect(r.headers['content-type']).toBe('application/json');
      expect(JSON.parse(r.body)).toMatchObject({ type: 'error', code: 'GW_ERR_BAD_MESSAGE', fatal: true });
    }
  });
});
