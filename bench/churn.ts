/**
 * Leak hunt under session churn: does every session that ends, however it ends, give back what it took? One
 * in-process gateway per transport (uws and ws, sharing one real speech engine: models/, its default precision, two
 * encoder workers) serves seeded clients, at most --concurrency at a time, that stream real speech
 * (test/fixtures/speech) and end one of these ways: session.end; the client closing mid-audio; ws.terminate()
 * mid-audio (no close frame); session.finalize then close; a fatal error (an odd byte count, a frame over 1 MiB, one
 * over the carrier's 2 MiB ceiling, a hotword the model cannot spell, a text-frame flood); no session.start (start
 * timeout); silence after some audio (idle timeout); a slow consumer that stops reading (on loopback the kernel's
 * buffers absorb what it leaves unread, so it meets the close timeout, not GW_ERR_SLOW_CONSUMER). Sessions randomly
 * use stereo multichannel, hotwords, alternatives, denoise, background rejection, numerals, session.update, other
 * sample rates, fast uploads held by flow.pause, and API keys (one allowed a single session: its overlaps get 429).
 *
 * After a warm-up round and after each of --rounds rounds of --sessions sessions, once every socket has closed and a
 * short settle: open sessions, voxgate_sessions_active, voxgate_account_sessions, the encoder's open streams and
 * queue, the stream caches its worker threads hold, JS heap after gc, external, RSS, active handles, and the log
 * lines at warn and above. A leak is a value that does not return to idle, or heap / RSS that climbs round after
 * round (judged from three rounds up). Exit code 1 when something did not return.
 *
 * usage: npm run bench:churn -- [--rounds 4] [--sessions 400] [--concurrency 20] [--seed 1] [--speed 3]
 *        [--transport both|uws|ws] [--warmup 100] [--odd-rates 0.05]
 * (--speed: pacing of the clients that are not fast uploaders, x real time; --odd-rates: the share of sessions that
 * name a random sample rate in [8000, 48000] instead of a common one: each new rate needs its own resampler filter
 * bank, up to 0.5 MB (16 MB before interpolated banks); src/dsp/resampler.ts's cache of them is bounded at 16 MB
 * since this tool found it was not.)
 * Heap figures are taken after a full gc (exposed here: encoder workers refuse a process started with --expose-gc).
 */
import { createHook } from 'node:async_hooks';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { resolveGatewayConfig } from '../src/server/config.js';
import { BACKLOG_CAP_FACTOR } from '../src/server/flow-control.js';
import { startGateway, type Gateway } from '../src/server/gateway.js';
import { createLogger } from '../src/server/logger.js';
import { loadSpeechEngine, type SpeechEngine } from '../src/server/speech-engine.js';
import { argValue, checkBenchArgs, table } from './bench-stats.js';
import { loadSpeechCorpus } from './speech-corpus.js';

import {
  API_KEYS, IDLE_TIMEOUT_MS, makeSpecs, runSession, sleep, START_TIMEOUT_MS, type Spec,
} from './churn-session.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Idle {
  sessions: number;
  active: number;
  accounts: number;
  workerStreams: number;
  queueDepth: number;
  caches: number;
  heapMb: number;
  externalMb: number;
  rssMb: number;
  handles: string;
}

function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
  return sum;
}

/**
 * Live async resources by type, promises aside: timers, immediates, sockets, ports. Tracked with async_hooks because
 * process.getActiveResourcesInfo() leaves out unref'd timers, and every session timer is unref'd.
 */
const liveResources = new Map<number, string>();
createHook({
  init(id, type) {
    if (type !== 'PROMISE') liveResources.set(id, type);
  },
  destroy(id) {
    liveResources.delete(id);
  },
}).enable();

function handleSummary(): string {
  const counts = new Map<string, number>();
  for (const t of liveResources.values()) counts.set(t, (counts.get(t) ?? 0) + 1);
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([t, n]) => `${t}:${n}`).join(' ');
}

