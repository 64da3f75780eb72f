/**
 * Two API key reloads close together (a key rotated, then a key revoked, each followed by SIGHUP): the later reload's
 * file wins, whichever read finishes first. The first reload reads a FIFO that the test writes only after the second
 * reload has read its regular file, so the first read ends last for sure (no timing guess).
 */
import { spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { resolveGatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { connect, refusedUpgrade } from '../transports/helpers.js';
import { scriptedServices } from './helpers.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

/** Opens `fifo` for writing once a reader is waiting on it (O_NONBLOCK: ENXIO until then). */
async function writerOnceRead(fifo: string): Promise<number> {
  for (let i = 0; i < 2000; i++) {
    try {
      return openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENXIO') throw e;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  throw new Error('no reload opened the key file');
}

it('the later of two overlapping reloads decides the keys, even when its read finishes first', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-keys-'));
  const file = path.join(dir, 'keys.txt');
  writeFileSync(file, 'start-key\n');
  const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport: 'ws', logLevel: 'silent',
    apiKeysFile: file });
  const gw = await startGateway(config, { services: scriptedServices({ auto: true, endDelayMs: 2 }) });
  gateways.push(gw);

  const fifo = path.join(dir, 'keys.fifo');
  expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
  renameSync(fifo, file);
  const first = gw.reloadApiKeys(); // rotation: reads the FIFO, which holds "revoked-key"
  const fd = await writerOnceRead(file); // the first reload has opened the file
  writeFileSync(path.join(dir, 'next.txt'), 'kept-key\n');
  renameSync(path.join(dir, 'next.txt'), file); // revocation: "revoked-key" is gone
  const second = gw.reloadApiKeys();
  await Promise.race([second, new Promise((r) => setTimeout(r, 300))]);
  writeSync(fd, 'revoked-key\n');
  closeSync(fd);
  await Promise.all([first, second]);

  expect((await refusedUpgrade(gw.port, '/v1/stream?api_key=revoked-key')).status).toBe(401);
  (await connect(gw.port, '/v1/stream?api_key=kept-key')).close();
});
