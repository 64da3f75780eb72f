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
 * dropped partials and no failed session. Word latency and speech-onset latency: see load-session.ts.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { STREAM_PATH } from '../src/protocol/messages.js';
import { argValue, percentile, percentiles, round, type Percentiles } from './bench-stats.js';
import { rng } from './bench-random.js';
import {
  GatewayProcess, histogramBuckets, histogramQuantileBetween, metricValue, type ServerSample,
} from './gateway-process.js';
import { LoadSession, type SessionResult } from './load-session.js';
import { loadWire, WIRE_NAMES, type LoadWire, type WireName } from './load-wire.js';
import { loadSpeechCorpus } from './speech-corpus.js';

const REALTIME_CHUNK_DELAY_MS = 200;
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

type Rounded = Record<keyof Percentiles, number | null>;

export interface BenchResult {
  sessions: number;
  partial_latency_ms: Rounded;
  word_latency_ms: Rounded;
  dropped_partials: number;
  event_loop_delay_ms: { p99: number | null; max: number | null };
  rss_mb_per_session: number | null;
  realtime: boolean;
  chunk_delay_ms: Rounded;
  final_latency_ms: Rounded;
  /** Sending the frame that holds a speech onset -> speech.started arrives (load-session.ts). */
  speech_started_latency_ms: Rounded;
  end_drain_ms: { p50: number | null; max: number | null };
  flow_pauses: number;
  inbound_backlog_ms_p99_bucket: number | null;
  cpu_percent: number | null;
  /** Server CPU time over the sessions' summed streaming time, % (cpu_percent / n would count the ramp as load). */
  cpu_percent_per_session: number | null;
  rss_mb_baseline: number | null;
  rss_mb_peak: number | null;
  /** Chunks per encoder call over the load window (the pool batches whatever is ready when a worker frees up). */
  encoder_mean_batch: number | null;
  /** Encoder run time summed over the workers, % of the load window's wall time (2 workers: at most ~200%). */
  encoder_busy_percent: number | null;
  partials: number;
  finals: number;
  words: number;
  sessions_failed: number;
  errors: Record<string, number>;
  client_event_loop_delay_ms_p99: number | null;
  duration_s: number;
  latency: string;
  transport: string;
  wire: string;
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
const r1 = (p: Percentiles): Rounded => ({ p50: round(p.p50, 1), p95: round(p.p95, 1), p99: round(p.p99, 1) });
const mb = (bytes: number): number | null => round(bytes / 2 ** 20, 2);

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
    return summarise(n, o, wire, results, {
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

interface ServerSide {
  loop: { p99Ms: number; maxMs: number };
  /** Upper bucket bound of the p99 of the server's per-frame backlog samples, ms (NaN: not exported). */
  backlogP99Ms: number;
  cpuMs: number;
  wallMs: number;
  baseRss: number;
  peakRss: number;
  clientLoopP99Ms: number;
  encoderBatches: number;
  encoderRows: number;
  encoderRunS: number;
}

function summarise(n: number, o: Options, wire: LoadWire, results: SessionResult[], s: ServerSide): BenchResult {
  const flat = (f: (r: SessionResult) => number[]): number[] => results.flatMap(f);
  const partials = flat((r) => r.partialLatencyMs), finals = flat((r) => r.finalLatencyMs);
  const words = flat((r) => r.wordLatencyMs), onsets = flat((r) => r.speechStartedLatencyMs);
  const chunkDelays = [...partials, ...finals];
  const drains = results.map((r) => r.endDrainMs).filter((x): x is number => x !== null);
  const errors: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const dropped = results.reduce((a, r) => a + (r.stats?.partials_dropped ?? 0), 0);
  const flowPauses = results.reduce((a, r) => a + Math.max(r.flowPauses, r.stats?.flow_pauses ?? 0), 0);
  const failed = results.filter((r) => r.stats === null || r.closeCode !== 1000 || Object.keys(r.errors).length > 0).length;
  const chunkP99 = percentile(chunkDelays, 99);
  const cpuPercent = (100 * s.cpuMs) / s.wallMs;
  // Per session: over the sessions' streaming time, not n x the window (the ramp-in and the staggered ends are in it).
  const streamMs = results.reduce((a, r) => a + r.streamMs, 0);
  return {
    sessions: n,
    partial_latency_ms: r1(percentiles(partials)),
    word_latency_ms: r1(percentiles(words)),
    dropped_partials: dropped,
    event_loop_delay_ms: { p99: round(s.loop.p99Ms, 1), max: round(s.loop.maxMs, 1) },
    rss_mb_per_session: round((s.peakRss - s.baseRss) / 2 ** 20 / n, 2),
    realtime: chunkDelays.length > 0 && chunkP99 <= REALTIME_CHUNK_DELAY_MS && flowPauses === 0 && dropped === 0 &&
      failed === 0,
    chunk_delay_ms: r1(percentiles(chunkDelays)),
    final_latency_ms: r1(percentiles(finals)),
    speech_started_latency_ms: r1(percentiles(onsets)),
    end_drain_ms: { p50: round(percentile(drains, 50), 1), max: round(Math.max(...drains), 1) },
    flow_pauses: flowPauses,
    inbound_backlog_ms_p99_bucket: round(s.backlogP99Ms, 0),
    cpu_percent: round(cpuPercent, 1),
    cpu_percent_per_session: round((100 * s.cpuMs) / streamMs, 2),
    rss_mb_baseline: mb(s.baseRss),
    rss_mb_peak: mb(s.peakRss),
    encoder_mean_batch: round(s.encoderRows / s.encoderBatches, 1),
    encoder_busy_percent: round((100 * 1000 * s.encoderRunS) / s.wallMs, 0),
    partials: partials.length,
    finals: finals.length,
    words: words.length,
    sessions_failed: failed,
    errors,
    client_event_loop_delay_ms_p99: round(s.clientLoopP99Ms, 1),
    duration_s: o.durationS,
    latency: o.latency,
    transport: o.url === undefined ? o.transport : `external ${o.url}`,
    wire: `${o.wire} (${wire.encoding} ${wire.sampleRateHz} Hz${wire.channels === 2 ? ' stereo, multichannel' : ''}, `
      + `${wire.frameMs} ms frames)`,
  };
}

function print(r: BenchResult): void {
  const p = (x: Rounded): string => `p50 ${x.p50 ?? '-'} / p95 ${x.p95 ?? '-'} / p99 ${x.p99 ?? '-'} ms`;
  const errs = Object.entries(r.errors).map(([k, v]) => `${k} x${v}`).join(', ') || 'none';
  console.log([
    `sessions ${r.sessions} (${r.transport}, latency ${r.latency}, ${r.duration_s} s of audio each, wire ${r.wire})`,
    `  partial latency      ${p(r.partial_latency_ms)}   (${r.partials} partials)`,
    `  final latency        ${p(r.final_latency_ms)}   (${r.finals} finals)`,
    `  word -> partial      ${p(r.word_latency_ms)}   (${r.words} words)`,
    `  onset -> speech.started ${p(r.speech_started_latency_ms)}`,
    `  chunk delay          ${p(r.chunk_delay_ms)}   (limit p99 <= ${REALTIME_CHUNK_DELAY_MS} ms)`,
    `  end drain            p50 ${r.end_drain_ms.p50 ?? '-'} / max ${r.end_drain_ms.max ?? '-'} ms`,
    `  dropped partials     ${r.dropped_partials}    flow pauses ${r.flow_pauses}    failed sessions ${r.sessions_failed}`,
    `  inbound backlog      p99 <= ${r.inbound_backlog_ms_p99_bucket ?? '-'} ms (server histogram bucket)`,
    `  event loop delay     p99 ${r.event_loop_delay_ms.p99 ?? '-'} ms, max ${r.event_loop_delay_ms.max ?? '-'} ms ` +
      `(client p99 ${r.client_event_loop_delay_ms_p99 ?? '-'} ms)`,
    `  server CPU           ${r.cpu_percent ?? '-'} % (${r.cpu_percent_per_session ?? '-'} % per session)`,
    `  server RSS           ${r.rss_mb_baseline ?? '-'} MB idle, ${r.rss_mb_peak ?? '-'} MB peak, ` +
      `${r.rss_mb_per_session ?? '-'} MB per session`,
    `  encoder              mean batch ${r.encoder_mean_batch ?? '-'} chunks, busy ${r.encoder_busy_percent ?? '-'} % ` +
      `(run time summed over workers / wall)`,
    `  errors               ${errs}`,
    `  real time            ${r.realtime ? 'YES' : 'NO'}`,
  ].join('\n'));
}

async function main(argv: readonly string[]): Promise<void> {
  const o = parseOptions(argv);
  const root = repoRoot();
  const corpus = loadSpeechCorpus({
    dirs: [join(root, 'test/fixtures/speech'), join(root, 'training/cache/heldout')], gapMs: 1000, maxSeconds: 300,
  });
  console.log(`audio: ${corpus.clips} clips from ${corpus.dir}, ${(corpus.samples.length / 16000).toFixed(1)} s loop`);
  const wire = loadWire(o.wire, corpus.samples);
  const results: BenchResult[] = [];
  for (const n of o.sessions) {
    try {
      const r = await runOnce(n, o, wire);
      print(r);
      results.push(r);
    } catch (e) {
      console.error(`sessions ${n}: benchmark failed: ${(e as Error).message}`);
      process.exitCode = 1;
    }
  }
  const maxRealtime = Math.max(0, ...results.filter((r) => r.realtime).map((r) => r.sessions));
  if (o.sweep) console.log(`\nlargest N that stayed real time: ${maxRealtime || 'none'}`);
  if (o.json !== undefined) {
    const out = o.sweep || results.length !== 1 ? { sweep: results, max_realtime_sessions: maxRealtime } : results[0];
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
