/**
 * /metrics as a Prometheus server reads it, on a real gateway on loopback over both carriers with the real model and
 * real speech: every metric README names is served with the type and labels docs/protocol.md section 10 gives it, in
 * valid text exposition format (a strict reader, prom-text.ts), and counters never go down between scrapes.
 * (`voxgate_audio_seconds_total` against the audio sent: session-ended-stats.test.ts.)
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VoxgateClient } from '../../clients/node-client.js';
import type { Gateway } from '../../src/server/gateway.js';
import { longestFixture, ROOT, startRealGateway } from '../integration/helpers.js';
import { closed, connect, nextMessage, refusedUpgrade, until } from '../transports/helpers.js';
import { parsePrometheusText, valueOf, type Family, type MetricType } from './prom-text.js';

const KEY = 'Mx4-exposition-key';

/** `| `voxgate_a`, `voxgate_b` | type | ...` rows of docs/protocol.md section 10: name -> { type, labels }. */
function documentedMetrics(): Map<string, { type: string; labels: string[] }> {
  const doc = readFileSync(path.join(ROOT, 'docs', 'protocol.md'), 'utf8');
  const table = doc.split('Metrics (names are stable; labels as shown):')[1]!.split('\n\n')[1]!;
  const out = new Map<string, { type: string; labels: string[] }>();
  for (const row of table.split('\n').slice(2)) {
    const [, names, type] = row.split('|').map((c) => c.trim());
    for (const [, name, labels] of names!.matchAll(/`(voxgate_[a-z0-9_]+)(?:\{([a-z_,]+)\})?`/g)) {
      out.set(name!, { type: type!, labels: labels === undefined ? [] : labels.split(',') });
    }
  }
  return out;
}

/** The metric names of README's `GET /metrics` row. */
function readmeMetrics(): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const row = readme.split('\n').find((l) => l.startsWith('| `GET /metrics` |'))!;
  return [...row.matchAll(/`(voxgate_[a-z0-9_]+)(?:\{[a-z_,]+\})?`/g)].map((m) => m[1]!);
}

async function scrape(gw: Gateway): Promise<Map<string, Family>> {
  const res = await fetch(`http://127.0.0.1:${gw.port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parsePrometheusText(await res.text());
}

/** Every counter series (histogram buckets, sums and counts included) of `before` is <= its value in `after`. */
function expectMonotonic(before: Map<string, Family>, after: Map<string, Family>): void {
  for (const f of before.values()) {
    if (f.type !== 'counter' && f.type !== 'histogram') continue;
    for (const s of f.samples) {
      expect(valueOf(after, s.name, s.labels), `${s.name}${JSON.stringify(s.labels)}`).toBeGreaterThanOrEqual(s.value);
    }
  }
}

describe.each(['uws', 'ws'] as const)('/metrics exposition over %s (real model)', (transport) => {
  let gw: Gateway;
  let url: string;
  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-exposition-'));
    writeFileSync(path.join(dir, 'keys.txt'), `${KEY} name=acme\n`);
    gw = await startRealGateway(transport, { apiKeysFile: path.join(dir, 'keys.txt'), maxSessions: 2 });
    url = `ws://127.0.0.1:${gw.port}/v1/stream`;
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
  });

  it('serves every metric README names, typed and labelled as documented, as valid Prometheus text', async () => {
    const first = await scrape(gw);
    const { wav } = longestFixture();
    const a = await VoxgateClient.connect(url, { apiKey: KEY, start: { audio: { encoding: 'pcm_s16le',
      sample_rate_hz: wav.sampleRateHz, channels: 1 } } });
    const b = await VoxgateClient.connect(url, { apiKey: KEY, start: { audio: { encoding: 'pcm_s16le',
      sample_rate_hz: wav.sampleRateHz, channels: 1 } } });
    expect((await refusedUpgrade(gw.port, '/v1/stream', { authorization: `Bearer ${KEY}` })).status).toBe(503);
    expect((await refusedUpgrade(gw.port, '/v1/stream', { authorization: 'Bearer wrong' })).status).toBe(401);
    const frame = wav.sampleRateHz / 20 * wav.frameBytes;
    for (let off = 0; off < wav.data.byteLength; off += frame) await a.sendAudio(wav.data.subarray(off, off + frame));
    const during = await scrape(gw);
    expect(valueOf(during, 'voxgate_sessions_active')).toBe(2);
    expect(valueOf(during, 'voxgate_account_sessions', { account: 'acme' })).toBe(2);
    await a.end();
    await b.end();
    await a.closed;
    await b.closed;
    const raw = await connect(gw.port, `/v1/stream?api_key=${KEY}`);
    const rawClosed = closed(raw);
    raw.send('not json');
    expect(JSON.parse(String((await nextMessage(raw)).data))).toMatchObject({ code: 'GW_ERR_BAD_JSON', fatal: false });
    raw.close();
    await rawClosed;
    await until(() => gw.sessionCount() === 0);
    const last = await scrape(gw);

    const documented = documentedMetrics();
    const named = readmeMetrics();
    expect(named.length).toBeGreaterThan(15);
    for (const name of named) {
      const doc = documented.get(name);
      expect(doc, `${name} in docs/protocol.md section 10`).toBeDefined();
      for (const families of [first, during, last]) {
        const f = families.get(name);
        expect(f, `${name} served`).toBeDefined();
        expect(f!.type, name).toBe(doc!.type as MetricType);
        expect(f!.help, name).not.toBeNull();
        for (const s of f!.samples) {
          const labels = Object.keys(s.labels).filter((l) => !(f!.type === 'histogram' && l === 'le')).sort();
          expect(labels, `${s.name}${JSON.stringify(s.labels)}`).toEqual([...doc!.labels].sort());
        }
      }
      // a labelled metric has a series once the scrape saw what it counts (a gauge of the session just held)
      if (name !== 'voxgate_account_sessions' && name !== 'voxgate_sessions_active') {
        expect(last.get(name)!.samples.length + during.get(name)!.samples.length, `${name} has samples`).toBeGreaterThan(0);
      }
    }
    expect(valueOf(last, 'voxgate_upgrades_rejected_total', { code: 'GW_ERR_TOO_MANY_SESSIONS' })).toBe(1);
    expect(valueOf(last, 'voxgate_upgrades_rejected_total', { code: 'GW_ERR_UNAUTHORIZED' })).toBe(1);
    expect(valueOf(last, 'voxgate_sessions_total', { reason: 'client_end' })).toBe(2);
    expect(valueOf(last, 'voxgate_sessions_total', { reason: 'abandoned' })).toBe(1);
    expect(valueOf(last, 'voxgate_errors_total', { code: 'GW_ERR_BAD_JSON' })).toBe(1);
    expect(valueOf(last, 'voxgate_sessions_active')).toBe(0);
    expect(last.get('voxgate_account_sessions')!.samples).toEqual([]);
    expect(valueOf(last, 'voxgate_partial_latency_seconds_count')).toBeGreaterThan(0);
    expect(last.get('process_cpu_user_seconds_total')?.type).toBe('counter');
    expectMonotonic(first, during);
    expectMonotonic(during, last);
  }, 60_000);
});
