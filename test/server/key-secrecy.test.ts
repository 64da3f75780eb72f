/**
 * An API key never leaves the gateway through its logs (at trace level), its /metrics or its error messages, on both
 * real carriers: keys presented right and wrong, in the header and in the query, a session that ends with a close
 * reason the client chose, a reload with a bad line. The account shows as its name or `sha256:` and 8 hex digits.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { VoxgateClient } from '../../clients/node-client.js';
import { resolveGatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { createLogger } from '../../src/server/logger.js';
import { closed, connect, refusedUpgrade } from '../transports/helpers.js';
import { pcm16, scriptedServices, START_16K, until } from './helpers.js';

const NAMED = 'Kq7-named-secret';
const UNNAMED = 'Zx9-unnamed-secret';
const WRONG = 'Wv3-wrong-secret';

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

describe.each(['uws', 'ws'] as const)('API key secrecy over %s', (transport) => {
  it('no key in logs, metrics or answers', async () => {
    let logged = '';
    const destination = new Writable({ write(chunk: Buffer, _enc, cb) { logged += chunk.toString(); cb(); } });
    const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-secrecy-'));
    const file = path.join(dir, 'keys.txt');
    writeFileSync(file, `${NAMED} name=acme\n${UNNAMED}\n`);
    const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, apiKeysFile: file });
    const gw = await startGateway(config, { services: scriptedServices({ auto: true }),
      logger: createLogger({ level: 'trace', destination }) });
    gateways.push(gw);
    const url = `ws://127.0.0.1:${gw.port}/v1/stream`;

    const answers = [
      (await refusedUpgrade(gw.port, `/v1/stream?api_key=${WRONG}`)).body,
      (await refusedUpgrade(gw.port, '/v1/stream', { authorization: `Bearer ${WRONG}` })).body,
    ];
    const a = await VoxgateClient.connect(url, { apiKey: NAMED, start: { audio: START_16K.audio } });
    const b = await VoxgateClient.connect(url, { apiKey: UNNAMED, apiKeyIn: 'query', start: { audio: START_16K.audio } });
    await a.sendAudio(pcm16(100));
    await Promise.all([a.end(), b.end()]);
    const raw = await connect(gw.port, `/v1/stream?api_key=${UNNAMED}`);
    const rawClosed = closed(raw);
    raw.close(4321, `bye ${WRONG}`); // a close reason is the client's text, logged as sent
    await rawClosed;
    await until(() => gw.sessionCount() === 0, 2000, 'sessions closed');

    writeFileSync(file, `${NAMED} name=acme\n${UNNAMED} colour=red\n`);
    const reload = await gw.reloadApiKeys().then(() => 'ok', (e: Error) => e.message);
    answers.push(reload);
    const metrics = await gw.metrics.metricsText();

    expect(logged).toContain('"account":"acme"');
    expect(logged).toMatch(/"account":"sha256:[0-9a-f]{8}"/);
    expect(metrics).toContain('voxgate_upgrades_rejected_total{code="GW_ERR_UNAUTHORIZED"} 2');
    for (const key of [NAMED, UNNAMED]) {
      expect(logged.includes(key), `${key} in the log`).toBe(false);
      expect(metrics.includes(key), `${key} in /metrics`).toBe(false);
      expect(answers.join('\n').includes(key), `${key} in ${JSON.stringify(answers)}`).toBe(false);
    }
    expect(answers.join('\n')).not.toContain(WRONG);
  });
});
