/**
 * Does a session's memory grow with its length? One in-process session (the server's Session and pipeline, real
 * model) is fed --minutes of real speech (the load benchmark's clip loop, 1 s of silence between clips, so
 * utterances open and close) as fast as it takes it; JS heap, external memory and RSS are printed every few minutes
 * of audio, then the session's utterance count. A session may last an hour (`--max-duration-ms`), so anything kept
 * per utterance or per partial would show here.
 *
 * usage: npm run bench:long-session -- [--minutes 20]
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { openLocalChannel } from '../src/cli/channel.js';
import { loadInProcessEngine } from '../src/cli/transcribe-command.js';
import { argValue, checkBenchArgs } from './bench-stats.js';
import { CORPUS_RATE_HZ, loadSpeechCorpus, loopBytes } from './speech-corpus.js';

const FRAME_SAMPLES = CORPUS_RATE_HZ / 20; // 50 ms

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  checkBenchArgs(argv, { minutes: 'number' });
  const minutes = Number(argValue(argv, 'minutes') ?? 20);
  if (!(minutes > 0 && minutes <= 240)) throw new Error(`--minutes must be in (0, 240], got ${minutes}`);
  const root = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '..' : '../..', import.meta.url)); // bench/ (tsx) or dist/bench/
  const corpus = loadSpeechCorpus({ dirs: [join(root, 'test/fixtures/speech'), join(root, 'training/cache/heldout')],
    gapMs: 1000, maxSeconds: 300 });
  const engine = await loadInProcessEngine({});
  try {
    const channel = await openLocalChannel(engine, { audio: { encoding: 'pcm_s16le', sample_rate_hz: CORPUS_RATE_HZ,
      channels: 1 } });
    let finals = 0;
    channel.onMessage((m) => { if (m.type === 'transcript.final') finals++; });
    const total = Math.round(minutes * 60 * CORPUS_RATE_HZ);
    const every = Math.max(FRAME_SAMPLES, Math.round(total / 5));
    const t0 = performance.now();
    const report = (sent: number): void => {
      const m = process.memoryUsage();
      console.log(`audio ${(sent / CORPUS_RATE_HZ / 60).toFixed(1).padStart(5)} min  finals ${String(finals).padStart(5)}  `
        + `heap ${(m.heapUsed / 1e6).toFixed(1)} MB  external ${(m.external / 1e6).toFixed(1)} MB  `
        + `RSS ${(m.rss / 1e6).toFixed(0)} MB  wall ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    };
    for (let sent = 0; sent < total; sent += FRAME_SAMPLES) {
      if (sent % every < FRAME_SAMPLES) report(sent);
      await channel.sendAudio(loopBytes(corpus.samples, sent, FRAME_SAMPLES));
    }
    const ended = await channel.end();
    report(total);
    console.log(`long-session: ${minutes} min of audio, ${ended.stats.utterances} utterances, ended ${ended.reason}`);
  } finally {
    await engine.close();
  }
}

await main();
