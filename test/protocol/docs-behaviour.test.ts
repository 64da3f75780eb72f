/**
 * docs/protocol.md held to the running gateway (real model, loopback, one gateway for the file) where it states what a
 * client observes and no other test checks it on the wire: the example's `session.started`; where an utterance's
 * audio begins and ends next to `speech.started` / `speech.stopped`; where a `session.update` that ends the open
 * utterance ends it; the speech events at a `max_utterance` cut; `session.finalize`; and what `session.ended` counts
 * of audio sent after `session.end`. test/protocol/docs.test.ts holds the document to the code's constants.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import type {
  ErrorMessage, ServerMessage, SessionEndedMessage, SessionStartedMessage, TranscriptFinalMessage,
  TranscriptPartialMessage,
} from '../../src/protocol/messages.js';
import type { Gateway } from '../../src/server/gateway.js';
import { DEFAULT_PIPELINE_DEPS } from '../../src/stream/session-pipeline.js';
import { BYTES_PER_MS, concat, silence, speech } from '../integration/control-helpers.js';
import { checkTranscriptOrder, loadWav, speechFixtures, startRealGateway } from '../integration/helpers.js';
import { until } from '../server/helpers.js';
import { closed, connect } from '../transports/helpers.js';

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
const example = doc.split('## 11. Example')[1]!;

let gw: Gateway;
beforeAll(async () => {
  gw = await startRealGateway('uws', { encoderWorkers: 1 });
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

interface Client {
  ws: WebSocket;
  msgs: ServerMessage[];
  started: SessionStartedMessage;
  closed: Promise<{ code: number }>;
  /** Sends `bytes` as audio in frames of 100 ms, at once (audio time, not wall time, drives every rule below). */
  audio: (bytes: Uint8Array) => void;
  send: (msg: object) => void;
  /** Waits for a message `pred` accepts, and returns it. */
  next: <T extends ServerMessage>(pred: (m: ServerMessage) => boolean, what: string) => Promise<T>;
}

async function open(start: object): Promise<Client> {
  const ws = await connect(gw.port, '/v1/stream');
  const msgs: ServerMessage[] = [];
  ws.on('message', (data: Buffer) => msgs.push(JSON.parse(data.toString()) as ServerMessage));
  const c: Client = {
    ws, msgs, started: undefined as unknown as SessionStartedMessage, closed: closed(ws),
    audio: (bytes) => {
      const frame = 100 * BYTES_PER_MS;
      for (let off = 0; off < bytes.byteLength; off += frame) ws.send(bytes.subarray(off, off + frame));
    },
    send: (msg) => ws.send(JSON.stringify(msg)),
    next: async <T extends ServerMessage>(pred: (m: ServerMessage) => boolean, what: string) => {
      await until(() => msgs.some(pred), 10_000, what);
      return msgs.find(pred) as T;
    },
  };
  c.send({ type: 'session.start', audio: { encoding: 'pcm_s16le', sample_rate_hz: 16000, channels: 1 }, ...start });
  c.started = await c.next<SessionStartedMessage>((m) => m.type === 'session.started', 'session.started');
  return c;
}

const isFinal = (m: ServerMessage): m is TranscriptFinalMessage => m.type === 'transcript.final';
const isPartial = (m: ServerMessage): m is TranscriptPartialMessage => m.type === 'transcript.partial';
/** Audio fed to the model before a speech onset, where the session holds that much (the gateway's default). */
const PRE_ROLL_MS = DEFAULT_PIPELINE_DEPS.preRollMs;

