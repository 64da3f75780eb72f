/**
 * Load shedding (docs/protocol.md sections 1 and 10: new upgrades 503 and /readyz "overloaded" while transcripts lag
 * past --overload-latency-ms) with the real model on loopback: a client that stops sending audio in the middle of an
 * utterance and asks for it later (session.finalize, session.end) gets the transcripts of that audio only then. Their
 * `latency_ms` measures the client's pause, not a server that lags, and must not shut the gateway to new sessions.
 * So does a `session.update` that ends the open utterance at once (a lower `silence_ms` its trailing silence already
 * reaches, a lower `max_utterance_ms` its length reaches): its final's latency is as old as the pause before it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startFieldsFor } from '../../src/cli/stream-wav.js';
import { wavChunks, type WavAudio } from '../../src/cli/wav.js';
import type { ServerMessage, TranscriptFinalMessage, TranscriptPartialMessage } from '../../src/protocol/messages.js';
import type { Gateway } from '../../src/server/gateway.js';
import { longestFixture, startRealGateway } from './helpers.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

const OVERLOAD_LATENCY_MS = 500;
/** The client's pause between its last audio and its request: past the overload mark. */
const PAUSE_MS = 3 * OVERLOAD_LATENCY_MS;
/** Where the client stops: in the middle of the fixture's speech, with audio left that no chunk has decoded yet. */
const SPOKEN_MS = 1500;
/** Silence after the speech: more than a lowered silence_ms, less than the session's own. */
const TRAILING_SILENCE_MS = 1000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A gateway that sheds load past OVERLOAD_LATENCY_MS, and a session on it for the longest fixture, started with
 *  `fields`; `msgs` collects what the server sends. */
async function openSession(fields: Parameters<typeof startFieldsFor>[1]): Promise<{ gw: Gateway; wav: WavAudio;
  ws: WebSocket; msgs: ServerMessage[] }> {
  const gw = await startRealGateway('ws', { overloadLatencyMs: OVERLOAD_LATENCY_MS });
  gateways.push(gw);
  const { wav } = longestFixture();
  const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/v1/stream`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const msgs: ServerMessage[] = [];
  ws.on('message', (d: Buffer) => msgs.push(JSON.parse(d.toString()) as ServerMessage));
  ws.send(JSON.stringify({ type: 'session.start', ...startFieldsFor(wav, fields) }));
  return { gw, wav, ws, msgs };
}

/** The gateway is ready and admits a new session. */
async function expectAdmitting(gw: Gateway): Promise<void> {
  const ready = await fetch(`http://127.0.0.1:${gw.port}/readyz`);
  expect({ status: ready.status, body: JSON.parse(await ready.text()) as unknown })
    .toMatchObject({ status: 200, body: { status: 'ready' } });
  const next = new WebSocket(`ws://127.0.0.1:${gw.port}/v1/stream`, { perMessageDeflate: false });
  const admitted = await new Promise<boolean>((resolve) => {
    next.once('open', () => resolve(true));
    next.once('unexpected-response', () => resolve(false));
    next.once('error', () => resolve(false));
  });
  expect(admitted).toBe(true);
  next.close();
}

describe('load shedding with the real model', () => {
  it.each(['session.finalize', 'session.end'] as const)('a client that pauses mid-utterance, then sends %s, does '
    + 'not make the gateway refuse new sessions', async (request) => {
    const { gw, wav, ws, msgs } = await openSession({});
    for (const chunk of [...wavChunks(wav, 20)].slice(0, SPOKEN_MS / 20)) { // at real time, as a microphone sends
      ws.send(chunk);
      await sleep(20);
    }
    await sleep(PAUSE_MS);
    const sentBefore = msgs.length;
    ws.send(JSON.stringify({ type: request }));
    const deadline = Date.now() + 5000;
    while (!msgs.slice(sentBefore).some((m) => m.type === 'transcript.final') && Date.now() < deadline) await sleep(5);

    // The premise: the audio held since the pause came out only now, with the pause in its latency_ms.
    const flushed = msgs.slice(sentBefore)
      .filter((m): m is TranscriptPartialMessage => m.type === 'transcript.partial');
    expect(flushed.length).toBeGreaterThan(0);
    expect(flushed[0]!.latency_ms).toBeGreaterThanOrEqual(PAUSE_MS);
    await expectAdmitting(gw);
    ws.close();
  }, 30_000);
});

describe('load shedding after a session.update that ends the utterance', () => {
  it.each([
    ['silence', { silence_ms: 200 }],
    // silence_ms must stay below max_utterance_ms, and above the trailing silence so that the length decides
    ['max_utterance', { silence_ms: 1500, max_utterance_ms: 2000 }],
  ] as const)('a client that pauses, then lowers endpointing (final reason %s), does not make the gateway refuse '
    + 'new sessions', async (reason, endpointing) => {
    // No partials: the update's final is then the only latency the gateway has recorded, as after a quiet spell.
    const { gw, wav, ws, msgs } = await openSession({ interim_results: false,
      endpointing: { silence_ms: 3000, max_utterance_ms: 60_000 } });
    const silence = new Uint8Array((wav.sampleRateHz * wav.frameBytes * 20) / 1000);
    const frames = [...wavChunks(wav, 20), ...Array.from({ length: TRAILING_SILENCE_MS / 20 }, () => silence)];
    for (const frame of frames) { // at real time, as a microphone sends
      ws.send(frame);
      await sleep(20);
    }
    await sleep(PAUSE_MS);
    expect(msgs.filter((m) => m.type === 'transcript.final')).toEqual([]); // the utterance is still open
    ws.send(JSON.stringify({ type: 'session.update', endpointing }));
    const deadline = Date.now() + 5000;
    while (!msgs.some((m) => m.type === 'transcript.final') && Date.now() < deadline) await sleep(5);

    // The premise: the update ended the utterance, and the final's latency_ms holds the client's pause.
    const final = msgs.find((m): m is TranscriptFinalMessage => m.type === 'transcript.final');
    expect(final).toMatchObject({ reason });
    expect(final!.latency_ms).toBeGreaterThanOrEqual(PAUSE_MS);
    await expectAdmitting(gw);
    ws.close();
  }, 30_000);
});
