/**
 * Gateway load benchmark: N concurrent WebSocket sessions stream real speech at real-time pace (`--wire pcm16k`:
 * 50 ms pcm_s16le 16 kHz frames; `--wire telephony`: 20 ms 8 kHz mu-law frames, as Twilio and Asterisk send;
 * `--wire stereo-call`: 16 kHz stereo with session.start multichannel, each channel transcribed) and the report says
 * whether the gateway kept up.
 *
 *   npm run build && npm run bench -- --sessions N [--duration S] [--latency low|balanced|accurate]
 *       [--transport uws|ws] [--url ws://HOST:PORT] [--json FILE] [--sweep 50,100,200] [--model DIR] [--seed K]
 *       [--wire pcm16k|telephony|stereo-call] [--ramp-s S]
 *   Sessions start spread over --ramp-s seconds (default 1): a longer ramp lets the gateway's load shedding
 *   (--overload-lag-ms) refuse the sessions it cannot serve, which a burst of connections cannot show.
 *   (or without building: npx tsx bench/bench.ts ...)
 *
 * Without --url the gateway runs in a child process started here (`serve --port 0`), one fresh process per N.
 * Real time means: p99 chunk processing delay <= 200 ms, where a chunk's processing delay is the `latency_ms` of the
 * partial or final it produced (protocol: newest covered audio frame's arrival -> message sent), no flow.pause, no
 * dropped partials, no failed session, and this client kept real-time pace (bench-verdict.ts). A sweep's largest
 * real-time N is the largest with every smaller N tried real time too. Word latency and speech-onset latency: see
 * load-session.ts.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { STREAM_PATH } from '../src/protocol/messages.js';
import { argValue, checkBenchArgs } from './bench-stats.js';
import { print, rssPerAddedSession, summarise, type BenchFailure, type BenchResult } from './bench-report.js';
import { realtimeCapacity } from './bench-verdict.js';
import { rng } from './bench-random.js';
import {
  GatewayProcess, histogramBuckets, histogramQuantileBetween, metricValue, type ServerSample,
} from './gateway-process.js';
import { LoadSession } from './load-session.js';
import { loadWire, WIRE_NAMES, type LoadWire, type WireName } from './load-wire.js';
import { loadSpeechCorpus } from './speech-corpus.js';

const TICK_MS = 5;
/** The client's event-loop monitor samples every this many ms; the histogram's gaps include it. */
const CLIENT_LOOP_RESOLUTION_MS = 10;
const BACKLOG_METRIC = 'voxgate_inbound_backlog_seconds';
const BATCH_METRIC = 'voxgate_encoder_batch_size';
const RUN_METRIC = 'voxgate_encoder_run_seconds';

interface Options {
  sessions: number[];
  sweep: boolean;
  durationS: number;
  latency: 'low' | 'balanced' | 'accurate';
  transport: string;
  url: string | undefined;
  json: string | undefined;
  extraArgs: string[];
  seed: number;
  wire: WireName;
  rampMs: number;
}

function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d;
}