describe('docs/protocol.md section 11 (example)', () => {
  it('the example session.start gets the example session.started from the running gateway (its own session_id)',
    async () => {
      const start = JSON.parse(/^> (\{"type":"session\.start".*)$/m.exec(example)![1]!) as object;
      const documented = JSON.parse(/^< (\{"type":"session\.started".*)$/m.exec(example)![1]!) as SessionStartedMessage;
      const c = await open(start);
      expect(c.started).toEqual({ ...documented, session_id: c.started.session_id });
      c.ws.close();
    });

  it('keeps the transcript rules the gateway keeps (below): the pre-roll, silence_ms after speech.stopped', () => {
    // what the server sends, in order ("stats":{...} abbreviates the stats)
    const msgs = [...example.matchAll(/^< (\{.*\})$/gm)]
      .map((m) => JSON.parse(m[1]!.replace('{...}', '{}')) as ServerMessage);
    const started = msgs[0] as SessionStartedMessage;
    const ended = msgs[msgs.length - 1] as SessionEndedMessage;
    expect([started.type, ended.type, ended.session_id])
      .toEqual(['session.started', 'session.ended', started.session_id]);
    const finals = checkTranscriptOrder(msgs);
    expect(finals.map((f) => [f.utterance_id, f.reason])).toEqual([[0, 'silence']]);
    const final = finals[0]!;
    const [speechStarted, speechStopped] = ['speech.started', 'speech.stopped']
      .map((type) => msgs.find((m) => m.type === type) as { audio_ms: number });
    // the session's first utterance: its pre-roll is all of the preRollMs before the onset the session holds
    expect(doc).toContain(`${PRE_ROLL_MS} ms before \`speech.started\``);
    for (const t of [...msgs.filter(isPartial), final]) {
      expect(t.start_ms, `${t.type} seq ${t.seq}`).toBe(Math.max(0, speechStarted!.audio_ms - PRE_ROLL_MS));
      expect(t.end_ms).toBeLessThanOrEqual(final.end_ms);
    }
    expect(final.end_ms).toBe(speechStopped!.audio_ms + started.endpointing.silence_ms);
    for (const w of final.words) expect([w.start_ms >= final.start_ms, w.end_ms <= final.end_ms]).toEqual([true, true]);
    expect(ended.audio_ms).toBeGreaterThanOrEqual(final.end_ms);
  });
});

describe('docs/protocol.md against the running gateway', () => {
  it('an utterance\'s audio starts with the pre-roll before speech.started and, at a silence endpoint, ends '
    + 'silence_ms after speech.stopped', async () => {
    const c = await open({});
    const clips = speechFixtures().map((e) => loadWav(e).data);
    c.audio(concat(...clips.flatMap((clip) => [silence(1000), clip]), silence(1000)));
    c.send({ type: 'session.end' });
    expect((await c.closed).code).toBe(1000);
    const finals = checkTranscriptOrder(c.msgs);
    expect(finals.length).toBeGreaterThanOrEqual(clips.length);
    // the session's start, then the previous utterance's end: the pre-roll never reaches past it
    let segmentStartMs = 0;
    for (const f of finals) {
      const mine = c.msgs.slice(0, c.msgs.indexOf(f) + 1);
      const speechStarted = mine.filter((m) => m.type === 'speech.started').pop()!;
      const speechStopped = mine.filter((m) => m.type === 'speech.stopped').pop()!;
      const partials = mine.filter(isPartial).filter((m) => m.utterance_id === f.utterance_id);
      for (const t of [...partials, f]) {
        expect(t.start_ms, `utterance ${f.utterance_id}`)
          .toBe(Math.max(segmentStartMs, speechStarted.audio_ms - PRE_ROLL_MS));
      }
      expect(f.reason).toBe('silence');
      expect(f.end_ms).toBe(speechStopped.audio_ms + c.started.endpointing.silence_ms);
      for (const w of f.words) expect([w.start_ms >= f.start_ms, w.end_ms <= f.end_ms]).toEqual([true, true]);
      segmentStartMs = f.end_ms;
    }
  });

  it.each([
    ['silence', { silence_ms: 200 }, silence(800)],
    // cut mid-speech: the length reaches the new max_utterance_ms, the trailing silence no silence_ms
    ['max_utterance', { silence_ms: 500, max_utterance_ms: 1000 }, new Uint8Array(0)],
  ] as const)('a session.update that the open utterance already reaches ends it at once (reason %s), at the audio '
    + 'processed so far: at most 40 ms short of the audio received', async (reason, endpointing, tail) => {
    const c = await open({ endpointing: { silence_ms: 3000, max_utterance_ms: 60_000 } });
    const sent = concat(silence(500), speech(2000), tail);
    c.audio(sent);
    c.send({ type: 'session.update', endpointing });
    const final = await c.next<TranscriptFinalMessage>(isFinal, 'the final the update caused');
    const receivedMs = sent.byteLength / BYTES_PER_MS;
    expect(c.msgs.findIndex((m) => m.type === 'session.updated')).toBeLessThan(c.msgs.indexOf(final));
    expect(final.reason).toBe(reason);
    expect(final.end_ms).toBeLessThanOrEqual(receivedMs);
    expect(final.end_ms).toBeGreaterThanOrEqual(receivedMs - 40);
    c.ws.close();
  });

  it('a max_utterance cut inside speech: speech.stopped at the cut, speech.started at the same audio_ms', async () => {
    const c = await open({ endpointing: { silence_ms: 500, max_utterance_ms: 1000 } });
    c.audio(concat(silence(500), speech(), silence(1000)));
    c.send({ type: 'session.end' });
    expect((await c.closed).code).toBe(1000);
    checkTranscriptOrder(c.msgs);
    const events = c.msgs.filter((m) => m.type === 'speech.started' || m.type === 'speech.stopped' || isFinal(m));
    const cuts = events.flatMap((m, i) => (isFinal(m) && m.reason === 'max_utterance' ? [i] : []));
    expect(cuts.length).toBeGreaterThan(0);
    expect(events[events.length - 1]).toMatchObject({ type: 'transcript.final', reason: 'silence' });
    for (const i of cuts) {
      const final = events[i] as TranscriptFinalMessage;
      expect(events[i - 1]).toEqual({ type: 'speech.stopped', audio_ms: final.end_ms });
      // the speech goes on after every cut (the last utterance ends by silence)
      expect(events[i + 1]).toEqual({ type: 'speech.started', audio_ms: final.end_ms });
    }
  });

  it('session.finalize ends the utterance exactly at the audio received, then sends nothing with none open; audio '
    + 'after session.end gets one GW_ERR_SESSION_ENDED and counts only in bytes_discarded', async () => {
    const c = await open({});
    c.audio(concat(silence(500), speech(1600)));
    c.send({ type: 'session.finalize' });
    const final = await c.next<TranscriptFinalMessage>(isFinal, 'the final of session.finalize');
    expect(final).toMatchObject({ reason: 'finalize', end_ms: 2100 });
    const stopped = c.msgs.filter((m) => m.type === 'speech.stopped');
    expect(stopped.length).toBe(1);
    expect(c.msgs.indexOf(stopped[0]!)).toBeLessThan(c.msgs.indexOf(final));
    // nothing open: nothing sent (the pong follows the final directly)
    c.send({ type: 'session.finalize' });
    c.send({ type: 'ping', id: 'a' });
    await c.next((m) => m.type === 'pong', 'pong a');
    expect(c.msgs.slice(c.msgs.indexOf(final) + 1).map((m) => m.type)).toEqual(['pong']);

    // an utterance open at session.end keeps the pipeline busy while the frames after it arrive
    c.audio(concat(silence(300), speech(1000)));
    c.send({ type: 'session.end' });
    c.ws.send(silence(100));
    c.ws.send(new Uint8Array(0));
    c.ws.send(silence(10));
    c.send({ type: 'ping', id: 'b' });
    expect((await c.closed).code).toBe(1000);
    const tail = c.msgs.slice(c.msgs.indexOf(final) + 2);
    const errors = tail.filter((m): m is ErrorMessage => m.type === 'error');
    expect(errors.map((e) => [e.code, e.fatal])).toEqual([['GW_ERR_SESSION_ENDED', false]]);
    expect(tail.map((m) => m.type)).toContain('pong');
    const ended = tail[tail.length - 1] as SessionEndedMessage;
    // 3.4 s in 34 frames before session.end; 110 ms in three frames after it, one of them empty
    expect(ended).toMatchObject({ type: 'session.ended', reason: 'client_end', audio_ms: 3400,
      stats: { audio_ms: 3400, processed_audio_ms: 3400, bytes_received: 3400 * BYTES_PER_MS, frames_received: 34,
        bytes_discarded: 110 * BYTES_PER_MS } });
    expect(ended.stats.utterances).toBe(ended.stats.finals_sent);
  });
});
