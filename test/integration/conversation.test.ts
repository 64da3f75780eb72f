/**
 * Seeded valid conversations with a real gateway (both carriers, the real model): clients negotiate random wire
 * formats, latencies and endpointing, stream real speech separated by pauses in frames of random size, and
 * interleave `session.finalize`, `session.update` (endpointing and hotwords) and `ping` at random points, then end
 * the session. Where fuzz.test.ts checks that the gateway survives and refuses bad input, this checks what it
 * promises valid clients (docs/protocol.md): no error; every ping its pong and every update its `session.updated`,
 * in order; the transcript invariants of helpers.ts; one final per speech.started / speech.stopped pair, none
 * longer than max_utterance_ms; and a `session.ended` whose stats account for every byte and frame sent (nothing a
 * client sends is silently lost), matched by the gateway's /metrics counters.
 * Multichannel and numerals sessions are among them (their own random draws, so the seeds kept their conversations).
 * Load shedding is off: these clients stream up to 50x real time and connect one after another.
 * A drain in the middle of six such conversations must finalise every open utterance and transcribe every byte
 * received, whatever was still queued (one client sends 5 s frames, which the pipeline works through in slices).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concat, gaussian, rng } from '../../bench/bench-random.js';
import { VoxgateClient } from '../../clients/node-client.js';
import { encodeWav, parseWav } from '../../src/cli/wav.js';
import { PcmDecoder } from '../../src/dsp/pcm-decoder.js';
import type { ServerMessage, SessionEndedMessage, SessionStartMessage, SessionStats } from '../../src/protocol/messages.js';
import { bytesPerSampleFrame } from '../../src/protocol/validate.js';
import type { Gateway } from '../../src/server/gateway.js';
import { int, pick, type Rand } from '../protocol/fuzz-frames.js';
import { checkTranscriptOrder, loadWav, speechFixtures, startRealGateway, toWire, type WireFormat } from './helpers.js';

/** Seeds of the clients per carrier; 1004 and 1506 had utterances up to 9 ms over a max_utterance_ms that was not a
 * multiple of 10 (fixed in stream/endpoint.ts). 120 other seeds passed when this was written. */
const SEEDS = { uws: [1, 2, 3, 1004], ws: [101, 102, 103, 1506] } as const;

const FORMATS: WireFormat[] = [
  { encoding: 'pcm_s16le', sampleRateHz: 16000, channels: 1 },
  { encoding: 'pcm_s16le', sampleRateHz: 44100, channels: 2 },
  { encoding: 'pcm_f32le', sampleRateHz: 48000, channels: 2 },
  { encoding: 'pcm_f32le', sampleRateHz: 22050, channels: 1 },
  { encoding: 'mulaw', sampleRateHz: 8000, channels: 1 },
  { encoding: 'alaw', sampleRateHz: 8000, channels: 1 },
];

/** The speech fixtures in random order, each after a pause of 0-1.5 s of faint noise, at 16 kHz. */
function speechWithPauses(r: Rand, seed: number): Float32Array {
  const parts: Float32Array[] = [];
  const clips = speechFixtures().map((e) => loadWav(e)).sort(() => r() - 0.5);
  clips.forEach((wav, k) => {
    parts.push(gaussian(int(r, 0, 24) * 1000, seed * 100 + k, 1e-3));
    parts.push(new PcmDecoder({ encoding: wav.encoding, channels: wav.channels }).push(wav.data));
  });
  parts.push(gaussian(int(r, 0, 12) * 1000, seed * 100 + 99, 1e-3));
  return concat(parts);
}

function randomStart(r: Rand, f: WireFormat, words: readonly string[]): Omit<SessionStartMessage, 'type'> {
  return {
    audio: { encoding: f.encoding, sample_rate_hz: f.sampleRateHz, channels: f.channels },
    interim_results: r() < 0.8,
    ...(r() < 0.5 ? { latency: pick(r, ['low', 'balanced', 'accurate'] as const) } : { chunk_ms: 40 * int(r, 2, 20) }),
    endpointing: { silence_ms: int(r, 200, 1200), max_utterance_ms: int(r, 2000, 15000) },
    hotwords: r() < 0.5 ? [{ phrase: pick(r, words), boost: 1 + 3 * r() }] : [],
    denoise: pick(r, ['off', 'spectral'] as const),
    min_confidence: pick(r, [0, 0.15, 0.3]),
  };
}

interface Conversation {
  msgs: ServerMessage[];
  /** session.start's endpointing.max_utterance_ms (updates change only silence_ms). */
  maxUtteranceMs: number;
  numerals: boolean;
  multichannel: boolean;
  /** session.start's alternatives (1: none asked). */
  alternatives: number;
  pings: number;
  updates: number;
  frames: number;
  audioMs: number;
}

