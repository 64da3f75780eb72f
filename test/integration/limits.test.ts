/**
 * Server limits with the real model on loopback (ws transport; the carrier does not matter here): inbound flow
 * control (flow.pause / flow.resume, GW_ERR_BACKLOG for a client that ignores them), drain (SIGTERM path) and the
 * idle timeout. Small marks and timeouts come from the gateway config, as an operator would set them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { VoxgateClient } from '../../clients/node-client.js';
import { startFieldsFor, streamWav } from '../../src/cli/stream-wav.js';
import { wavChunks, type WavAudio } from '../../src/cli/wav.js';
import type { ServerMessage, SessionEndedMessage } from '../../src/protocol/messages.js';
import type { Gateway } from '../../src/server/gateway.js';
import { checkTranscriptOrder, longestFixture, repeatPcm, startRealGateway } from './helpers.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function gateway(overrides: Parameters<typeof startRealGateway>[1]): Promise<{ gw: Gateway; url: string }> {
  const gw = await startRealGateway('ws', overrides);
  gateways.push(gw);
  return { gw, url: `ws://127.0.0.1:${gw.port}/v1/stream` };
}

/** A raw socket that records every server message; `closed` resolves with the close code. */
async function rawSession(url: string, wav: WavAudio, autoPong = true) {
  const ws = new WebSocket(url, { perMessageDeflate: false, autoPong });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const msgs: ServerMessage[] = [];
  ws.on('message', (d: Buffer) => msgs.push(JSON.parse(d.toString()) as ServerMessage));
  const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
  ws.send(JSON.stringify({ type: 'session.start', ...startFieldsFor(wav) }));
  return { ws, msgs, closed };
}

function speechOf(ms: number): WavAudio {
  const { wav } = longestFixture();
  const data = repeatPcm(wav, ms);
  return { ...wav, data, durationMs: (data.byteLength / wav.frameBytes / wav.sampleRateHz) * 1000 };
}

describe('inbound flow control with the real model', () => {
  it.each([
    ['answers pings: past the hard limit once its stack echoed the pause\'s ping', true, /kept sending after flow\.pause/],
    ['never answers pings: past twice the hard limit (the in-flight cap)', false, /exceeds the in-flight cap of 3000 ms/],
  ] as const)('a client ignoring flow.pause that %s gets GW_ERR_BACKLOG and close 4003', async (_, autoPong, why) => {
    const { url } = await gateway({ flowHighWaterMs: 300, flowLowWaterMs: 100, backlogLimitMs: 1500 });
    const wav = speechOf(30_000);
    const s = await rawSession(url, wav, autoPong);
    for (const chunk of wavChunks(wav, 50)) {
      if (s.ws.readyState !== WebSocket.OPEN) break;
      s.ws.send(chunk); // ignores flow.pause
      await new Promise((r) => setImmediate(r)); // lets its stack answer the server's pings
    }
    expect(await s.closed).toBe(4003);
    expect(s.msgs.find((m) => m.type === 'error')).toMatchObject({ message: expect.stringMatching(why) });
    const kinds = s.msgs.map((m) => m.type);
    expect(kinds[0]).toBe('session.started');
    expect(kinds).toContain('flow.pause');
    expect(kinds.indexOf('flow.pause')).toBeLessThan(kinds.indexOf('error'));
    expect(kinds.slice(-2)).toEqual(['error', 'session.ended']);
    expect(s.msgs[s.msgs.length - 2]).toMatchObject({ code: 'GW_ERR_BACKLOG', fatal: true });
    const ended = s.msgs[s.msgs.length - 1] as SessionEndedMessage;
    expect(ended).toMatchObject({ reason: 'error', error_code: 'GW_ERR_BACKLOG' });
    // Never dropped silently: what was not transcribed is visible in the stats.
    expect(ended.stats.processed_audio_ms).toBeLessThan(ended.stats.audio_ms);
    expect(ended.stats.flow_pauses).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('a client that obeys flow.pause streams 30 s unpaced, paused and resumed in turn, and ends with every ms processed',
    async () => {
      const { gw, url } = await gateway({ flowHighWaterMs: 300, flowLowWaterMs: 100 });
      const wav = speechOf(30_000);
      const client = await VoxgateClient.connect(url, { start: startFieldsFor(wav) });
      const msgs: ServerMessage[] = [];
      // how fast is for the benchmarks; a flow control that never resumed fails the test's own timeout
      const result = await streamWav(client, wav, { onMessage: (m) => msgs.push(m) });
      expect((await client.closed).code).toBe(1000);
      const flow = msgs.filter((m) => m.type === 'flow.pause' || m.type === 'flow.resume').map((m) => m.type);
      expect(flow.length).toBeGreaterThanOrEqual(2);
      flow.forEach((t, i) => expect(t).toBe(i % 2 === 0 ? 'flow.pause' : 'flow.resume'));
      checkTranscriptOrder(msgs);
      const expectedMs = Math.round(wav.durationMs);
      expect(result.ended).toMatchObject({ reason: 'client_end', audio_ms: expectedMs,
        stats: { processed_audio_ms: expectedMs, flow_pauses: flow.filter((t) => t === 'flow.pause').length } });
      expect(await gw.metrics.metricsText()).toMatch(/voxgate_flow_pauses_total [1-9]/);
    }, 60_000);
});

describe('drain and idle timeout with the real model', () => {
  it('drain: the open utterance gets its final (reason shutdown), then error, session.ended and close 1001', async () => {
    const { gw, url } = await gateway({});
    const wav = speechOf(4000);
    const client = await VoxgateClient.connect(url, { start: startFieldsFor(wav) });
    const msgs: ServerMessage[] = [];
    client.onMessage((m) => msgs.push(m));
    for (const chunk of wavChunks(wav, 50)) await client.sendAudio(chunk);
    // Continuous speech was sent and no session.end: an utterance is open (speech.started without speech.stopped).
    const deadline = Date.now() + 10_000;
    while (!msgs.some((m) => m.type === 'speech.started') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await gw.drain();
    expect((await client.closed).code).toBe(1001);
    const finals = checkTranscriptOrder(msgs);
    expect(finals[finals.length - 1]).toMatchObject({ reason: 'shutdown' });
    const tail = msgs.slice(-2);
    expect(tail[0]).toMatchObject({ type: 'error', code: 'GW_ERR_SHUTTING_DOWN', fatal: true });
    expect(tail[1]).toMatchObject({ type: 'session.ended', reason: 'error', error_code: 'GW_ERR_SHUTTING_DOWN',
      stats: { processed_audio_ms: Math.round(wav.durationMs) } });
  }, 60_000);

  it('idle timeout: no audio and no ping -> GW_ERR_IDLE_TIMEOUT, close 4001', async () => {
    const { url } = await gateway({ idleTimeoutMs: 300 });
    const { wav } = longestFixture();
    const t0 = Date.now();
    const s = await rawSession(url, wav);
    expect(await s.closed).toBe(4001);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(s.msgs.map((m) => m.type)).toEqual(['session.started', 'error', 'session.ended']);
    expect(s.msgs[1]).toMatchObject({ code: 'GW_ERR_IDLE_TIMEOUT', fatal: true });
  }, 30_000);
});
