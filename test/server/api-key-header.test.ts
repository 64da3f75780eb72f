/**
 * Which key an upgrade presents when it carries both an Authorization header and `?api_key=` (docs/protocol.md,
 * "Authentication"): a Bearer header decides, so a wrong, malformed or repeated one is answered 401 even when the
 * query holds a right key; a header of another scheme is ignored. Found before: a Bearer header that was not exactly
 * one token (`Bearer KEY extra`, an empty `Bearer`, two Authorization headers, which both carriers join with ", ")
 * was read as no header at all, and the query's key opened the session. On a real gateway, both carriers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../../src/server/gateway.js';
import { rawExchange } from '../transports/helpers.js';
import { startKeyedGateway } from './helpers.js';

const KEY = 'secret-key-1';
const HANDSHAKE = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
  + 'Sec-WebSocket-Version: 13\r\n';

describe.each(['uws', 'ws'] as const)('Authorization header and ?api_key= over %s', (transport) => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startKeyedGateway(transport, KEY);
  });
  afterAll(async () => {
    await gw?.close();
  });

  async function status(headers: string): Promise<number> {
    const raw = await rawExchange(gw.port, `GET /v1/stream?api_key=${KEY} HTTP/1.1\r\nHost: x\r\n${HANDSHAKE}${headers}\r\n`,
      { until: 'head', timeoutMs: 500 });
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
  }

  it('a Bearer header that is not exactly one right key is not rescued by a right key in the query', async () => {
    for (const auth of [`Bearer ${KEY}\r\nAuthorization: Bearer ${KEY}`, `Bearer other\r\nAuthorization: Bearer ${KEY}`,
      `Basic eDp5\r\nAuthorization: Bearer other`, `Bearer ${KEY} extra`, 'Bearer', 'Bearer other']) {
      expect(await status(`Authorization: ${auth}\r\n`), JSON.stringify(auth)).toBe(401);
    }
    // the query alone, or beside a header of another scheme, still opens
    expect(await status('')).toBe(101);
    expect(await status('Authorization: Basic eDp5\r\n')).toBe(101);
    expect(await status(`Authorization: bearer  ${KEY} \r\n`)).toBe(101);
  });
});
