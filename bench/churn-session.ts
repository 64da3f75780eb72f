/**
 * One client of `npm run bench:churn` (bench/churn.ts): its seeded plan (how it ends, what it negotiates, how fast it
 * sends) and the session it runs against a gateway on loopback.
 */
import { WebSocket } from 'ws';
import type { ServerMessage, SessionStartMessage } from '../src/protocol/messages.js';
import { rng } from './bench-random.js';

const ENDINGS = ['end', 'close', 'terminate', 'finalize-close', 'odd-bytes', 'big-frame', 'huge-frame', 'no-start',
  'bad-start', 'idle', 'flood', 'slow-consumer'] as const;
type Ending = (typeof ENDINGS)[number];
/** Relative frequency of each ending. */
const WEIGHTS: Record<Ending, number> = { 'end': 4, 'close': 2, 'terminate': 2, 'finalize-close': 2, 'odd-bytes': 1,
  'big-frame': 1, 'huge-frame': 1, 'no-start': 1, 'bad-start': 1, 'idle': 1, 'flood': 1, 'slow-consumer': 1 };
export const START_TIMEOUT_MS = 400;
export const IDLE_TIMEOUT_MS = 1500;
/** A client that has not seen its socket close this long after its last step gives up (counted as stuck). */
const STUCK_MS = 20_000;
/** Two keys of one account, a key of its own, and one allowed a single session (its overlaps get 429). */
export const API_KEYS = ['churn-key-acme-1', 'churn-key-acme-2', 'churn-key-solo', 'churn-key-tight'];

export interface Spec {
  id: number;
  transport: 'uws' | 'ws';
  ending: Ending;
  audioMs: number;
  /** Fraction of audioMs sent before the ending's action (mid-audio endings). */
  cut: number;
  frameMs: number;
  fast: boolean;
  stereo: boolean;
  key: string;
  start: Omit<SessionStartMessage, 'type' | 'audio'>;
  update: boolean;
  /** The rate session.start names (the 16 kHz speech is sent as is: other rates hear it faster or slower). */
  rateHz: number;
  offset: number;
  seed: number;
}

