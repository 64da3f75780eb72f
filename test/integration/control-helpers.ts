/**
 * Helpers of the control-sequence probes (control-sequences*.test.ts; test/protocol/docs-behaviour.test.ts takes the
 * signals too): a raw `ws` client of a real gateway that keeps every message, the signals they send, and `checkSession`, the promises of docs/protocol.md that every session there
 * must keep whatever control messages it sent and when.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import type { WebSocket } from 'ws';
import type {
  ErrorMessage, ServerMessage, SessionEndedMessage, SessionStartedMessage, TranscriptFinalMessage,
} from '../../src/protocol/messages.js';
import { int, type Rand } from '../protocol/fuzz-frames.js';
import { until } from '../server/helpers.js';
import { closed, connect } from '../transports/helpers.js';
import type { Gateway } from '../../src/server/gateway.js';
import {
  checkTranscriptOrder, loadWav, longestFixture, speechFixtures, startRealGateway, toWire, type WireFormat,
} from './helpers.js';

/**
 * One real gateway for the calling test file, open from its beforeAll to its afterAll (uws, one encoder worker). Load
 * shedding is off: the probes send faster than real time and one after another, and it would refuse the late ones.
 */
export function fileGateway(): { readonly gw: Gateway } {
  const holder = {} as { gw: Gateway };
  beforeAll(async () => {
    holder.gw = await startRealGateway('uws', { encoderWorkers: 1 });
  }, 60_000);
  afterAll(async () => {
    await holder.gw?.close();
  });
  return holder;
}

/** 16 kHz 16-bit mono, the format of the speech fixtures: bytes per ms. */
export const BYTES_PER_MS = 32;
export const silence = (ms: number): Uint8Array => new Uint8Array(ms * BYTES_PER_MS);
export const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  parts.reduce((off, p) => (out.set(p, off), off + p.byteLength), 0);
  return out;
};
/** The first `ms` of the longest fixture (speech from its first 100 ms to its end). */
export const speech = (ms?: number): Uint8Array => {
  const { data } = longestFixture().wav;
  return ms === undefined ? data : data.subarray(0, ms * BYTES_PER_MS);
};
/** The speech fixtures (16 kHz s16le mono). */
export const clips = speechFixtures().map((e) => loadWav(e).data);
/** The clips in a seeded order, each after 0-1.2 s of silence, then 0-1 s more. */
export const talker = (r: Rand): Uint8Array =>
  concat(...[...clips].sort(() => r() - 0.5).flatMap((clip) => [silence(100 * int(r, 0, 12)), clip]),
    silence(100 * int(r, 0, 10)));
/** 16 kHz s16le mono as `f` carries one channel. */
export const asWire = (pcm: Uint8Array, f: WireFormat): Uint8Array =>
  toWire({ encoding: 'pcm_s16le', sampleRateHz: 16000, channels: 1, data: pcm, frameBytes: 2,
    durationMs: pcm.length / BYTES_PER_MS }, { ...f, channels: 1 });
/** Two signals of one sample size as one interleaved stereo signal, the shorter padded with zero bytes. */
export const interleave = (l: Uint8Array, r: Uint8Array, sampleBytes = 2): Uint8Array => {
  const n = Math.max(l.length, r.length) / sampleBytes;
  const out = new Uint8Array(2 * n * sampleBytes);
  for (let i = 0; i < n; i++) {
    out.set(l.subarray(i * sampleBytes, (i + 1) * sampleBytes), 2 * i * sampleBytes);
    out.set(r.subarray(i * sampleBytes, (i + 1) * sampleBytes), (2 * i + 1) * sampleBytes);
  }
  return out;
};

export interface Client {
  ws: WebSocket;
  msgs: ServerMessage[];
  started: SessionStartedMessage;
  closed: Promise<{ code: number }>;
  /** Sends 16-bit `bytes` as audio in frames of `frameMs` (default 100) of the session's channels, at once. */
  audio: (bytes: Uint8Array, frameMs?: number) => void;
  send: (...msgs: object[]) => void;
  /** Waits for a message `pred` accepts, and returns it. */
  next: <T extends ServerMessage>(pred: (m: ServerMessage) => boolean, what: string) => Promise<T>;
  /** Sends session.end, expects close 1000 and returns the last message (session.ended). */
  end: () => Promise<SessionEndedMessage>;
}

/** A started session on the gateway at `port`; `format`: channels of 16 kHz s16le, or a wire format. */
export async function openClient(port: number, start: object = {}, format: 1 | 2 | WireFormat = 1): Promise<Client> {
  const f: WireFormat = typeof format === 'number'
    ? { encoding: 'pcm_s16le', sampleRateHz: 16000, channels: format } : format;
  const ws = await connect(port, '/v1/stream');
  const msgs: ServerMessage[] = [];
  ws.on('message', (data: Buffer) => msgs.push(JSON.parse(data.toString()) as ServerMessage));
  const c: Client = {
    ws, msgs, started: undefined as unknown as SessionStartedMessage, closed: closed(ws),
    audio: (bytes, frameMs = 100) => {
      const frame = frameMs * BYTES_PER_MS * f.channels;
      for (let off = 0; off < bytes.byteLength; off += frame) ws.send(bytes.subarray(off, off + frame));
    },
    send: (...out) => { for (const m of out) ws.send(JSON.stringify(m)); },
    next: async <T extends ServerMessage>(pred: (m: ServerMessage) => boolean, what: string) => {
      await until(() => msgs.some(pred), 10_000, what);
      return msgs.find(pred) as T;
    },
    end: async () => {
      c.send({ type: 'session.end' });
      expect((await c.closed).code).toBe(1000);
      return msgs[msgs.length - 1] as SessionEndedMessage;
    },
  };
  c.send({ type: 'session.start', audio: { encoding: f.encoding, sample_rate_hz: f.sampleRateHz, channels: f.channels },
    ...start });
  c.started = await c.next<SessionStartedMessage>((m) => m.type === 'session.started', 'session.started');
  return c;
}

