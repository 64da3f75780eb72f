/**
 * HEAD on the plain HTTP routes, on both real carriers: RFC 9110 section 9.3.2 lets a HEAD response carry
 * Content-Length only when it equals what GET would send. uWebSockets.js sent `Content-Length: 0` (the length of the
 * empty body it was handed), which tells a probe that /healthz is empty; and the connection must serve on afterwards.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTransport, type HttpRoutes, type TransportServer } from '../../src/transports/index.js';
import { echoHandler, rawExchange, testGate } from './helpers.js';

const routes: HttpRoutes = {
  '/healthz': () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"status":"ok"}' }),
  '/bytes': () => ({ status: 200, headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array(300) }),
};

const servers: TransportServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function contentLength(response: string): string | undefined {
  return /\r\ncontent-length: *(\d+)\r\n/i.exec(response.split('\r\n\r\n')[0] + '\r\n')?.[1];
}

describe.each(['uws', 'ws'] as const)('HEAD over %s', (kind) => {
  it('sends no body, and a Content-Length only when it is GET\'s', async () => {
    const server = createTransport(kind, {}, echoHandler(), testGate, routes);
    servers.push(server);
    const port = await server.listen('127.0.0.1', 0);
    for (const [path, length] of [['/healthz', '15'], ['/bytes', '300'], ['/nope', '10']] as const) {
      const get = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const head = await rawExchange(port, `HEAD ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(head.split('\r\n')[0], path).toBe(get.split('\r\n')[0]);
      expect(head.endsWith('\r\n\r\n'), path).toBe(true);
      const headLength = contentLength(head);
      expect(headLength === undefined || headLength === length, `${path}: HEAD Content-Length ${headLength}`).toBe(true);
    }
    // the connection serves on after a HEAD (a probe's keep-alive connection)
    const both = await rawExchange(port, 'HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
      + 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(both.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
    expect(both.endsWith('{"status":"ok"}') || both.endsWith('{"status":"ok"}\r\n0\r\n\r\n')).toBe(true);
  });
});
