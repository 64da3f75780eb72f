/**
 * The gateway on loopback: real transports (uWebSockets.js native and ws), real `ws` clients (raw sockets and
 * clients/node-client.ts), real upgrade gate and HTTP routes. Only the speech pipeline is scripted (no model needed;
 * test/integration/ runs the real one).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VoxgateClient } from '../../clients/node-client.js';
import type { GatewayError } from '../../src/protocol/errors.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { resolveGatewayConfig, type GatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { clientSocket, closed, connect, refusedUpgrade } from '../transports/helpers.js';
import { inbox, pcm16, scriptedServices, START_16K, startedSession, until, upgradeStatus } from './helpers.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function start(transport: 'uws' | 'ws', overrides: Partial<GatewayConfig> = {}, endDelayMs = 2) {
  const services = scriptedServices({ auto: true, endDelayMs });
  const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent', ...overrides });
  const gw = await startGateway(config, { services });
  gateways.push(gw);
  return { gw, services, url: `ws://127.0.0.1:${gw.port}/v1/stream` };
}

async function httpGet(port: number, p: string): Promise<{ status: number; body: string; type: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}${p}`);
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
}

describe.each(['uws', 'ws'] as const)('gateway over %s (scripted pipeline)', (transport) => {
  it('serves /healthz, /readyz and /metrics; unknown paths 404', async () => {
    const { gw } = await start(transport);
    expect(gw.transport).toBe(transport);
    expect(await httpGet(gw.port, '/healthz')).toMatchObject({ status: 200, body: '{"status":"ok"}' });
    expect(JSON.parse((await httpGet(gw.port, '/readyz')).body)).toEqual({ status: 'ready', sessions: 0 });
    const metrics = await httpGet(gw.port, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toContain('text/plain');
    for (const name of ['voxgate_sessions_active', 'voxgate_audio_seconds_total', 'voxgate_partial_latency_seconds_bucket',
      'voxgate_flow_pauses_total', 'voxgate_encoder_queue_depth']) expect(metrics.body).toContain(name);
    expect((await httpGet(gw.port, '/nope')).status).toBe(404);
    expect((await refusedUpgrade(gw.port, '/v2/stream')).status).toBe(404);
  });

  it('/readyz is 503 "failed" once every encoder worker gave up, 200 while one still works', async () => {
    let failedWorkers = 1;
    const services = { ...scriptedServices({ auto: true }),
      stats: () => ({ batches: 0, chunks: 0, meanBatch: 0, queueDepth: 0, openStreams: [0, 0], failedWorkers }) };
    const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent' });
    const gw = await startGateway(config, { services });
    gateways.push(gw);
    expect(await httpGet(gw.port, '/readyz')).toMatchObject({ status: 200 });
    expect((await httpGet(gw.port, '/metrics')).body).toContain('voxgate_encoder_workers_failed 1');
    failedWorkers = 2;
    const r = await httpGet(gw.port, '/readyz');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toEqual({ status: 'failed', sessions: 0 });
  });

  it('load shedding: while transcripts lag past --overload-latency-ms, upgrades get 503 and /readyz "overloaded"', async () => {
    const services = scriptedServices(); // partials come when the test says: their latency_ms is the test's to set
    const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent',
      overloadLatencyMs: 300 });
    const gw = await startGateway(config, { services });
    gateways.push(gw);
    const client = await VoxgateClient.connect(`ws://127.0.0.1:${gw.port}/v1/stream`, { start: { audio: START_16K.audio } });
    await client.sendAudio(pcm16(40));
    await until(() => services.created[0]?.backlog === 40, 2000, 'audio pushed');
    await new Promise((r) => setTimeout(r, 400));
    // the lag as the session's clock (performance.now) reads it: a busy machine woke the sleep 100 ms and more late
    const p = services.created[0]!;
    const fromMs = Math.round(performance.now() - p.lastArrivalMs);
    p.emitPartial('late', ''); // 400 ms or more behind its audio
    const toMs = Math.round(performance.now() - p.lastArrivalMs);
    const r = await refusedUpgrade(gw.port, '/v1/stream');
    expect(r.status).toBe(503);
    expect(r.retryAfter).toBeDefined();
    const refusal = JSON.parse(r.body) as { code: string; message: string };
    expect(refusal).toMatchObject({ code: 'GW_ERR_TOO_MANY_SESSIONS',
      message: expect.stringMatching(/transcripts lag \d+ ms behind the audio, over 300 ms/) });
    const lagMs = Number(/lag (\d+) ms/.exec(refusal.message)![1]);
    expect(lagMs).toBeGreaterThanOrEqual(fromMs);
    expect(lagMs).toBeLessThanOrEqual(toMs);
    const ready = await httpGet(gw.port, '/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toEqual({ status: 'overloaded', sessions: 1 });
    const p90 = /^voxgate_transcript_latency_p90_seconds (\S+)$/m.exec((await httpGet(gw.port, '/metrics')).body)?.[1];
    expect(Number(p90)).toBeCloseTo(lagMs / 1000, 6);
    // the session admitted before keeps running; once transcripts keep up, sessions are admitted again
    for (let k = 0; k < 10; k++) {
      await client.sendAudio(pcm16(40));
      await until(() => services.created[0]!.backlog === 40 * (k + 2), 2000, 'audio pushed');
      services.created[0]!.emitPartial(`fast ${k}`, '');
    }
    expect((await httpGet(gw.port, '/readyz')).status).toBe(200);
    const again = await VoxgateClient.connect(`ws://127.0.0.1:${gw.port}/v1/stream`, { start: { audio: START_16K.audio } });
    again.close();
    client.close();
  });

  it('a full session with the node client: started -> partials (seq +1) -> final -> ended -> close 1000', async () => {
    const { url } = await start(transport);
    const client = await VoxgateClient.connect(url, { start: { audio: START_16K.audio, latency: 'low' } });
    expect(client.started).toMatchObject({ model: 'test-model', chunk_ms: 160 });
    const msgs: ServerMessage[] = [];
    client.onMessage((m) => msgs.push(m));
    for (let i = 0; i < 5; i++) {
      await client.sendAudio(pcm16(50));
      await until(() => msgs.filter((m) => m.type === 'transcript.partial').length === i + 1, 2000, `partial ${i}`);
    }
    const ended = await client.end();
    expect((await client.closed).code).toBe(1000);
    const transcripts = msgs.filter((m) => m.type === 'transcript.partial' || m.type === 'transcript.final');
    expect(transcripts.map((m) => ('seq' in m ? m.seq : -1))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(transcripts[5]).toMatchObject({ type: 'transcript.final', text: 'w0 w1 w2 w3 w4', reason: 'session_end' });
    expect(ended).toMatchObject({ reason: 'client_end', audio_ms: 250, stats: { processed_audio_ms: 250, frames_received: 5 } });
  });

  it('error paths get their stable codes while a concurrent session keeps working', async () => {
    const { gw, url } = await start(transport);
    const good = await VoxgateClient.connect(url, { start: { audio: START_16K.audio } });
    const goodMsgs: ServerMessage[] = [];
    good.onMessage((m) => goodMsgs.push(m));

    const bad = await connect(gw.port, '/v1/stream');
    const badIn = inbox(bad);
    bad.send('{oops');
    expect(await badIn.next()).toMatchObject({ type: 'error', code: 'GW_ERR_BAD_JSON', fatal: false });
    bad.send(JSON.stringify({ type: 'nope' }));
    expect(await badIn.next()).toMatchObject({ code: 'GW_ERR_UNKNOWN_TYPE', fatal: false });
    const badClosed = closed(bad);
    bad.send(pcm16(20));
    expect(await badIn.next()).toMatchObject({ code: 'GW_ERR_NOT_STARTED', fatal: true });
    expect((await badClosed).code).toBe(4000);

    const odd = await connect(gw.port, '/v1/stream');
    const oddIn = inbox(odd);
    odd.send(JSON.stringify(START_16K));
    expect(await oddIn.next()).toMatchObject({ type: 'session.started' });
    odd.send(JSON.stringify(START_16K));
    expect(await oddIn.next()).toMatchObject({ code: 'GW_ERR_ALREADY_STARTED', fatal: false });
    const oddClosed = closed(odd);
    odd.send(new Uint8Array(5));
    expect(await oddIn.next()).toMatchObject({ code: 'GW_ERR_PARTIAL_SAMPLE', fatal: true });
    expect(await oddIn.next()).toMatchObject({ type: 'session.ended', reason: 'error', error_code: 'GW_ERR_PARTIAL_SAMPLE' });
    expect((await oddClosed).code).toBe(4000);

    const big = await connect(gw.port, '/v1/stream');
    const bigIn = inbox(big);
    big.send(JSON.stringify(START_16K));
    await bigIn.next();
    const bigClosed = closed(big);
    big.send(new Uint8Array(1024 * 1024 + 2));
    expect(await bigIn.next()).toMatchObject({ code: 'GW_ERR_FRAME_TOO_LARGE', fatal: true });
    expect((await bigClosed).code).toBe(1009);

    expect((await good.ping('still-here')).id).toBe('still-here');
    await good.sendAudio(pcm16(100));
    const ended = await good.end();
    expect(ended.reason).toBe('client_end');
    expect(goodMsgs.some((m) => m.type === 'transcript.final')).toBe(true);
    await until(() => gw.sessionCount() === 0, 2000, 'all sessions closed');
    const metrics = await gw.metrics.metricsText();
    expect(metrics).toContain('voxgate_errors_total{code="GW_ERR_PARTIAL_SAMPLE"} 1');
    expect(metrics).toContain('voxgate_errors_total{code="GW_ERR_FRAME_TOO_LARGE"} 1');
    expect(metrics).toContain('voxgate_sessions_total{reason="client_end"} 1');
  });

  it('a frame over 1 MiB ends a started session as every fatal error does: error, session.ended, close 1009', async () => {
    const { gw } = await start(transport);
    const ws = await connect(gw.port, '/v1/stream');
    const box = inbox(ws);
    ws.send(JSON.stringify(START_16K));
    expect(await box.next()).toMatchObject({ type: 'session.started' });
    ws.send(pcm16(100));
    while ((await box.next()).type !== 'transcript.partial'); // the audio is decoded: nothing else is on its way
    const done = closed(ws);
    const tail: ServerMessage[] = [];
    ws.on('message', (data: Buffer) => tail.push(JSON.parse(data.toString()) as ServerMessage));
    ws.send(new Uint8Array(1024 * 1024 + 2));
    expect((await done).code).toBe(1009);
    expect(tail).toEqual([expect.objectContaining({ type: 'error', code: 'GW_ERR_FRAME_TOO_LARGE', fatal: true }),
      expect.objectContaining({ type: 'session.ended', reason: 'error', error_code: 'GW_ERR_FRAME_TOO_LARGE',
        stats: expect.objectContaining({ bytes_received: 3200, frames_received: 1 }) })]);
    await until(() => gw.sessionCount() === 0, 2000, 'session closed');
    expect(await gw.metrics.metricsText()).toContain('voxgate_errors_total{code="GW_ERR_FRAME_TOO_LARGE"} 1');
  });

  it('API keys: missing or wrong key -> 401 GW_ERR_UNAUTHORIZED; header and query keys are accepted', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-keys-'));
    const file = path.join(dir, 'keys.txt');
    writeFileSync(file, '# test keys\nsecret-1\n');
    const { gw, url } = await start(transport, { apiKeysFile: file });
    for (const p of ['/v1/stream', '/v1/stream?api_key=wrong']) {
      const r = await refusedUpgrade(gw.port, p);
      expect(r.status).toBe(401);
      expect(JSON.parse(r.body)).toMatchObject({ code: 'GW_ERR_UNAUTHORIZED' });
    }
    expect((await refusedUpgrade(gw.port, '/v1/stream', { authorization: 'Bearer nope' })).status).toBe(401);
    const err = await VoxgateClient.connect(url, { apiKey: 'bad', start: { audio: START_16K.audio } })
      .then(() => null, (e: GatewayError) => e);
    expect(err?.code).toBe('GW_ERR_UNAUTHORIZED');
    const a = await VoxgateClient.connect(url, { apiKey: 'secret-1', start: { audio: START_16K.audio } });
    const b = await VoxgateClient.connect(url, { apiKey: 'secret-1', apiKeyIn: 'query', start: { audio: START_16K.audio } });
    await Promise.all([a.end(), b.end()]);
    expect(await gw.metrics.metricsText()).toContain('voxgate_upgrades_rejected_total{code="GW_ERR_UNAUTHORIZED"} 4');
  });

  it('API keys reload: new upgrades see the new file, an open session keeps running, a bad file keeps the old keys', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-keys-'));
    const file = path.join(dir, 'keys.txt');
    writeFileSync(file, 'old-key\n');
    const { gw, url } = await start(transport, { apiKeysFile: file });
    const open = await VoxgateClient.connect(url, { apiKey: 'old-key', start: { audio: START_16K.audio } });
    writeFileSync(file, 'new-key\nsecond-key\n');
    expect(await gw.reloadApiKeys()).toBe(2);
    expect((await refusedUpgrade(gw.port, '/v1/stream?api_key=old-key')).status).toBe(401);
    const fresh = await VoxgateClient.connect(url, { apiKey: 'new-key', start: { audio: START_16K.audio } });
    await open.sendAudio(pcm16(100)); // admitted under the old file, still served
    expect((await open.end()).reason).toBe('client_end');
    writeFileSync(file, '# no keys left\n');
    await expect(gw.reloadApiKeys()).rejects.toMatchObject({ code: 'GW_ERR_BAD_CONFIG' });
    const again = await VoxgateClient.connect(url, { apiKey: 'second-key', start: { audio: START_16K.audio } });
    await Promise.all([fresh.end(), again.end()]);
  });

  it('per-key session limits -> 429 GW_ERR_KEY_SESSION_LIMIT; keys of one name share a count; racing upgrades', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-keys-'));
    const file = path.join(dir, 'keys.txt');
    writeFileSync(file, 'acme-old name=acme max_sessions=2\nacme-new name=acme max_sessions=2\nsolo\n');
    const { gw, url } = await start(transport, { apiKeysFile: file, maxSessionsPerKey: 1 });
    const join = (apiKey: string) => VoxgateClient.connect(url, { apiKey, start: { audio: START_16K.audio } });
    const a1 = await join('acme-old');
    const a2 = await join('acme-new');
    const s1 = await join('solo'); // no max_sessions of its own: --max-sessions-per-key 1
    for (const key of ['acme-old', 'acme-new', 'solo']) {
      const r = await refusedUpgrade(gw.port, `/v1/stream?api_key=${key}`);
      expect({ status: r.status, retryAfter: r.retryAfter }).toEqual({ status: 429, retryAfter: '1' });
      expect(JSON.parse(r.body)).toMatchObject({ code: 'GW_ERR_KEY_SESSION_LIMIT', fatal: true });
    }
    const err = await join('solo').then(() => null, (e: GatewayError) => e);
    expect(err?.code).toBe('GW_ERR_KEY_SESSION_LIMIT');
    const metrics = await gw.metrics.metricsText();
    expect(metrics).toContain('voxgate_account_sessions{account="acme"} 2');
    expect(metrics).toMatch(/voxgate_account_sessions\{account="sha256:[0-9a-f]{8}"\} 1/);
    expect(metrics).toContain('voxgate_upgrades_rejected_total{code="GW_ERR_KEY_SESSION_LIMIT"} 4');
    await a1.end();
    await until(() => gw.sessionCount() === 2, 2000, 'acme slot freed');
    // one slot free, five upgrades at once: exactly one opens
    const raced = await Promise.allSettled(Array.from({ length: 5 }, () => join('acme-new')));
    expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(raced.filter((r) => r.status === 'rejected').map((r) => (r.reason as GatewayError).code))
      .toEqual(Array(4).fill('GW_ERR_KEY_SESSION_LIMIT'));
    // a reload that lowers the limit keeps the open sessions and refuses new ones
    writeFileSync(file, 'acme-new name=acme max_sessions=1\nsolo max_sessions=3\n');
    await gw.reloadApiKeys();
    expect((await refusedUpgrade(gw.port, '/v1/stream?api_key=acme-new')).status).toBe(429);
    const s2 = await join('solo');
    await a2.sendAudio(pcm16(100));
    const winner = (raced.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<VoxgateClient>).value;
    await Promise.all([a2.end(), s1.end(), s2.end(), winner.end()]);
    await until(() => gw.sessionCount() === 0, 2000, 'all closed');
    expect(await gw.metrics.metricsText()).not.toContain('voxgate_account_sessions{');
  });

  it('too many sessions -> 503 GW_ERR_TOO_MANY_SESSIONS; a slot frees when a session ends', async () => {
    const { gw, url } = await start(transport, { maxSessions: 1 });
    const first = await VoxgateClient.connect(url, { start: { audio: START_16K.audio } });
    const r = await refusedUpgrade(gw.port, '/v1/stream');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'GW_ERR_TOO_MANY_SESSIONS' });
    expect((await httpGet(gw.port, '/readyz')).status).toBe(200); // the limit is per upgrade, not readiness
    await first.end();
    await until(() => gw.sessionCount() === 0, 2000, 'slot freed');
    const second = await VoxgateClient.connect(url, { start: { audio: START_16K.audio } });
    await second.end();
  });

  it('start timeout: a socket that only pings gets GW_ERR_START_TIMEOUT, close 4006, and frees its slot', async () => {
    const { gw, url } = await start(transport, { maxSessions: 1, startTimeoutMs: 200 });
    const t0 = Date.now(); // before the upgrade, which arms the deadline: the client may see its 101 much later
    const lingerer = await connect(gw.port, '/v1/stream');
    const box = inbox(lingerer);
    const lingererClosed = closed(lingerer);
    const pinger = setInterval(() => lingerer.send(JSON.stringify({ type: 'ping' })), 40);
    try {
      expect(await lingererClosed).toEqual({ code: 4006, reason: 'GW_ERR_START_TIMEOUT' });
    } finally {
      clearInterval(pinger);
    }
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    let msg = await box.next();
    while (msg.type === 'pong') msg = await box.next();
    expect(msg).toEqual({ type: 'error', code: 'GW_ERR_START_TIMEOUT', fatal: true,
      message: 'no session.start within 200 ms' });
    await until(() => gw.sessionCount() === 0, 2000, 'slot freed');
    const next = await VoxgateClient.connect(url, { start: { audio: START_16K.audio } });
    await next.end();
  });

  it('drain: open utterance finalised (reason shutdown), error, session.ended, close 1001; new upgrades 503', async () => {
    const { gw, url, services } = await start(transport, {}, 300);
    const client = await VoxgateClient.connect(url, { start: { audio: START_16K.audio } });
    const idle = await connect(gw.port, '/v1/stream'); // connected, never started
    const idleClosed = closed(idle);
    const msgs: ServerMessage[] = [];
    client.onMessage((m) => msgs.push(m));
    await client.sendAudio(pcm16(100));
    await until(() => msgs.some((m) => m.type === 'transcript.partial'), 2000, 'a partial');
    const draining = gw.drain();
    const refused = await refusedUpgrade(gw.port, '/v1/stream');
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'GW_ERR_SHUTTING_DOWN' });
    expect(await httpGet(gw.port, '/readyz')).toMatchObject({ status: 503, body: '{"status":"draining"}' });
    await draining;
    expect((await client.closed).code).toBe(1001);
    expect((await idleClosed).code).toBe(1001);
    const tail = msgs.slice(-3);
    expect(tail.map((m) => m.type)).toEqual(['transcript.final', 'error', 'session.ended']);
    expect(tail[0]).toMatchObject({ reason: 'shutdown' });
    expect(tail[1]).toMatchObject({ code: 'GW_ERR_SHUTTING_DOWN', fatal: true });
    expect(tail[2]).toMatchObject({ reason: 'error', error_code: 'GW_ERR_SHUTTING_DOWN' });
    expect(services.closedCalls).toBe(1);
    expect(await upgradeStatus(gw.port)).toBe('refused'); // stopped listening after the drain
  });

  it('drain: a client that leaves while its session is being finalised does not hold the drain to its deadline',
    async () => {
      // The pipeline's end() takes 1.5 s; the client goes 50 ms into the drain. A released (disposed) pipeline never
      // completes events$ (the real one's end() never settles either): waiting for it held the drain for 6 s.
      const { gw, services } = await start(transport, { drainTimeoutMs: 6000 }, 1500);
      const { ws } = await startedSession(gw.port, services, 100, connect);
      const draining = gw.drain();
      await new Promise((r) => setTimeout(r, 50));
      ws.close(1000, 'bye');
      await draining;
      // ordered, not timed: the drain was over before the released pipeline's end() (1.5 s) would have settled
      expect(services.created[0]!).toMatchObject({ endReason: 'shutdown', disposed: true, endSettled: false });
    });

  it('a slow consumer that never reads again is counted as GW_ERR_SLOW_CONSUMER (4004), not as abandoned', async () => {
    const { gw, services } = await start(transport, { outboundSoftLimitBytes: 16 * 1024,
      outboundHardLimitBytes: 64 * 1024 });
    const { ws } = await startedSession(gw.port, services, 20, connect);
    clientSocket(ws).pause();
    // Finals are never dropped: 64 KiB ones fill the kernel's buffers, then the server's, past the hard limit.
    const p = services.created[0]!;
    const word = 'a'.repeat(64 * 1024);
    for (let i = 0; i < 1024 && !p.disposed; i++) {
      p.emitFinal('silence', word);
      await new Promise((r) => setImmediate(r));
    }
    ws.terminate(); // the consumer never read again: no close frame comes back (ws then reported 1006)
    await until(() => gw.sessionCount() === 0, 3000, 'session closed');
    const metrics = await gw.metrics.metricsText();
    expect(metrics).toContain('voxgate_errors_total{code="GW_ERR_SLOW_CONSUMER"} 1');
    expect(metrics).toContain('voxgate_sessions_total{reason="GW_ERR_SLOW_CONSUMER"} 1');
  });
});

describe('gateway transport choice', () => {
  it('runs uWebSockets.js on its native binary when uws is asked for', async () => {
    const { gw } = await start('uws');
    expect(gw.transport).toBe('uws');
    expect(gw.nativeBinary).toBe(true);
  });

  it('refuses to start when the API key file is missing (GW_ERR_BAD_CONFIG)', async () => {
    const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport: 'ws', logLevel: 'silent',
      apiKeysFile: '/nonexistent/keys.txt' });
    await expect(startGateway(config, { services: scriptedServices() })).rejects.toMatchObject({ code: 'GW_ERR_BAD_CONFIG' });
  });
});