function parseOptions(argv: readonly string[]): Options {
  const sweep = argValue(argv, 'sweep');
  const list = (sweep ?? argValue(argv, 'sessions') ?? '10').split(',').map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--sessions/--sweep need integers >= 1`);
  const latency = argValue(argv, 'latency') ?? 'balanced';
  if (!['low', 'balanced', 'accurate'].includes(latency)) throw new Error(`--latency must be low|balanced|accurate`);
  const durationS = Number(argValue(argv, 'duration') ?? 30);
  if (!(durationS > 0)) throw new Error(`--duration must be > 0 seconds`);
  const model = argValue(argv, 'model');
  const wire = argValue(argv, 'wire') ?? 'pcm16k';
  const rampS = Number(argValue(argv, 'ramp-s') ?? 1);
  if (!(rampS > 0)) throw new Error(`--ramp-s must be > 0 seconds, got ${rampS}`);
  if (!(WIRE_NAMES as readonly string[]).includes(wire)) throw new Error(`--wire must be ${WIRE_NAMES.join('|')}, got ${wire}`);
  return {
    sessions: list, sweep: sweep !== undefined, durationS, latency: latency as Options['latency'],
    transport: argValue(argv, 'transport') ?? 'uws', url: argValue(argv, 'url'), json: argValue(argv, 'json'),
    extraArgs: model === undefined ? [] : ['--model', model], seed: Number(argValue(argv, 'seed') ?? 1),
    wire: wire as WireName, rampMs: rampS * 1000,
  };
}

/** max ignoring NaN (unknown samples: an external server's RSS is only known at the scrapes). */
const maxKnown = (a: number, b: number): number => (Number.isNaN(a) ? b : Number.isNaN(b) ? a : Math.max(a, b));
async function runOnce(n: number, o: Options, wire: LoadWire): Promise<BenchResult> {
  const root = repoRoot();
  const server = o.url !== undefined ? GatewayProcess.external(o.url) : await GatewayProcess.start({
    root, transport: o.transport, maxSessions: n, extraArgs: o.extraArgs,
    fromSource: fileURLToPath(import.meta.url).endsWith('.ts'), startTimeoutMs: 120_000,
  });
  try {
    const url = `${server.baseUrl}${STREAM_PATH}`;
    const rand = rng(o.seed * 7919 + n);
    const sessions = Array.from({ length: n }, () => new LoadSession({
      url, wire, offsetSamples: Math.floor(rand() * wire.loopSamples), durationMs: o.durationS * 1000,
      latency: o.latency, timeoutMs: 15_000,
    }));
    const clientLoop = monitorEventLoopDelay({ resolution: CLIENT_LOOP_RESOLUTION_MS });
    await new Promise((r) => setTimeout(r, 500)); // let the idle server settle before the baseline
    const baseMetrics = (await server.loopDelay()).metrics; // this scrape also resets the loop-delay histogram
    const base = server.sample(baseMetrics);
    const t0 = performance.now();
    clientLoop.enable();
    let peakRss = base.rssBytes;
    let rssTick = 0;
    sessions.forEach((s, i) => setTimeout(() => s.start(), (i * o.rampMs) / n));
    const ticker = setInterval(() => {
      const now = performance.now();
      for (const s of sessions) s.tick(now);
      if (++rssTick % Math.round(500 / TICK_MS) === 0) peakRss = maxKnown(peakRss, server.sample().rssBytes);
    }, TICK_MS);
    // Load window: until every session has sent its last frame (or the deadline passes).
    const deadline = t0 + o.rampMs + o.durationS * 1000 + 10_000;
    await new Promise<void>((res) => {
      const poll = setInterval(() => {
        const started = performance.now() - t0 > o.rampMs + 100;
        if ((started && !sessions.some((s) => s.streaming)) || performance.now() > deadline) {
          clearInterval(poll);
          res();
        }
      }, 50);
    });
    const loadEnd = performance.now();
    const loop = await server.loopDelay();
    const end: ServerSample = server.sample(loop.metrics);
    peakRss = maxKnown(peakRss, end.rssBytes);
    const all = Promise.all(sessions.map((s) => s.done));
    const hardStop = setTimeout(() => sessions.forEach((s) => s.abort()), 20_000);
    const results = await all;
    clearTimeout(hardStop);
    clearInterval(ticker);
    clientLoop.disable();
    const info = {
      durationS: o.durationS, latency: o.latency, transport: o.url === undefined ? o.transport : `external ${o.url}`,
      wire: `${o.wire} (${wire.encoding} ${wire.sampleRateHz} Hz${wire.channels === 2 ? ' stereo, multichannel' : ''}, `
        + `${wire.frameMs} ms frames)`,
    };
    return summarise(n, info, results, {
      loop, backlogP99Ms: 1000 * histogramQuantileBetween(histogramBuckets(baseMetrics, BACKLOG_METRIC),
        histogramBuckets(loop.metrics, BACKLOG_METRIC), 0.99),
      cpuMs: end.cpuMs - base.cpuMs, wallMs: loadEnd - t0, baseRss: base.rssBytes, peakRss,
      ...encoderBetween(baseMetrics, loop.metrics),
      // as the server's figure (metrics.ts): the delay beyond the sampling interval the histogram includes
      clientLoopP99Ms: clientLoop.count > 0
        ? Math.max(0, clientLoop.percentile(99) / 1e6 - CLIENT_LOOP_RESOLUTION_MS) : Number.NaN,
    });
  } finally {
    await server.stop();
  }
}

/** Mean batch and summed run seconds of the encoder between two scrapes (NaN when the metrics are absent). */
function encoderBetween(before: string, after: string): { encoderBatches: number; encoderRows: number; encoderRunS: number } {
  const delta = (name: string): number => metricValue(after, name) - metricValue(before, name);
  return {
    encoderBatches: delta(`${BATCH_METRIC}_count`), encoderRows: delta(`${BATCH_METRIC}_sum`),
    encoderRunS: delta(`${RUN_METRIC}_sum`),
  };
}

async function main(argv: readonly string[]): Promise<void> {
  checkBenchArgs(argv, {
    sessions: 'numbers', sweep: 'numbers', duration: 'number', latency: 'text', transport: 'text', url: 'text',
    json: 'text', model: 'text', seed: 'number', wire: 'text', 'ramp-s': 'number',
  });
  const o = parseOptions(argv);
  const root = repoRoot();
  const corpus = loadSpeechCorpus({
    dirs: [join(root, 'test/fixtures/speech'), join(root, 'training/cache/heldout')], gapMs: 1000, maxSeconds: 300,
  });
  console.log(`audio: ${corpus.clips} clips from ${corpus.dir}, ${(corpus.samples.length / 16000).toFixed(1)} s loop`);
  const wire = loadWire(o.wire, corpus.samples);
  const results: (BenchResult | BenchFailure)[] = [];
  for (const n of o.sessions) {
    try {
      const r = await runOnce(n, o, wire);
      print(r);
      results.push(r);
    } catch (e) {
      console.error(`sessions ${n}: benchmark failed: ${(e as Error).message}`);
      results.push({ sessions: n, realtime: false, error: (e as Error).message });
      process.exitCode = 1;
    }
  }
  const capacity = realtimeCapacity(results);
  const rssSteps = rssPerAddedSession(results);
  if (o.sweep) {
    for (const r of rssSteps) console.log(`RSS per added session, ${r.from} -> ${r.to} sessions: ${r.mb} MB`);
    console.log(`\nlargest N that stayed real time (every smaller N too): ${capacity.max || 'none'}`);
    if (capacity.passedAboveFailure.length > 0) {
      console.log(`  also real time above a smaller N that was not: ${capacity.passedAboveFailure.join(', ')} ` +
        `(not counted: run again to tell noise from capacity)`);
    }
  }
  if (o.json !== undefined) {
    const out = o.sweep || results.length !== 1 ? { sweep: results, max_realtime_sessions: capacity.max,
      realtime_above_failure: capacity.passedAboveFailure, rss_mb_per_added_session: rssSteps } : results[0];
    writeFileSync(resolve(o.json), `${JSON.stringify(out, null, 2)}\n`);
    console.log(`wrote ${o.json}`);
  }
}

main(process.argv.slice(2))
  .catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  })
  .finally(() => process.exit()); // bounded: no stray socket or timer keeps the run alive