export const isFinal = (m: ServerMessage): m is TranscriptFinalMessage => m.type === 'transcript.final';
/** [code, fatal] of every error message. */
export const errors = (msgs: readonly ServerMessage[]): [string, boolean][] =>
  msgs.filter((m): m is ErrorMessage => m.type === 'error').map((e) => [e.code, e.fatal]);

/**
 * The promises a whole session must keep, on its message list (ended): session.started first and alone, session.ended
 * last and alone; the transcript rules (helpers.ts checkTranscriptOrder); per channel speech.started, speech.stopped
 * and the final in strict triples (section 5: the region closes before the final that ends it, the final of utterance
 * n precedes every message of n + 1; after a fatal error the open utterance is abandoned, section 2); the audio times
 * of {@link checkTimes}; stats that count what was sent. `finalizedAt`: where each session.finalize was sent (ms of
 * audio before it). Returns the finals.
 */
export function checkSession(msgs: readonly ServerMessage[],
  finalizedAt: readonly number[] = []): TranscriptFinalMessage[] {
  expect(msgs[0]?.type).toBe('session.started');
  const ended = msgs[msgs.length - 1] as SessionEndedMessage;
  expect(ended.type).toBe('session.ended');
  expect(msgs.filter((m) => m.type === 'session.started' || m.type === 'session.ended')).toHaveLength(2);
  const finals = checkTranscriptOrder(msgs);
  const events = new Map<number, string>();
  for (const m of msgs) {
    if (m.type !== 'speech.started' && m.type !== 'speech.stopped' && m.type !== 'transcript.final') continue;
    const key = m.channel ?? -1;
    const letter = { 'speech.started': 'S', 'speech.stopped': 'P', 'transcript.final': 'F' }[m.type];
    events.set(key, (events.get(key) ?? '') + letter);
  }
  const fatal = msgs.some((m) => m.type === 'error' && m.fatal);
  for (const [ch, seq] of events) expect(seq, `channel ${ch}`).toMatch(fatal ? /^(SPF)*(S|SP)?$/ : /^(SPF)*$/);
  checkTimes(msgs, finalizedAt);
  const count = (type: ServerMessage['type']) => msgs.filter((m) => m.type === type).length;
  expect(ended.stats).toMatchObject({ finals_sent: finals.length, utterances: finals.length,
    partials_sent: count('transcript.partial'), flow_pauses: count('flow.pause'),
    finals_rejected: finals.filter((f) => f.rejected !== undefined).length });
  if (ended.reason === 'client_end') expect(ended.stats.processed_audio_ms).toBe(ended.audio_ms);
  return finals;
}

/**
 * Audio times per channel: an utterance starts with its pre-roll, the 300 ms before speech.started or less where the
 * session start, the previous utterance's end_ms or a session.finalize is nearer (its partials and final share that
 * start_ms); speech.started, speech.stopped, words and the final's end lie inside it in that order; nothing ends past
 * the audio received.
 */
function checkTimes(msgs: readonly ServerMessage[], finalizedAt: readonly number[]): void {
  const received = (msgs[msgs.length - 1] as SessionEndedMessage).audio_ms;
  const state = new Map<number, { prevEnd: number; started: number; stopped: number }>();
  for (const m of msgs) {
    if (m.type !== 'speech.started' && m.type !== 'speech.stopped' && m.type !== 'transcript.partial'
      && m.type !== 'transcript.final') continue;
    const s = state.get(m.channel ?? -1) ?? { prevEnd: 0, started: NaN, stopped: NaN };
    state.set(m.channel ?? -1, s);
    const what = JSON.stringify(m).slice(0, 200);
    if (m.type === 'speech.started') {
      expect(m.audio_ms, what).toBeGreaterThanOrEqual(s.prevEnd);
      s.started = m.audio_ms;
    } else if (m.type === 'speech.stopped') {
      expect(m.audio_ms, what).toBeGreaterThanOrEqual(s.started);
      s.stopped = m.audio_ms;
    } else {
      const finalized = Math.max(0, ...finalizedAt.filter((p) => p <= s.started));
      expect(m.start_ms, what).toBe(Math.max(s.started - 300, s.prevEnd, finalized));
      expect(m.end_ms, what).toBeLessThanOrEqual(received);
      if (m.type === 'transcript.final') {
        expect(m.end_ms, what).toBeGreaterThanOrEqual(s.stopped);
        for (const w of m.words) expect([w.start_ms >= m.start_ms, w.end_ms <= m.end_ms], what).toEqual([true, true]);
        s.prevEnd = m.end_ms;
      }
    }
  }
}
