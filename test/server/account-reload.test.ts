/**
 * A key reload (SIGHUP) that changes which account a key belongs to moves the key's open sessions to that account:
 * the per-key session limit and `voxgate_account_sessions` follow the account as the file names it now (a rename,
 * two accounts merged, one split), so the new name cannot admit a second quota's worth beside the sessions still open.
 * A key the reload removes keeps its open sessions counted under its last account (the README's key rotation: the
 * new key must not get a fresh quota while the old key's sessions run). Real gateway on loopback, scripted pipelines.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { resolveGatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { closed, connect } from '../transports/helpers.js';
import { scriptedServices, until } from './helpers.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function start(transport: 'uws' | 'ws', keys: string) {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'voxgate-reload-')), 'keys.txt');
  writeFileSync(file, keys);
  const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent', apiKeysFile: file });
  const gw = await startGateway(config, { services: scriptedServices({ auto: true }) });
  gateways.push(gw);
  const open = async (key: string): Promise<WebSocket> => {
    const n = gw.sessionCount();
    const ws = await connect(gw.port, `/v1/stream?api_key=${key}`);
    await until(() => gw.sessionCount() === n + 1, 2000);
    return ws;
  };
  /** 101 when the upgrade is admitted (the socket is closed again at once), else the refusal's HTTP status. */
  const admits = (key: string): Promise<number> => new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/v1/stream?api_key=${key}`);
    ws.once('open', () => { ws.terminate(); resolve(101); });
    ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); res.resume(); });
    ws.once('error', reject);
  });
  const reload = async (text: string): Promise<void> => {
    writeFileSync(file, text);
    await gw.reloadApiKeys();
  };
  const gauge = async (): Promise<string[]> => (await gw.metrics.metricsText()).split('\n')
    .filter((l) => l.startsWith('voxgate_account_sessions{')).sort();
  const end = async (ws: WebSocket): Promise<void> => {
    const n = gw.sessionCount();
    const done = closed(ws);
    ws.close();
    await done;
    await until(() => gw.sessionCount() === n - 1, 2000);
  };
  return { gw, open, admits, reload, gauge, end };
}

describe.each(['ws', 'uws'] as const)('a reload moves open sessions to their key\'s account, over %s', (transport) => {
  it('a renamed account keeps its count: no second quota under the new name; the gauge follows', async () => {
    const t = await start(transport, 'k1 name=acme max_sessions=2\n');
    const a = await t.open('k1');
    const b = await t.open('k1');
    await t.reload('k1 name=globex max_sessions=2\n');
    expect(await t.admits('k1')).toBe(429);
    expect(await t.gauge()).toEqual(['voxgate_account_sessions{account="globex"} 2']);
    await t.end(a);
    expect(await t.gauge()).toEqual(['voxgate_account_sessions{account="globex"} 1']);
    await t.end(b);
    expect(await t.gauge()).toEqual([]);
    // a key without a name (its own account, sha256:...) given one later: the same
    await t.reload('k1 max_sessions=1\n');
    const c = await t.open('k1');
    await t.reload('k1 name=acme max_sessions=1\n');
    expect(await t.admits('k1')).toBe(429);
    expect(await t.gauge()).toEqual(['voxgate_account_sessions{account="acme"} 1']);
    await t.end(c);
    expect(await t.gauge()).toEqual([]);
  });

  it('two accounts merged count together; one account split counts apart', async () => {
    const t = await start(transport, 'ka name=alpha max_sessions=3\nkb name=beta max_sessions=3\n');
    const held = [await t.open('ka'), await t.open('ka'), await t.open('kb')];
    await t.reload('ka name=gamma max_sessions=3\nkb name=gamma max_sessions=3\n');
    expect(await t.gauge()).toEqual(['voxgate_account_sessions{account="gamma"} 3']);
    expect(await t.admits('ka')).toBe(429);
    expect(await t.admits('kb')).toBe(429);
    // split again, each half with a limit of 1: ka holds 2 (over its new limit: kept, new ones refused), kb holds 1
    await t.reload('ka name=gamma max_sessions=1\nkb name=delta max_sessions=1\n');
    expect(await t.gauge()).toEqual(['voxgate_account_sessions{account="delta"} 1',
      'voxgate_account_sessions{account="gamma"} 2']);
    expect(await t.admits('ka')).toBe(429);
    expect(await t.admits('kb')).toBe(429);
    await t.end(held[2]!);
    expect(await t.admits('kb')).toBe(101);
    await until(() => t.gw.sessionCount() === 2, 2000);
    for (const ws of held.slice(0, 2)) await t.end(ws);
    expect(await t.gauge()).toEqual([]);
  });

  it('a removed key\'s sessions keep counting under its last account (rotation grants no second quota)', async () => {
    const t = await start(transport, 'old name=acme max_sessions=1\n');
    const a = await t.open('old');
    await t.reload('new name=acme max_sessions=1\n');
    expect(await t.admits('old')).toBe(401);
    expect(await t.admits('new')).toBe(429);
    expect(await t.gauge()).toEqual(['voxgate_account_sessions{account="acme"} 1']);
    await t.end(a);
    expect(await t.gauge()).toEqual([]);
    expect(await t.admits('new')).toBe(101);
  });
});