/** One client's conversation; resolves after `session.ended` and the close. */
async function converse(url: string, seed: number): Promise<Conversation> {
  const r = rng(seed);
  const words = speechFixtures().flatMap((e) => e.reference.split(' ')).filter((w) => w.length > 2);
  const f = pick(r, FORMATS);
  const wire = toWire(parseWav(encodeWav(speechWithPauses(r, seed), 16000, 1, 'pcm_s16le')), f);
  // options added after the seeds were chosen come from their own generator, so each seed keeps its conversation
  const extra = rng(seed + 7777);
  const start = { ...randomStart(r, f, words), numerals: extra() < 0.5, multichannel: f.channels === 2 && extra() < 0.7,
    alternatives: extra() < 0.5 ? int(extra, 2, 5) : 1, background_rejection_db: extra() < 0.3 ? 12 : 0 };
  const client = await VoxgateClient.connect(url, { start });
  const msgs: ServerMessage[] = [];
  client.onMessage((m) => msgs.push(m));
  const frameBytes = bytesPerSampleFrame(f.encoding, f.channels);
  const replies: Promise<unknown>[] = [];
  let pings = 0, updates = 0, frames = 0;
  for (let off = 0; off < wire.byteLength;) {
    // 1 sample frame to 250 ms per binary frame: the gateway must not care how audio is cut
    const n = Math.min(int(r, 1, f.sampleRateHz / 4) * frameBytes, wire.byteLength - off);
    await client.sendAudio(wire.subarray(off, off + n));
    off += n;
    frames++;
    const action = r();
    if (action < 0.04) client.finalize();
    else if (action < 0.07 && pings < 20) {
      pings++;
      replies.push(client.ping());
    } else if (action < 0.09 && updates < 20) {
      updates++;
      replies.push(client.update(r() < 0.5
        ? { endpointing: { silence_ms: int(r, 200, 1200) } }
        : { hotwords: [...new Set(Array.from({ length: int(r, 0, 3) }, () => pick(r, words)))].map((phrase) => ({ phrase })) }));
    }
  }
  await Promise.all(replies);
  await client.end();
  const close = await client.closed;
  expect(close.code).toBe(1000);
  return { msgs, maxUtteranceMs: start.endpointing!.max_utterance_ms!, numerals: start.numerals,
    multichannel: start.multichannel, alternatives: start.alternatives, pings, updates, frames,
    audioMs: Math.round((wire.byteLength / frameBytes / f.sampleRateHz) * 1000) };
}

describe.each(['uws', 'ws'] as const)('valid conversations over %s', (transport) => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startRealGateway(transport);
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
  });

  it(`${SEEDS[transport].length} seeded clients get every promise of the protocol kept`, async () => {
    const url = `ws://127.0.0.1:${gw.port}/v1/stream`;
    const seeds = SEEDS[transport];
    const runs = await Promise.all(seeds.map((s) => converse(url, s)));
    let finalsWithText = 0;
    runs.forEach((c, k) => {
      const what = `seed ${seeds[k]}`;
      const types = c.msgs.map((m) => m.type);
      expect(types.filter((t) => t === 'error'), what).toEqual([]);
      expect(types.filter((t) => t === 'pong'), what).toHaveLength(c.pings);
      expect(types.filter((t) => t === 'session.updated'), what).toHaveLength(c.updates);
      const finals = checkTranscriptOrder(c.msgs);
      expect(types.filter((t) => t === 'speech.started'), what).toHaveLength(finals.length);
      for (const fin of finals) expect(fin.end_ms - fin.start_ms, what).toBeLessThanOrEqual(c.maxUtteranceMs);
      for (const fin of finals) expect('formatted_text' in fin, what).toBe(c.numerals);
      for (const fin of finals) {
        const alts = fin.alternatives ?? [];
        expect(alts.length > 0, what).toBe(c.alternatives > 1 && fin.rejected === undefined);
        expect(alts.length, what).toBeLessThanOrEqual(c.alternatives);
        if (alts.length > 0) expect(alts[0]!.text, what).toBe(fin.text);
      }
      const channels = new Set(c.msgs.filter((m) => m.type === 'speech.started').map((m) => m.channel));
      expect([...channels].every((ch) => (c.multichannel ? ch === 0 || ch === 1 : ch === undefined)), what).toBe(true);
      finalsWithText += finals.filter((m) => m.text !== '').length;
      const partials = c.msgs.filter((m) => m.type === 'transcript.partial').length;
      const ended = c.msgs.at(-1);
      expect(ended?.type, what).toBe('session.ended');
      if (ended?.type !== 'session.ended') return;
      expect(ended, what).toMatchObject({ reason: 'client_end', audio_ms: c.audioMs, stats: { audio_ms: c.audioMs,
        processed_audio_ms: c.audioMs, frames_received: c.frames, finals_sent: finals.length, utterances: finals.length,
        partials_sent: partials, partials_dropped: 0 } });
    });
    // the conversations carried speech the model heard, not only pauses
    expect(finalsWithText).toBeGreaterThanOrEqual(seeds.length * 2);
    // /metrics counts what the sessions reported (this gateway served only these sessions)
    const metrics = await (await fetch(`http://127.0.0.1:${gw.port}/metrics`)).text();
    const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
    const ended = runs.map((c) => c.msgs.at(-1)).filter((m): m is SessionEndedMessage => m?.type === 'session.ended');
    const sum = (f: (s: SessionStats) => number): number => ended.reduce((n, m) => n + f(m.stats), 0);
    expect(value('voxgate_audio_seconds_total')).toBeCloseTo(sum((s) => s.audio_ms) / 1000, 1);
    expect(value('voxgate_finals_total')).toBe(sum((s) => s.finals_sent));
    expect(value('voxgate_finals_rejected_total')).toBe(sum((s) => s.finals_rejected));
    expect(value('voxgate_partials_sent_total')).toBe(sum((s) => s.partials_sent));
    expect(value('voxgate_sessions_active')).toBe(0);
    expect(metrics).toMatch(new RegExp(`^voxgate_sessions_total\\{reason="client_end"\\} ${seeds.length}$`, 'm'));
  }, 120_000);
});

