/**
 * wss:// and https:// on both real carriers with the committed test-only certificate (test/fixtures/tls/, made by
 * test/fixtures/gen-tls-fixtures.sh): a full session over wss, /healthz over https, a plain ws:// client refused;
 * and the credentials checked at startup (GW_ERR_BAD_CONFIG for a missing file, a non-PEM file, a key that does not
 * belong to the certificate, or only one of the two flags). The speech pipeline is scripted (the TLS layer is the
 * subject; test/integration/ runs the real model).
 */
import { readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { VoxgateClient } from '../../clients/node-client.js';
import type { GatewayError } from '../../src/protocol/errors.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { packageRoot, resolveGatewayConfig, type GatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { pcm16, scriptedServices, START_16K } from './helpers.js';

const DIR = path.join(packageRoot(), 'test', 'fixtures', 'tls');
const CERT = path.join(DIR, 'cert.pem'), KEY = path.join(DIR, 'key.pem'), OTHER_KEY = path.join(DIR, 'other-key.pem');
const ca = readFileSync(CERT);

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function start(transport: 'uws' | 'ws', tls: Partial<GatewayConfig>): Promise<Gateway> {
  const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent', ...tls });
  const gw = await startGateway(config, { services: scriptedServices({ auto: true }) });
  gateways.push(gw);
  return gw;
}

function healthz(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpsGet({ host: '127.0.0.1', port, path: '/healthz', ca }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe.each(['uws', 'ws'] as const)('TLS over %s', (transport) => {
  it('serves a full session over wss:// and /healthz over https://; plain ws:// gets no session', async () => {
    const gw = await start(transport, { tlsCertFile: CERT, tlsKeyFile: KEY });
    expect(await healthz(gw.port)).toEqual({ status: 200, body: '{"status":"ok"}' });
    const ws = new WebSocket(`wss://127.0.0.1:${gw.port}/v1/stream`, { ca });
    const msgs: ServerMessage[] = [];
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    ws.on('message', (d: Buffer) => msgs.push(JSON.parse(d.toString()) as ServerMessage));
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    ws.send(JSON.stringify(START_16K));
    ws.send(pcm16(200));
    ws.send(JSON.stringify({ type: 'session.end' }));
    expect(await closed).toBe(1000);
    expect(msgs[0]).toMatchObject({ type: 'session.started' });
    expect(msgs[msgs.length - 1]).toMatchObject({ type: 'session.ended', reason: 'client_end', audio_ms: 200 });

    // the bundled client, given the certificate
    const client = await VoxgateClient.connect(`wss://127.0.0.1:${gw.port}/v1/stream`, { ca, start: { audio: START_16K.audio } });
    await client.sendAudio(pcm16(100));
    expect((await client.end()).reason).toBe('client_end');

    const plain = new WebSocket(`ws://127.0.0.1:${gw.port}/v1/stream`);
    const outcome = await new Promise<string>((resolve) => {
      plain.once('open', () => resolve('open'));
      plain.once('error', () => resolve('error'));
      plain.once('unexpected-response', () => resolve('refused'));
    });
    plain.terminate();
    expect(outcome).not.toBe('open');
  });
});

describe('TLS credentials are checked at startup', () => {
  it.each([
    ['a missing certificate', { tlsCertFile: path.join(DIR, 'nope.pem'), tlsKeyFile: KEY }, /cannot read the TLS certificate .*nope\.pem/],
    ['a key that is not PEM', { tlsCertFile: CERT, tlsKeyFile: path.join(DIR, '..', 'gen-tls-fixtures.sh') }, /is not a PEM private key/],
    ['a certificate that is not PEM', { tlsCertFile: KEY, tlsKeyFile: KEY }, /is not a PEM certificate/],
    ['a key of another certificate', { tlsCertFile: CERT, tlsKeyFile: OTHER_KEY }, /does not belong to the certificate/],
  ])('%s -> GW_ERR_BAD_CONFIG', async (_what, tls, message) => {
    const e = await start('ws', tls).then(() => null, (err: unknown) => err as GatewayError);
    expect(e?.code).toBe('GW_ERR_BAD_CONFIG');
    expect(e?.message).toMatch(message);
  });

  it('needs both files', () => {
    expect(() => resolveGatewayConfig({ tlsCertFile: CERT })).toThrow(/tlsCertFile and tlsKeyFile go together/);
  });
});