export function makeSpecs(n: number, seed: number, transports: readonly ('uws' | 'ws')[], firstId: number,
  oddRates: number): Spec[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const total = ENDINGS.reduce((a, e) => a + WEIGHTS[e], 0);
  const ending = (): Ending => {
    let x = r() * total;
    for (const e of ENDINGS) if ((x -= WEIGHTS[e]) < 0) return e;
    return 'end';
  };
  return Array.from({ length: n }, (_, i) => {
    const stereo = r() < 0.2;
    const start: Spec['start'] = { latency: pick(['low', 'balanced', 'accurate'] as const) };
    if (r() < 0.3) start.hotwords = [{ phrase: pick(['voxgate', 'asterisk', 'telephone', 'seventeen']), boost: 3 }];
    if (r() < 0.3) start.alternatives = 1 + Math.floor(r() * 4);
    if (r() < 0.25) start.denoise = 'spectral';
    if (r() < 0.25) start.background_rejection_db = 10 + Math.floor(r() * 20);
    if (r() < 0.2) start.numerals = true;
    if (r() < 0.1) start.interim_results = false;
    if (stereo && r() < 0.8) start.multichannel = true;
    const key = r() < 0.05 ? API_KEYS[3]! : pick(API_KEYS.slice(0, 3));
    const rateHz = r() < oddRates ? 8000 + Math.floor(r() * 40_001)
      : pick([16000, 16000, 16000, 8000, 22050, 44100, 48000]);
    return {
      id: firstId + i, transport: pick(transports), ending: ending(), audioMs: 300 + Math.floor(r() * 3700),
      cut: 0.2 + 0.6 * r(), frameMs: pick([20, 40, 50, 100]), fast: r() < 0.15, stereo, key, start,
      update: r() < 0.2, rateHz, offset: Math.floor(r() * 1e9), seed: Math.floor(r() * 2 ** 31),
    };
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One client session, paced at `speed` x real time unless `spec.fast`; resolves with how it ended as the client saw
 * it: the close code, `http-STATUS` for a refused upgrade, or `stuck` when the server never closed the socket.
 */
export async function runSession(spec: Spec, port: number, corpus: Int16Array, speed: number): Promise<string> {
  const r = rng(spec.seed);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream?api_key=${spec.key}`);
  ws.on('error', () => undefined);
  let paused = false;
  let resumed: (() => void) | null = null;
  const inbox: ServerMessage[] = [];
  let waiter: { test: (m: ServerMessage) => boolean; resolve: () => void } | null = null;
  const closed = new Promise<string>((resolve) => {
    ws.on('close', (code) => resolve(String(code)));
    ws.on('unexpected-response', (req, res) => {
      resolve(`http-${res.statusCode}`);
      req.destroy();
    });
  });
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const m = JSON.parse(String(data)) as ServerMessage;
    inbox.push(m);
    if (m.type === 'flow.pause') paused = true;
    if (m.type === 'flow.resume') {
      paused = false;
      resumed?.();
    }
    if (waiter?.test(m) === true) waiter.resolve();
  });
  /** Waits for a message matching `test` (or one already received), the socket's close, or `ms`. */
  const waitFor = (test: (m: ServerMessage) => boolean, ms: number): Promise<boolean> => {
    if (inbox.some(test)) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      waiter = { test, resolve: () => { clearTimeout(t); resolve(true); } };
      void closed.then(() => { clearTimeout(t); resolve(false); });
    });
  };
  const opened = await Promise.race([new Promise<boolean>((resolve) => ws.once('open', () => resolve(true))),
    closed.then(() => false)]);
  if (!opened) return closed;
  const stuck = (): Promise<string> => {
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<string>((resolve) => {
      timer = setTimeout(() => {
        ws.terminate();
        resolve('stuck');
      }, STUCK_MS);
    });
    return Promise.race([closed, giveUp]).finally(() => clearTimeout(timer));
  };
  if (spec.ending === 'no-start') return stuck();

  const channels = spec.stereo ? 2 : 1;
  // bad-start: a hotword the model cannot spell (GW_ERR_BAD_HOTWORD, fatal at start: close 4000)
  const hotwords = spec.ending === 'bad-start' ? { hotwords: [{ phrase: 'zürich 42' }] } : {};
  ws.send(JSON.stringify({ type: 'session.start', audio: { encoding: 'pcm_s16le', sample_rate_hz: spec.rateHz,
    channels }, ...spec.start, ...hotwords, tag: `churn-${spec.id}` }));
  if (spec.ending === 'bad-start') return stuck();
  if (!await waitFor((m) => m.type === 'session.started', 10_000)) {
    ws.terminate();
    return `no-started:${(await closed)}`;
  }
  const frameSamples = Math.max(1, Math.round((spec.rateHz * spec.frameMs) / 1000));
  const frames = Math.max(1, Math.round(spec.audioMs / spec.frameMs));
  const midAudio = ['close', 'terminate', 'odd-bytes', 'big-frame', 'huge-frame', 'idle', 'flood', 'slow-consumer'];
  const stopAt = midAudio.includes(spec.ending) ? Math.max(1, Math.floor(frames * spec.cut)) : frames;
  const n = corpus.length;
  let at = spec.offset % n;
  for (let f = 0; f < frames; f++) {
    if (ws.readyState !== WebSocket.OPEN) return stuck();
    if (f === stopAt) {
      if (spec.ending === 'close') {
        ws.close(1000, 'bye');
        return stuck();
      }
      if (spec.ending === 'terminate') {
        ws.terminate();
        return closed;
      }
      if (spec.ending === 'odd-bytes') ws.send(Buffer.alloc(2 * channels * 7 + 1));
      if (spec.ending === 'big-frame') ws.send(Buffer.alloc(1024 * 1024 + 2 * channels));
      if (spec.ending === 'huge-frame') ws.send(Buffer.alloc(2 * 1024 * 1024 + 4 * channels));
      if (spec.ending === 'flood') { // past the text-frame budgets: fatal GW_ERR_RATE_LIMITED
        for (let k = 0; k < 800 && ws.readyState === WebSocket.OPEN; k++) ws.send('{"type":"ping"}');
      }
      if (['idle', 'big-frame', 'huge-frame', 'odd-bytes', 'flood'].includes(spec.ending)) return stuck();
      if (spec.ending === 'slow-consumer') (ws as unknown as { _socket: { pause(): void } })._socket.pause();
    }
    if (spec.update && f === Math.floor(frames / 2)) {
      ws.send(JSON.stringify({ type: 'session.update', hotwords: [{ phrase: 'gateway' }], alternatives: 2,
        background_rejection_db: 15, endpointing: { silence_ms: 300 } }));
    }
    if (f > 0 && f % 25 === 0 && r() < 0.3) ws.send(JSON.stringify({ type: 'ping', id: `p${f}` }));
    const frame = Buffer.allocUnsafe(2 * channels * frameSamples);
    for (let i = 0; i < frameSamples; i++) {
      frame.writeInt16LE(corpus[(at + i) % n]!, 2 * channels * i);
      if (channels === 2) frame.writeInt16LE(corpus[(at + i + 48_000) % n]!, 2 * channels * i + 2);
    }
    at += frameSamples;
    ws.send(frame);
    if (paused && !spec.fast) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((resolve) => { resumed = resolve; }), closed,
        new Promise<void>((resolve) => { timer = setTimeout(resolve, 5000); })]);
      clearTimeout(timer);
    } else if (!spec.fast) {
      await sleep(spec.frameMs / speed);
    } else if (f % 10 === 9) {
      await sleep(1);
    }
  }
  if (spec.ending === 'finalize-close') {
    ws.send(JSON.stringify({ type: 'session.finalize' }));
    await waitFor((m) => m.type === 'transcript.final', 300 + r() * 1000);
    ws.close(1000, 'done');
    return stuck();
  }
  ws.send(JSON.stringify({ type: 'session.end' }));
  if (spec.ending === 'slow-consumer') {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise<void>((resolve) => { timer = setTimeout(resolve, 500 + r() * 6500); })]);
    clearTimeout(timer);
    ws.terminate();
    return closed;
  }
  return stuck();
}

