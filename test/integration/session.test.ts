/**
 * End to end on loopback: a real gateway (port 0) on each transport, the real model, real speech fixtures, the real
 * `ws` client (clients/node-client.ts). Asserts message structure and order; transcript quality only through
 * MAX_WER (helpers.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { VoxgateClient } from '../../clients/node-client.js';
import { startFieldsFor, streamWav } from '../../src/cli/stream-wav.js';
import { wavChunks, type WavAudio } from '../../src/cli/wav.js';
import { formatNumerals } from '../../src/inference/numerals.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import type { Gateway } from '../../src/server/gateway.js';
import {
  checkTranscriptOrder, corpusWer, loadWav, longestFixture, MAX_WER, REQUIRE_PARTIALS, speechFixtures, startRealGateway,
} from './helpers.js';
import { interleaveS16 } from '../stream/helpers.js';

describe.each(['uws', 'ws'] as const)('real model over %s', (transport) => {
  let gw: Gateway;
  let url: string;
  beforeAll(async () => {
    // one encoder worker over uws, two (the default on 2 cores) over ws: every test below passes with both
    gw = await startRealGateway(transport, { encoderWorkers: transport === 'uws' ? 1 : 2 });
    url = `ws://127.0.0.1:${gw.port}/v1/stream`;
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
  });

  it(transport === 'uws' ? 'runs on the native uWebSockets.js binary' : 'runs on ws', () => {
    expect(gw.transport).toBe(transport);
    expect(gw.nativeBinary).toBe(transport === 'uws');
  });

  it('a full session: started -> audio in 50 ms frames -> ordered transcripts -> ended -> close 1000', async () => {
    const { wav } = longestFixture();
    const client = await VoxgateClient.connect(url, { start: startFieldsFor(wav, { latency: 'low' }) });
    expect(client.started).toMatchObject({ type: 'session.started', protocol_version: 1, model: 'voxgate-conformer-ctc-en',
      chunk_ms: 160, latency: 'low', audio: { encoding: 'pcm_s16le', sample_rate_hz: wav.sampleRateHz, channels: 1 } });
    expect(client.started.session_id).toMatch(/^[0-9a-f-]{36}$/);
    const msgs: ServerMessage[] = [];
    const result = await streamWav(client, wav, { onMessage: (m) => msgs.push(m) });
    const close = await client.closed;
    expect(close.code).toBe(1000);
    expect(msgs[msgs.length - 1]!.type).toBe('session.ended');
    expect(msgs.filter((m) => m.type === 'error')).toEqual([]);
    const finals = checkTranscriptOrder(msgs);
    expect(finals.length).toBeGreaterThanOrEqual(1);
    expect(finals.filter((f) => 'formatted_text' in f)).toEqual([]); // only with numerals
    expect(finals[finals.length - 1]!.end_ms).toBeLessThanOrEqual(Math.ceil(wav.durationMs) + 40);
    const partials = msgs.filter((m) => m.type === 'transcript.partial');
    if (REQUIRE_PARTIALS) expect(partials.length).toBeGreaterThan(0);
    const expectedMs = Math.round(wav.durationMs);
    expect(result.ended).toMatchObject({ reason: 'client_end', audio_ms: expectedMs,
      stats: { audio_ms: expectedMs, processed_audio_ms: expectedMs, finals_sent: finals.length,
        partials_sent: partials.length, partials_dropped: 0, utterances: finals.length } });
    expect(result.ended.stats.frames_received).toBe([...wavChunks(wav, 50)].length);
  }, 60_000);

  it('numerals and alternatives: session.started echoes them, finals carry formatted_text and an n-best list',
    async () => {
      const entry = speechFixtures().find((e) => e.set === 'an4')!;
      const wav = loadWav(entry);
      const client = await VoxgateClient.connect(url, { start: { ...startFieldsFor(wav), numerals: true, alternatives: 3 } });
      expect(client.started).toMatchObject({ numerals: true, alternatives: 3 });
      const msgs: ServerMessage[] = [];
      await streamWav(client, wav, { onMessage: (m) => msgs.push(m) });
      const finals = checkTranscriptOrder(msgs).filter((f) => f.rejected === undefined);
      expect(finals.length).toBeGreaterThanOrEqual(1);
      for (const f of finals) {
        expect(f.formatted_text).toBe(formatNumerals(f.words.map((w) => w.word)));
        const alts = f.alternatives!;
        expect(alts.length).toBeGreaterThanOrEqual(1);
        expect(alts.length).toBeLessThanOrEqual(3);
        expect(alts[0]).toMatchObject({ text: f.text, formatted_text: f.formatted_text });
        for (const a of alts) expect(a.formatted_text).toBe(formatNumerals(a.text.split(' ').filter(Boolean)));
        expect(alts.reduce((sum, a) => sum + a.confidence, 0)).toBeLessThanOrEqual(1 + 1e-9);
      }
    }, 60_000);

  it('multichannel: each channel of a stereo call is transcribed as that channel alone, events tagged with it', async () => {
    const [a, b] = ['asterisk', 'an4'].map((set) => loadWav(speechFixtures().find((e) => e.set === set)!));
    for (const w of [a!, b!]) expect([w.sampleRateHz, w.channels, w.encoding]).toEqual([16000, 1, 'pcm_s16le']);
    // turn-taking: the left talks, then the right, each silent while the other talks
    const bytes = a!.data.length + b!.data.length + 16000;
    const left = new Uint8Array(bytes);
    left.set(a!.data, 0);
    const right = new Uint8Array(bytes);
    right.set(b!.data, a!.data.length + 8000);
    const both = interleaveS16(left, right);
    const run = async (data: Uint8Array, channels: 1 | 2) => {
      const wav: WavAudio = { encoding: 'pcm_s16le', sampleRateHz: 16000, channels, data, frameBytes: 2 * channels,
        durationMs: data.length / (32 * channels) };
      const client = await VoxgateClient.connect(url, { start: { ...startFieldsFor(wav), multichannel: channels === 2 } });
      expect(client.started.multichannel).toBe(channels === 2);
      const msgs: ServerMessage[] = [];
      await streamWav(client, wav, { onMessage: (m) => msgs.push(m) });
      return msgs.filter((m) => m.type === 'transcript.final' || m.type === 'speech.started');
    };
    const [stereo, ...alone] = await Promise.all([run(both, 2), run(left, 1), run(right, 1)]);
    expect(alone.flat().filter((m) => 'channel' in m)).toEqual([]);
    for (const k of [0, 1]) {
      const mine = stereo!.filter((m) => m.channel === k).map(({ channel: _, ...m }) => m);
      const finals = (msgs: typeof mine) => msgs.filter((m) => m.type === 'transcript.final')
        .map((m) => [m.utterance_id, m.text, m.words.map((w) => [w.start_ms, w.end_ms])]);
      expect(finals(mine), `channel ${k}`).toEqual(finals(alone[k]!));
      expect(finals(mine).length).toBeGreaterThan(0);
      expect(mine.filter((m) => m.type === 'speech.started')).toEqual(alone[k]!.filter((m) => m.type === 'speech.started'));
    }
    expect(stereo!.every((m) => m.channel === 0 || m.channel === 1)).toBe(true);
  }, 60_000);

  it(`transcribes the speech fixtures with corpus WER <= ${MAX_WER}`, async () => {
    const fixtures = speechFixtures();
    const pairs = await Promise.all(fixtures.map(async (entry) => {
      const wav = loadWav(entry);
      const client = await VoxgateClient.connect(url, { start: startFieldsFor(wav) });
      const msgs: ServerMessage[] = [];
      const r = await streamWav(client, wav, { onMessage: (m) => msgs.push(m) });
      checkTranscriptOrder(msgs);
      return { reference: entry.reference, hypothesis: r.text };
    }));
    const acc = corpusWer(pairs);
    expect(acc.files).toBe(fixtures.length);
    expect(acc.wer, JSON.stringify(pairs)).toBeLessThanOrEqual(MAX_WER);
  }, 60_000);

  it('serves /healthz, /readyz and /metrics with the sessions it ran', async () => {
    const base = `http://127.0.0.1:${gw.port}`;
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready' });
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/voxgate_audio_seconds_total [1-9]/);
    expect(text).toMatch(/voxgate_finals_total [1-9]/);
    expect(text).toMatch(/voxgate_sessions_total\{reason="client_end"\} [1-9]/);
    expect(text).toContain('voxgate_final_latency_seconds_bucket');
    expect(text).toMatch(/voxgate_encoder_batch_size_count [1-9]/);
    expect(text).toMatch(/voxgate_encoder_run_seconds_count [1-9]/);
    const workers = [...text.matchAll(/^voxgate_encoder_worker_streams\{worker="(\d+)"\} \d+$/gm)].map((m) => m[1]);
    expect(workers).toEqual(transport === 'ws' ? ['0', '1'] : ['0']);
  });

  it('a raw ws client: audio before session.start -> GW_ERR_NOT_STARTED, close 4000', async () => {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const got: unknown[] = [];
    ws.on('message', (d: Buffer) => got.push(JSON.parse(d.toString())));
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    ws.send(new Uint8Array(320));
    expect(await closed).toBe(4000);
    expect(got).toEqual([expect.objectContaining({ type: 'error', code: 'GW_ERR_NOT_STARTED', fatal: true })]);
  });
});
