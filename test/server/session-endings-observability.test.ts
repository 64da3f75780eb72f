/**
 * Every way a session can end, on a real gateway on loopback (uWS, the default) with the real model and real speech,
 * seen from /metrics and the log: `voxgate_sessions_active` is back at 0 after each (session.end, the client's close,
 * a dropped TCP connection, a fatal protocol error, an encoder worker crash, the start and idle timeouts, the drain),
 * no counter goes down between scrapes, /readyz is 503 "draining" while the drain still holds a session and /healthz
 * stays 200; every log line about a session carries its `session_id` (the encoder crash's error included), and no
 * line carries the API key or audio bytes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { VoxgateClient } from '../../clients/node-client.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { resolveGatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { createLogger } from '../../src/server/logger.js';
import { loadSpeechEngine } from '../../src/server/speech-engine.js';
import { longestFixture, MODEL_DIR, repeatPcm } from '../integration/helpers.js';
import { closed, connect } from '../transports/helpers.js';
import { until } from './helpers.js';
import { parsePrometheusText, valueOf, type Family } from './prom-text.js';

const KEY = 'Qp8-endings-secret-key';
/** Lines of the gateway itself, about no one session. */
const GATEWAY_LINES = new Set(['listening', 'model loaded, ready', 'draining', 'stopped']);

type Log = Record<string, unknown> & { msg: string };

function checkCounters(before: Map<string, Family>, after: Map<string, Family>, what: string): void {
  for (const f of before.values()) {
    if (f.type !== 'counter' && f.type !== 'histogram') continue;
    for (const s of f.samples) {
      expect(valueOf(after, s.name, s.labels), `${what}: ${s.name}${JSON.stringify(s.labels)} went down`)
        .toBeGreaterThanOrEqual(s.value);
    }
  }
}

/** Messages of a raw socket; resolves `started()` with session.started's id. */
function record(ws: WebSocket): { msgs: ServerMessage[]; started: () => Promise<string> } {
  const msgs: ServerMessage[] = [];
  ws.on('message', (d: Buffer) => msgs.push(JSON.parse(d.toString()) as ServerMessage));
  return {
    msgs,
    started: async () => {
      await until(() => msgs.some((m) => m.type === 'session.started'), 5000, 'session.started');
      const m = msgs.find((x) => x.type === 'session.started')!;
      return (m as { session_id: string }).session_id;
    },
  };
}

