/**
 * TLS files that pass a one-certificate check but that a carrier cannot serve (tls.ts): a chain whose later
 * certificate is cut off (a half-written intermediate) failed on both carriers, and a file that starts with a byte
 * order mark (as Windows editors save UTF-8) failed on uWebSockets.js, each with the carrier's own error ("App
 * construction failed", an OpenSSL code) that named no file. Both are GW_ERR_BAD_CONFIG naming the file, on both
 * carriers; the committed test-only certificate (test/fixtures/tls/) and copies of it in a temporary directory.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot, resolveGatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { scriptedServices } from './helpers.js';

const FIXTURES = path.join(packageRoot(), 'test', 'fixtures', 'tls');
const CERT = readFileSync(path.join(FIXTURES, 'cert.pem'), 'utf8');
const KEY = readFileSync(path.join(FIXTURES, 'key.pem'), 'utf8');

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

/** Starts a gateway on `cert` / `key` written to files; resolves to the startup error, or null when it served. */
async function startWith(transport: 'uws' | 'ws', cert: string, key: string): Promise<{ code?: string; message: string } | null> {
  const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-tls-files-'));
  writeFileSync(path.join(dir, 'cert.pem'), cert);
  writeFileSync(path.join(dir, 'key.pem'), key);
  const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent',
    tlsCertFile: path.join(dir, 'cert.pem'), tlsKeyFile: path.join(dir, 'key.pem') });
  try {
    gateways.push(await startGateway(config, { services: scriptedServices({ auto: true }) }));
    return null;
  } catch (e) {
    return e as { code?: string; message: string };
  }
}

describe.each(['uws', 'ws'] as const)('TLS files over %s', (transport) => {
  it.each([
    ['a chain whose second certificate is cut off', CERT + CERT.slice(0, 200), KEY, /TLS certificate ".*cert\.pem": a certificate of its chain is not PEM/],
    ['a certificate with a byte order mark', `\ufeff${CERT}`, KEY, /TLS certificate ".*cert\.pem" starts with a byte order mark/],
    ['a key with a byte order mark', CERT, `\ufeff${KEY}`, /TLS key ".*key\.pem" starts with a byte order mark/],
  ])('%s -> GW_ERR_BAD_CONFIG naming the file', async (_what, cert, key, message) => {
    const e = await startWith(transport, cert, key);
    expect(e?.code).toBe('GW_ERR_BAD_CONFIG');
    expect(e?.message).toMatch(message);
  });

  it('serves a full chain (leaf and a further certificate) with CRLF line ends', async () => {
    expect(await startWith(transport, (CERT + CERT).replace(/\n/g, '\r\n'), KEY.replace(/\n/g, '\r\n'))).toBeNull();
  });
});