describe('drain in the middle of valid conversations', () => {
  it('every session: its open utterance finalised, all received audio transcribed, GW_ERR_SHUTTING_DOWN, 1001', async () => {
    const gw = await startRealGateway('uws');
    try {
      const url = `ws://127.0.0.1:${gw.port}/v1/stream`;
      const runs = await Promise.all([11, 12, 13, 14, 15, 16].map(async (seed) => {
        const r = rng(seed);
        const f = FORMATS[seed % FORMATS.length]!;
        const wire = toWire(parseWav(encodeWav(speechWithPauses(r, seed), 16000, 1, 'pcm_s16le')), f);
        const client = await VoxgateClient.connect(url, { start: { audio: { encoding: f.encoding,
          sample_rate_hz: f.sampleRateHz, channels: f.channels } } });
        const msgs: ServerMessage[] = [];
        client.onMessage((m) => msgs.push(m));
        const frameBytes = bytesPerSampleFrame(f.encoding, f.channels);
        // seed 16 sends 5 s frames, which the pipeline works through in slices when the drain starts
        const maxFrames = seed === 16 ? 5 * f.sampleRateHz : f.sampleRateHz / 10;
        const sending = (async () => {
          for (let off = 0; off < wire.byteLength;) {
            const n = Math.min(int(r, 1, maxFrames) * frameBytes, wire.byteLength - off);
            await client.sendAudio(wire.subarray(off, off + n));
            off += n;
            await new Promise((res) => setTimeout(res, 5));
          }
        })().catch(() => undefined); // the socket closes under it
        return { client, msgs, sending };
      }));
      await new Promise((res) => setTimeout(res, 700));
      await gw.drain();
      let cutMidUtterance = 0;
      for (const [k, run] of runs.entries()) {
        const what = `client ${k}`;
        expect((await run.client.closed).code, what).toBe(1001);
        await run.sending;
        const finals = checkTranscriptOrder(run.msgs);
        const types = run.msgs.map((m) => m.type);
        expect(types.filter((t) => t === 'speech.started'), what).toHaveLength(finals.length);
        if (finals.at(-1)?.reason === 'shutdown') cutMidUtterance++;
        expect(run.msgs.slice(-2), what).toMatchObject([{ type: 'error', code: 'GW_ERR_SHUTTING_DOWN', fatal: true },
          { type: 'session.ended', reason: 'error', error_code: 'GW_ERR_SHUTTING_DOWN' }]);
        const ended = run.msgs.at(-1);
        if (ended?.type !== 'session.ended') continue;
        expect(ended.audio_ms, what).toBeGreaterThan(0);
        expect(ended.stats.processed_audio_ms, what).toBe(ended.audio_ms);
      }
      expect(cutMidUtterance).toBeGreaterThan(0); // the drain hit open utterances, not only pauses
    } finally {
      await gw.close();
    }
  }, 60_000);
});
