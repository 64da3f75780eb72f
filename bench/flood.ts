/**
 * What one misbehaving client costs everyone else: a witness session pings every 20 ms and records its round trip,
 * first alone, then while a flooder (a second process, so the two clients do not share an event loop) sends
 * session.update with 100 hotwords as fast as its socket takes them. Reports the witness's RTT p50 / p99 / max both
 * times and what the server did with the flood (updates applied, frames refused with GW_ERR_RATE_LIMITED, and when
 * it closed the flooder). Why: control messages are not paced by flow control; docs/protocol.md section 6 ("Rate
 * limits on text frames") quotes this benchmark.
 *
 * usage: npm run bench:flood -- [--url ws://HOST:PORT] [--seconds 10] [--transport uws|ws]
 *        (without --url it starts `voxgate serve` from dist/ in a child process)
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { argValue, checkBenchArgs, percentile, table } from './bench-stats.js';
import { GatewayProcess } from './gateway-process.js';

const START = { type: 'session.start', audio: { encoding: 'pcm_s16le', sample_rate_hz: 16000, channels: 1 } };
const PING_EVERY_MS = 20;

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => { ws.send(JSON.stringify(START)); resolve(ws); });
    ws.once('error', reject);
  });
}

/** The largest session.update the protocol allows in count: 100 distinct spellable phrases of ~100 letters. */
function bigUpdate(): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const phrase = (i: number): string => Array.from({ length: 9 }, (_, w) =>
    Array.from({ length: 10 }, (_, k) => letters[(i * 7 + w * 3 + k) % 26]).join('')).join(' ')
    + `${letters[i % 26]}${letters[Math.floor(i / 26)]}`; // 100 characters, the protocol's longest phrase
  return JSON.stringify({ type: 'session.update', hotwords: Array.from({ length: 100 }, (_, i) => ({ phrase: phrase(i) })) });
}

/** Flooder role (child process): sends until `seconds` pass, then prints {sent, updated, limited} as JSON. */
async function flooder(url: string, seconds: number): Promise<void> {
  const ws = await open(url);
  const counts = { sent: 0, updated: 0, limited: 0, otherErrors: 0, closeCode: 0, closedAfterMs: 0 };
  ws.on('message', (d: Buffer) => {
    const m = JSON.parse(d.toString()) as { type: string; code?: string };
    if (m.type === 'session.updated') counts.updated++;
    else if (m.code === 'GW_ERR_RATE_LIMITED') counts.limited++;
    else if (m.type === 'error') counts.otherErrors++;
  });
  const msg = bigUpdate();
  const t0 = performance.now();
  ws.once('close', (code: number) => { counts.closeCode = code; counts.closedAfterMs = Math.round(performance.now() - t0); });
  while (performance.now() - t0 < seconds * 1000 && ws.readyState === WebSocket.OPEN) {
    if (ws.bufferedAmount < 1 << 20) { ws.send(msg); counts.sent++; }
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 300));
  process.stdout.write(`${JSON.stringify(counts)}\n`);
  ws.terminate();
}

/** Witness: ping RTTs (ms) over `seconds`. */
async function witness(url: string, seconds: number): Promise<number[]> {
  const ws = await open(url);
  const sentAt = new Map<string, number>();
  const rtts: number[] = [];
  ws.on('message', (d: Buffer) => {
    const m = JSON.parse(d.toString()) as { type: string; id?: string };
    if (m.type === 'pong' && m.id !== undefined) rtts.push(performance.now() - sentAt.get(m.id)!);
  });
  let id = 0;
  const timer = setInterval(() => {
    const k = String(id++);
    sentAt.set(k, performance.now());
    ws.send(JSON.stringify({ type: 'ping', id: k }));
  }, PING_EVERY_MS);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(timer);
  await new Promise((r) => setTimeout(r, 500));
  ws.terminate();
  return rtts;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  // --role flooder: how main() starts the flooding child process
  checkBenchArgs(argv, { url: 'text', seconds: 'number', transport: 'text', role: 'text' });
  const seconds = Number(argValue(argv, 'seconds') ?? 10);
  if (!(seconds > 0 && seconds <= 600)) throw new Error(`--seconds must be in (0, 600], got ${argValue(argv, 'seconds')}`);
  if (argValue(argv, 'role') === 'flooder') return flooder(argValue(argv, 'url')!, seconds);
  const url = argValue(argv, 'url');
  const root = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '..' : '../..', import.meta.url)); // bench/ (tsx) or dist/bench/
  const server = url !== undefined ? GatewayProcess.external(url) : await GatewayProcess.start({ root,
    transport: argValue(argv, 'transport') ?? 'uws', maxSessions: 10, extraArgs: [], fromSource: false, startTimeoutMs: 60_000 });
  try {
    const streamUrl = `${server.baseUrl}/v1/stream`;
    const alone = await witness(streamUrl, seconds);
    const child = fork(fileURLToPath(import.meta.url), ['--role', 'flooder', '--url', streamUrl, '--seconds', String(seconds + 1)],
      { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    const childDone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise((r) => setTimeout(r, 500)); // the flood is under way
    const flooded = await witness(streamUrl, seconds);
    await childDone;
    const counts = JSON.parse(out.trim() || '{}') as { sent?: number; updated?: number; limited?: number; otherErrors?: number;
      closeCode?: number; closedAfterMs?: number };
    if ((counts.otherErrors ?? 0) > 0) throw new Error(`the flooder's updates were refused as invalid (${counts.otherErrors})`);
    const row = (name: string, r: number[]): string[] => [name, String(r.length), percentile(r, 50).toFixed(1),
      percentile(r, 99).toFixed(1), Math.max(...r).toFixed(1)];
    console.log(`flood: witness ping every ${PING_EVERY_MS} ms for ${seconds} s, alone and beside a flooder`);
    console.log(table([['witness', 'pongs', 'RTT p50 ms', 'p99 ms', 'max ms'], row('alone', alone), row('during the flood', flooded)]));
    console.log(`flooder: ${counts.sent ?? 0} session.update frames sent, ${counts.updated ?? 0} applied, `
      + `${counts.limited ?? 0} refused with GW_ERR_RATE_LIMITED; `
      + (counts.closeCode ? `closed by the server with ${counts.closeCode} after ${counts.closedAfterMs} ms`
        : `still connected after ${seconds + 1} s`));
  } finally {
    await server.stop();
  }
}

await main();