// One carrier for suite time: what differs by carrier at a session's end (close origin, close codes, counted
// reasons) is covered on both by test/transports/close-origin.test.ts and test/server/session-outcome.test.ts.
describe.each(['uws'] as const)('session endings over %s (real model)', (transport) => {
  it('gauge back to 0 after every ending, counters monotonic, /readyz drains first, logs keyed by session_id',
    async () => {
      let logged = '';
      const destination = new Writable({ write(chunk: Buffer, _e, cb) { logged += chunk.toString(); cb(); } });
      const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-endings-'));
      writeFileSync(path.join(dir, 'keys.txt'), `${KEY}\n`);
      const engine = await loadSpeechEngine({ modelDir: MODEL_DIR, precision: 'auto', encoderWorkers: 1 });
      // load shedding off (gateway.test.ts tests it): on a busy machine the model's transcripts lagged past the
      // default 500 ms and the next upgrade got 503
      const gw: Gateway = await startGateway(resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport,
        apiKeysFile: path.join(dir, 'keys.txt'), startTimeoutMs: 500, idleTimeoutMs: 500, drainTimeoutMs: 30_000,
        overloadLatencyMs: 0 }),
      { services: engine, logger: createLogger({ level: 'trace', destination }) });
      const base = `http://127.0.0.1:${gw.port}`;
      const url = `ws://127.0.0.1:${gw.port}/v1/stream`;
      const { wav } = longestFixture();
      const start = JSON.stringify({ type: 'session.start', audio: { encoding: 'pcm_s16le', sample_rate_hz: 16000,
        channels: 1 } });
      const frame = 1600 * 2;
      const ids: string[] = [];
      let previous = parsePrometheusText(await gw.metrics.metricsText());
      const settled = async (what: string): Promise<void> => {
        await until(() => gw.sessionCount() === 0, 10_000, `${what}: sessions closed`);
        const now = parsePrometheusText(await gw.metrics.metricsText());
        expect(valueOf(now, 'voxgate_sessions_active'), what).toBe(0);
        checkCounters(previous, now, what);
        previous = now;
      };
      const raw = async (): Promise<{ ws: WebSocket; rec: ReturnType<typeof record>; done: Promise<unknown> }> => {
        const ws = await connect(gw.port, `/v1/stream?api_key=${KEY}`);
        ws.on('error', () => undefined);
        return { ws, rec: record(ws), done: closed(ws) };
      };
      /** A raw socket whose session has started (its id recorded). */
      const started = async (): ReturnType<typeof raw> => {
        const s = await raw();
        s.ws.send(start);
        ids.push(await s.rec.started());
        return s;
      };
      /** The socket closes after an error with `code`; then the gauge and counters are checked. */
      const endsWith = async (s: Awaited<ReturnType<typeof raw>>, code: string, what: string): Promise<void> => {
        await s.done;
        expect(s.rec.msgs.find((m) => m.type === 'error')).toMatchObject({ code });
        await settled(what);
      };
      try {
        // 1. session.end
        const a = await VoxgateClient.connect(url, { apiKey: KEY, start: { audio: { encoding: 'pcm_s16le',
          sample_rate_hz: 16000, channels: 1 }, tag: 'call-42' } });
        ids.push(a.started.session_id);
        for (let off = 0; off < wav.data.byteLength; off += frame) await a.sendAudio(wav.data.subarray(off, off + frame));
        await a.end();
        await settled('session.end');
        // 2. the client closes mid-session; 3. the TCP connection drops mid-session
        for (const leave of [(ws: WebSocket) => ws.close(1000), (ws: WebSocket) => ws.terminate()]) {
          const s = await started();
          s.ws.send(wav.data.subarray(0, 16 * frame));
          leave(s.ws);
          await s.done;
          await settled(`client leaves (${leave.toString()})`);
        }
        // 4. a fatal protocol error (half a sample)
        const f = await started();
        f.ws.send(new Uint8Array(3));
        await endsWith(f, 'GW_ERR_PARTIAL_SAMPLE', 'fatal error');
        // 5. the encoder worker dies under a streaming session: GW_ERR_INFERENCE
        const c = await started();
        // fed at real time (never idle, no backlog) until a partial, then the worker dies; the stream's next encoder
        // run finds its caches gone
        let crashed = false;
        const paused = (): boolean =>
          [...c.rec.msgs].reverse().find((m) => m.type.startsWith('flow.'))?.type === 'flow.pause';
        for (let k = 0; k < 200 && !c.rec.msgs.some((m) => m.type === 'session.ended'); k++) {
          if (!crashed && c.rec.msgs.some((m) => m.type === 'transcript.partial')) {
            crashed = true;
            // pings hold off the idle deadline (500 ms) while the worker exits: 400-600 ms on a busy machine
            const keepAlive = setInterval(() => c.ws.send('{"type":"ping"}'), 100);
            await engine.encoder.shards[0]!.simulateCrash().finally(() => clearInterval(keepAlive));
          }
          const off = (k * frame) % (wav.data.byteLength - frame);
          // obeys flow.pause: a busy machine's model fell behind real time and the backlog passed its limit
          if (!paused()) c.ws.send(wav.data.subarray(off, off + frame));
          await new Promise((r) => setTimeout(r, 100));
        }
        expect(crashed, 'a partial before the crash').toBe(true);
        await endsWith(c, 'GW_ERR_INFERENCE', 'encoder crash');
        // 6. idle timeout; 7. start timeout
        await endsWith(await started(), 'GW_ERR_IDLE_TIMEOUT', 'idle timeout');
        await endsWith(await raw(), 'GW_ERR_START_TIMEOUT', 'start timeout');
        // 8. the drain, with a session holding seconds of unprocessed speech
        const d = await started();
        const pcm = repeatPcm(wav, 8000);
        for (let off = 0; off < pcm.byteLength; off += frame) d.ws.send(pcm.subarray(off, off + frame));
        await until(() => d.rec.msgs.some((m) => m.type === 'flow.pause'), 10_000, 'flow.pause');
        const draining = gw.drain();
        const ready = await fetch(`${base}/readyz`);
        const health = await fetch(`${base}/healthz`);
        const endedBeforeProbes = d.rec.msgs.some((m) => m.type === 'session.ended');
        expect([ready.status, await ready.json()]).toEqual([503, { status: 'draining' }]);
        expect(health.status).toBe(200);
        expect(endedBeforeProbes, 'the session ended before /readyz answered').toBe(false);
        await draining;
        await d.done;
        const last = parsePrometheusText(await gw.metrics.metricsText());
        expect(valueOf(last, 'voxgate_sessions_active')).toBe(0);
        checkCounters(previous, last, 'drain');
        expect(valueOf(last, 'voxgate_sessions_total', { reason: 'GW_ERR_SHUTTING_DOWN' })).toBe(1);
      } finally {
        await gw.close();
      }

      const lines = logged.trim().split('\n').map((l) => JSON.parse(l) as Log);
      for (const line of lines) {
        if (GATEWAY_LINES.has(line.msg) || line.worker !== undefined) continue; // the gateway's, of a worker crash
        expect(line.session_id, `a session's line without session_id: ${JSON.stringify(line)}`).toEqual(expect.any(String));
      }
      for (const id of ids) {
        const own = lines.filter((l) => l.session_id === id);
        expect(own.map((l) => l.msg), id).toContain('session closed');
      }
      // from session.start on, the client's tag is on every line of its session
      const tagged = lines.filter((l) => l.session_id === ids[0]);
      expect(tagged.slice(tagged.findIndex((l) => l.msg === 'session started')).every((l) => l.tag === 'call-42')).toBe(true);
      const crash = lines.find((l) => l.msg === 'session ends on a fatal error' && l.code === 'GW_ERR_INFERENCE');
      expect(crash?.session_id).toBe(ids[4]);
      expect(lines.filter((l) => l.worker !== undefined).map((l) => l.msg))
        .toEqual(['encoder worker died (exit code 1); restarting it']);
      expect(logged.includes(KEY), 'the API key is in the log').toBe(false);
      expect(logged).not.toMatch(/"type":"Buffer"|"data":\[|\{"0":/);
      for (const line of logged.trim().split('\n')) expect(line.length, line.slice(0, 200)).toBeLessThan(2000);
    }, 120_000);

  it('gateway.close() with a started and an unstarted session: gauge 0, both counted GW_ERR_SHUTTING_DOWN', async () => {
    const engine = await loadSpeechEngine({ modelDir: MODEL_DIR, precision: 'auto', encoderWorkers: 1 });
    const gw = await startGateway(resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent' }),
      { services: engine });
    let closedAll: Promise<unknown>;
    try {
      const started = await connect(gw.port, '/v1/stream');
      const rec = record(started);
      started.send(JSON.stringify({ type: 'session.start', audio: { encoding: 'pcm_s16le', sample_rate_hz: 16000,
        channels: 1 } }));
      await rec.started();
      started.send(longestFixture().wav.data);
      const unstarted = await connect(gw.port, '/v1/stream');
      closedAll = Promise.all([closed(started), closed(unstarted)]);
    } finally {
      await gw.close();
    }
    await closedAll;
    const m = parsePrometheusText(await gw.metrics.metricsText());
    expect(valueOf(m, 'voxgate_sessions_active')).toBe(0);
    expect(valueOf(m, 'voxgate_sessions_total', { reason: 'GW_ERR_SHUTTING_DOWN' })).toBe(2);
  }, 60_000);
});