async function measure(gateways: readonly Gateway[], engine: SpeechEngine): Promise<Idle> {
  const deadline = Date.now() + 30_000;
  while (gateways.some((g) => g.sessionCount() > 0) && Date.now() < deadline) await sleep(50);
  await sleep(1000);
  for (let k = 0; k < 3; k++) {
    gc();
    await sleep(50);
  }
  const handles = handleSummary(); // before the scrape: prom-client's event-loop-lag probe leaves an Immediate
  const texts = await Promise.all(gateways.map((g) => g.metrics.metricsText()));
  const caches = await Promise.all(engine.encoder.shards.map((p) => p.cachedStreams()));
  const mem = process.memoryUsage();
  const stats = engine.stats();
  return {
    sessions: gateways.reduce((a, g) => a + g.sessionCount(), 0),
    active: texts.reduce((a, t) => a + metricSum(t, 'voxgate_sessions_active'), 0),
    accounts: texts.reduce((a, t) => a + metricSum(t, 'voxgate_account_sessions'), 0),
    // every gateway reports the one shared engine: read it once
    workerStreams: metricSum(texts[0]!, 'voxgate_encoder_worker_streams'),
    queueDepth: stats.queueDepth,
    caches: caches.reduce((a, b) => a + b, 0),
    heapMb: mem.heapUsed / 1e6,
    externalMb: mem.external / 1e6,
    rssMb: mem.rss / 1e6,
    handles,
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  checkBenchArgs(argv, {
    rounds: 'number', sessions: 'number', warmup: 'number', concurrency: 'number', seed: 'number', speed: 'number',
    transport: 'text', 'odd-rates': 'number',
  });
  const rounds = Number(argValue(argv, 'rounds') ?? 4);
  const perRound = Number(argValue(argv, 'sessions') ?? 400);
  const warmup = Number(argValue(argv, 'warmup') ?? 100);
  const concurrency = Number(argValue(argv, 'concurrency') ?? 20);
  const seed = Number(argValue(argv, 'seed') ?? 1);
  const speed = Number(argValue(argv, 'speed') ?? 3);
  const which = argValue(argv, 'transport') ?? 'both';
  const oddRates = Number(argValue(argv, 'odd-rates') ?? 0.05);
  const transports = which === 'both' ? (['uws', 'ws'] as const) : [which as 'uws' | 'ws'];
  if (!transports.every((t) => t === 'uws' || t === 'ws')) {
    throw new Error(`--transport must be both|uws|ws, got ${which}`);
  }

  const root = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '..' : '../..', import.meta.url));
  const corpus = loadSpeechCorpus({ dirs: [join(root, 'test/fixtures/speech')], gapMs: 700 }).samples;
  const tmp = mkdtempSync(join(tmpdir(), 'voxgate-churn-'));
  const keysFile = join(tmp, 'keys.txt');
  writeFileSync(keysFile, `${API_KEYS[0]} name=acme max_sessions=40\n${API_KEYS[1]} name=acme max_sessions=40\n`
    + `${API_KEYS[2]}\n${API_KEYS[3]} name=tight max_sessions=1\n`);

  let unhandled = 0;
  process.on('unhandledRejection', (e) => {
    unhandled++;
    console.error('unhandled rejection:', e);
  });
  process.on('uncaughtException', (e) => {
    unhandled++;
    console.error('uncaught exception:', e);
  });
  const logLines = new Map<string, number>();
  const logger = createLogger({ level: 'warn', destination: new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        const j = JSON.parse(line) as { level: string; msg: string; code?: string };
        const key = `${j.level} ${j.msg}${j.code === undefined ? '' : ` ${j.code}`}`;
        logLines.set(key, (logLines.get(key) ?? 0) + 1);
      }
      done();
    },
  }) });

  const base = resolveGatewayConfig({ host: '127.0.0.1', port: 0, logLevel: 'warn', modelDir: join(root,
    'models/voxgate-conformer-ctc-en'), startTimeoutMs: START_TIMEOUT_MS, idleTimeoutMs: IDLE_TIMEOUT_MS,
  overloadLatencyMs: 0, apiKeysFile: keysFile });
  const engine = await loadSpeechEngine({ ...base, maxPendingMs: BACKLOG_CAP_FACTOR * base.backlogLimitMs });
  const gateways = new Map<'uws' | 'ws', Gateway>();
  for (const t of transports) {
    gateways.set(t, await startGateway({ ...base, transport: t }, { services: engine, logger }));
  }
  const all = [...gateways.values()];
  const ports = new Map([...gateways].map(([t, g]) => [t, g.port]));
  const idle0 = await measure(all, engine);

  const outcomes = new Map<string, number>();
  const runRound = async (specs: Spec[]): Promise<number> => {
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < specs.length) {
        const spec = specs[next++]!;
        const how = await runSession(spec, ports.get(spec.transport)!, corpus, speed);
        const key = `${spec.ending} -> ${how}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }
    }));
    return (performance.now() - t0) / 1000;
  };

  const rows: string[][] = [['round', 'sessions', 'wall s', 'open', 'active', 'accounts', 'enc streams', 'queue',
    'caches', 'heap MB', 'external MB', 'RSS MB']];
  const row = (name: string, n: number, wall: number, m: Idle): string[] => [name, String(n), wall.toFixed(0),
    String(m.sessions), String(m.active), String(m.accounts), String(m.workerStreams), String(m.queueDepth),
    String(m.caches), m.heapMb.toFixed(2), m.externalMb.toFixed(2), m.rssMb.toFixed(0)];
  rows.push(row('idle', 0, 0, idle0));
  console.log(`idle handles: ${idle0.handles}`);
  let id = 0;
  /** After each measured round (not the warm-up). */
  const results: Idle[] = [];
  for (let k = 0; k <= rounds; k++) {
    const n = k === 0 ? warmup : perRound;
    if (n === 0) continue;
    const wall = await runRound(makeSpecs(n, seed * 1000 + k, transports, id, oddRates));
    id += n;
    const m = await measure(all, engine);
    if (k > 0) results.push(m);
    rows.push(row(k === 0 ? 'warm-up' : String(k), n, wall, m));
    console.log(`round ${k === 0 ? 'warm-up' : k}: ${n} sessions in ${wall.toFixed(0)} s; handles: ${m.handles}`);
  }
  const ended = new Map<string, number>();
  for (const g of all) {
    for (const m of (await g.metrics.metricsText()).matchAll(/^voxgate_sessions_total\{reason="([^"]+)"\} (\d+)$/gm)) {
      ended.set(m[1]!, (ended.get(m[1]!) ?? 0) + Number(m[2]));
    }
  }
  for (const g of all) await g.close();
  await engine.close();
  rmSync(tmp, { recursive: true, force: true });

  console.log(`\nchurn: ${id} sessions over ${transports.join(' + ')}, at most ${concurrency} at a time, seed ${seed}`);
  console.log(table(rows));
  console.log('\nendings (client side: close code, http-STATUS, or stuck):');
  console.log(table([['ending -> seen', 'n'], ...[...outcomes].sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => [k, String(n)])]));
  console.log('\nsessions ended, server side (voxgate_sessions_total by reason):');
  console.log(table([['reason', 'n'], ...[...ended].sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => [k, String(n)])]));
  console.log('\nserver log lines at warn and above:');
  console.log(table([['level msg [code]', 'n'], ...[...logLines].sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => [k, String(n)])]));
  const last = results.at(-1) ?? idle0;
  const leaks: string[] = [];
  for (const k of ['sessions', 'active', 'accounts', 'workerStreams', 'queueDepth', 'caches'] as const) {
    if (last[k] !== 0) leaks.push(`${k} = ${last[k]} after the churn (idle: 0)`);
  }
  if (last.handles !== idle0.handles) leaks.push(`handles ${last.handles} (idle: ${idle0.handles})`);
  // The median growth from round to round: optimised code adds heap in the first rounds and allocators keep some RSS
  // now and then, while a leak grows every round. Needs three rounds.
  for (const [k, limitMb] of [['heapMb', 0.5], ['externalMb', 4], ['rssMb', 40]] as const) {
    const steps = results.slice(1).map((m, i) => m[k] - results[i]![k]).sort((a, b) => a - b);
    const climbMb = steps.length >= 2 ? steps[Math.floor(steps.length / 2)]! : 0;
    if (climbMb > limitMb) leaks.push(`${k} climbs ${climbMb.toFixed(1)} MB a round (median; limit ${limitMb})`);
  }
  if (unhandled > 0) leaks.push(`${unhandled} unhandled rejections / uncaught exceptions`);
  const stuckN = [...outcomes].filter(([k]) => k.endsWith('stuck')).reduce((a, [, n]) => a + n, 0);
  if (stuckN > 0) leaks.push(`${stuckN} sessions whose socket the server never closed`);
  console.log(leaks.length === 0 ? '\nchurn: everything back to idle'
    : `\nchurn: NOT back to idle:\n  ${leaks.join('\n  ')}`);
  process.exitCode = leaks.length === 0 ? 0 : 1;
}

await main();
