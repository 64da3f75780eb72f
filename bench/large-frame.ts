/**
 * What one large binary frame costs the other sessions. The protocol allows frames up to 1 MiB (131 s of 8 kHz
 * mu-law); the DSP stages run on the main thread, so the pipeline cuts such a frame into DSP_SLICE_MS slices and
 * runs one per event-loop turn (src/stream/input-pacer.ts). Per format and denoise setting, an in-process session
 * (the server's Session, real model) gets one frame of real speech (10 s, and 1 MiB) and then session.end; printed:
 * how long `pushAudio` held the main thread (every other session waits that long), the event loop's longest delay
 * while the rest of the frame was worked through (perf_hooks, 1 ms resolution), the wall time to session.ended,
 * and how the session ended (a 1 MiB frame carries more audio than the in-flight cap: GW_ERR_BACKLOG).
 *
 * usage: npm run bench:large-frame
 */
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { loadInProcessEngine } from '../src/cli/transcribe-command.js';
import { encodeMulawSamples } from '../src/dsp/g711.js';
import { Resampler } from '../src/dsp/resampler.js';
import type { AudioEncoding, ServerMessage } from '../src/protocol/messages.js';
import { LocalSession } from '../src/server/local-session.js';
import type { SessionServices } from '../src/server/session-pipeline-port.js';
import { checkBenchArgs, table } from './bench-stats.js';
import { CORPUS_RATE_HZ, loadSpeechCorpus } from './speech-corpus.js';

interface Case { encoding: AudioEncoding; rateHz: number; denoise: 'off' | 'spectral' }

const CASES: Case[] = [
  { encoding: 'mulaw', rateHz: 8000, denoise: 'off' },
  { encoding: 'mulaw', rateHz: 8000, denoise: 'spectral' },
  { encoding: 'pcm_s16le', rateHz: 8000, denoise: 'spectral' },
  { encoding: 'pcm_s16le', rateHz: 16000, denoise: 'spectral' },
];
const MAX_FRAME_BYTES = 1024 * 1024;

/** `seconds` of the corpus loop (16 kHz int16) in `c`'s wire format, cut to at most `maxBytes`. */
function toWire(corpus: Int16Array, seconds: number, c: Case, maxBytes: number): Uint8Array {
  const f = Float32Array.from({ length: seconds * CORPUS_RATE_HZ }, (_, i) => corpus[i % corpus.length]! / 32768);
  const r = new Resampler({ inputRateHz: CORPUS_RATE_HZ, outputRateHz: c.rateHz });
  const at = c.rateHz === CORPUS_RATE_HZ ? f : Float32Array.from([...r.push(f), ...r.flush()]);
  const wire = c.encoding === 'mulaw' ? encodeMulawSamples(at)
    : new Uint8Array(Int16Array.from(at, (x) => Math.max(-32768, Math.min(32767, Math.round(x * 32768)))).buffer);
  return wire.subarray(0, Math.min(wire.length, maxBytes - (maxBytes % (c.encoding === 'mulaw' ? 1 : 2))));
}

function open(services: SessionServices, c: Case): { s: LocalSession; msgs: ServerMessage[] } {
  const s = new LocalSession({ services });
  const msgs: ServerMessage[] = [];
  s.onMessage((m) => msgs.push(m));
  s.sendJson({ type: 'session.start', audio: { encoding: c.encoding, sample_rate_hz: c.rateHz, channels: 1 },
    denoise: c.denoise });
  return { s, msgs };
}

async function runCase(services: SessionServices, corpus: Int16Array, c: Case, seconds: number | null): Promise<string[]> {
  const frame = toWire(corpus, seconds ?? 140, c, MAX_FRAME_BYTES);
  const big = open(services, c);
  await new Promise((r) => setTimeout(r, 20));
  const loop = monitorEventLoopDelay({ resolution: 1 });
  const t0 = performance.now();
  big.s.sendAudio(frame);
  const blockedMs = performance.now() - t0;
  loop.enable(); // from here: the turns that run the frame's remaining slices
  if (!big.s.isClosed) big.s.sendJson({ type: 'session.end' }); // a 1 MiB frame may have ended it (GW_ERR_BACKLOG)
  await big.s.closed;
  loop.disable();
  const ended = big.msgs.find((m) => m.type === 'session.ended');
  const outcome = ended?.type !== 'session.ended' ? '?' : ended.reason === 'client_end' ? 'client_end'
    : `${ended.error_code} after ${(ended.stats.processed_audio_ms / 1000).toFixed(1)} s`;
  const wall = (performance.now() - t0) / 1000;
  return [`${c.encoding} ${c.rateHz / 1000} kHz, denoise ${c.denoise}`,
    `${(frame.length / 1024).toFixed(0)} KiB = ${(frame.length / (c.encoding === 'mulaw' ? 1 : 2) / c.rateHz).toFixed(1)} s`,
    blockedMs.toFixed(1), loop.count === 0 ? '-' : (loop.max / 1e6).toFixed(1), wall.toFixed(2), outcome];
}

async function main(): Promise<void> {
  checkBenchArgs(process.argv.slice(2), {});
  const root = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '..' : '../..', import.meta.url)); // bench/ (tsx) or dist/bench/
  const corpus = loadSpeechCorpus({ dirs: [join(root, 'training/cache/heldout'), join(root, 'test/fixtures/speech')],
    gapMs: 300, maxSeconds: 140 });
  const engine = await loadInProcessEngine({});
  try {
    const rows: string[][] = [['format', 'frame', 'pushAudio ms', 'then event-loop max delay ms', 'wall s', 'session']];
    for (const c of CASES) await runCase(engine, corpus.samples, c, 10); // warm-up: JIT, first-use allocations
    for (const c of CASES) {
      for (const seconds of [10, null]) rows.push(await runCase(engine, corpus.samples, c, seconds));
    }
    console.log(table(rows));
  } finally {
    await engine.close();
  }
}

await main();
