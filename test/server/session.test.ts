/**
 * The Protocol v1 state machine (src/server/session.ts) driven in-process (LocalSession: the same Session class the
 * gateway runs per socket) with a scripted pipeline: every error path gets its stable code, fatal ones end with the
 * registry's close code, and the transcript numbering / flow control follow docs/protocol.md.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type {
  FlowPauseMessage, ServerMessage, SessionEndedMessage, TranscriptFinalMessage, TranscriptPartialMessage,
} from '../../src/protocol/messages.js';
import { createLogger } from '../../src/server/logger.js';
import { LocalSession } from '../../src/server/local-session.js';
import { createMetrics } from '../../src/server/metrics.js';
import { DEFAULT_SESSION_LIMITS } from '../../src/server/config.js';
import { Session } from '../../src/server/session.js';
import type { Connection, SendOptions, SendResult } from '../../src/transports/transport.js';
import { openLocal as open, pcm16, scriptedServices, START_16K, types, until } from './helpers.js';

describe('Session state machine', () => {
  it('answers ping in every state, with and without id', async () => {
    const t = open();
    t.s.sendJson({ type: 'ping', id: 7 });
    t.s.sendJson({ type: 'ping' });
    t.s.sendJson(START_16K);
    t.s.sendJson({ type: 'ping', id: 'x' });
    expect(t.msgs).toEqual([{ type: 'pong', id: 7 }, { type: 'pong' }, expect.objectContaining({ type: 'session.started' }),
      { type: 'pong', id: 'x' }]);
    t.s.abandon();
    await t.s.closed;
  });

  it('session.started echoes the normalised config and the limits', () => {
    const t = open({ idleTimeoutMs: 1234 });
    t.s.sendJson({ ...START_16K, latency: 'low', hotwords: [{ phrase: '  Vox  Gate ' }], endpointing: { silence_ms: 300 } });
    expect(t.msgs[0]).toMatchObject({
      type: 'session.started', protocol_version: 1, model: 'test-model', chunk_ms: 160, latency: 'low',
      interim_results: true, endpointing: { silence_ms: 300, max_utterance_ms: 15000 }, hotwords: 1, denoise: 'off',
      min_confidence: 0.15,
      language: 'en', audio: { encoding: 'pcm_s16le', sample_rate_hz: 16000, channels: 1 },
      limits: { max_frame_bytes: 1048576, idle_timeout_ms: 1234, max_duration_ms: 3600000, flow_high_water_ms: 2000,
        flow_low_water_ms: 500, backlog_limit_ms: 10000, text_frames_burst: 60, text_frames_per_second: 30,
        text_chars_per_second: 262144 },
    });
    expect(t.pipeline().hotwords).toEqual([{ phrase: 'vox gate', boost: 2 }]);
    t.s.abandon();
  });

  it('bad JSON and unknown types are non-fatal; the session then starts normally', async () => {
    const t = open();
    t.s.sendJson({ type: 'bogus' });
    (t.s as unknown as { session: Session }).session.handleMessage('{not json', false);
    (t.s as unknown as { session: Session }).session.handleMessage('[1,2]', false);
    t.s.sendJson(START_16K);
    expect(t.errors().map((e) => [e.code, e.fatal])).toEqual([
      ['GW_ERR_UNKNOWN_TYPE', false], ['GW_ERR_BAD_JSON', false], ['GW_ERR_BAD_JSON', false]]);
    expect(t.last().type).toBe('session.started');
    expect(await t.metrics.metricsText()).toContain('voxgate_errors_total{code="GW_ERR_BAD_JSON"} 2');
    t.s.abandon();
  });

  it.each([
    ['audio before session.start', (t: ReturnType<typeof open>) => t.s.sendAudio(pcm16(20)), 'GW_ERR_NOT_STARTED'],
    ['session.end before session.start', (t: ReturnType<typeof open>) => t.s.sendJson({ type: 'session.end' }), 'GW_ERR_NOT_STARTED'],
    ['a broken session.update before session.start (the state rule comes first)', (t: ReturnType<typeof open>) =>
      t.s.sendJson({ type: 'session.update', hotwords: 7 }), 'GW_ERR_NOT_STARTED'],
    ['an unsupported encoding', (t: ReturnType<typeof open>) => t.s.sendJson({ type: 'session.start',
      audio: { encoding: 'opus', sample_rate_hz: 16000, channels: 1 } }), 'GW_ERR_UNSUPPORTED_ENCODING'],
    ['an unknown field in session.start', (t: ReturnType<typeof open>) => t.s.sendJson({ ...START_16K, interim_result: false }),
      'GW_ERR_BAD_MESSAGE'],
    ['a model the server does not serve', (t: ReturnType<typeof open>) => t.s.sendJson({ ...START_16K, model: 'other' }),
      'GW_ERR_BAD_MESSAGE'],
    ['a language the model does not speak', (t: ReturnType<typeof open>) => t.s.sendJson({ ...START_16K, language: 'de-DE' }),
      'GW_ERR_BAD_MESSAGE'],
    ['a hotword the model cannot spell', (t: ReturnType<typeof open>) => t.s.sendJson({ ...START_16K,
      hotwords: [{ phrase: 'r2d2' }] }), 'GW_ERR_BAD_HOTWORD'],
  ])('%s: fatal error, close 4000, no session.ended', async (_name, act, code) => {
    const t = open();
    act(t);
    const close = await t.s.closed;
    expect(t.msgs).toEqual([expect.objectContaining({ type: 'error', code, fatal: true })]);
    expect(close.code).toBe(4000);
  });

  it('state rules come before field checks: a broken session.start on a started or ending session is not fatal',
    async () => {
      const t = open();
      t.s.sendJson(START_16K);
      t.s.sendAudio(pcm16(100));
      t.s.sendJson({ type: 'session.start' }); // no audio field: a fatal BAD_MESSAGE for an unstarted session
      t.s.sendJson({ type: 'session.update', hotwords: 7 }); // the state allows it: the field check answers
      t.pipeline().emitPartial('hello', '');
      t.s.sendJson({ type: 'session.end' });
      t.s.sendJson({ type: 'session.start', audio: 5 });
      t.s.sendJson({ type: 'session.finalize', extra: 1 });
      const close = await t.s.closed;
      expect(t.errors().map((e) => [e.code, e.fatal])).toEqual([['GW_ERR_ALREADY_STARTED', false],
        ['GW_ERR_BAD_HOTWORD', false], ['GW_ERR_SESSION_ENDED', false], ['GW_ERR_SESSION_ENDED', false]]);
      expect(t.last()).toMatchObject({ type: 'session.ended', reason: 'client_end', audio_ms: 100 });
      expect(t.msgs.filter((m) => m.type === 'transcript.final')).toEqual([expect.objectContaining({ text: 'hello' })]);
      expect(close.code).toBe(1000);
    });

  it('a second session.start is ignored with GW_ERR_ALREADY_STARTED; the first configuration stays', async () => {
    const t = open();
    t.s.sendJson(START_16K);
    t.s.sendJson({ ...START_16K, latency: 'accurate' });
    expect(t.errors()).toEqual([expect.objectContaining({ code: 'GW_ERR_ALREADY_STARTED', fatal: false })]);
    expect(t.services.created).toHaveLength(1);
    t.s.sendJson({ type: 'ping', id: 1 });
    expect(t.last()).toEqual({ type: 'pong', id: 1 });
    t.s.abandon();
    await t.s.closed;
    expect(t.pipeline().tornDown && t.pipeline().disposed).toBe(true);
  });

  it('an odd byte count for pcm_s16le is GW_ERR_PARTIAL_SAMPLE: error, session.ended(error), close 4000', async () => {
    const t = open();
    t.s.sendJson(START_16K);
    t.s.sendAudio(pcm16(20));
    t.s.sendAudio(new Uint8Array(3), 1);
    const close = await t.s.closed;
    expect(types(t.msgs)).toEqual(['session.started', 'error', 'session.ended']);
    expect(t.msgs[1]).toMatchObject({ code: 'GW_ERR_PARTIAL_SAMPLE', fatal: true });
    const ended = t.msgs[2] as SessionEndedMessage;
    expect(ended).toMatchObject({ reason: 'error', error_code: 'GW_ERR_PARTIAL_SAMPLE', audio_ms: 20 });
    expect(ended.stats).toMatchObject({ audio_ms: 20, bytes_received: 640, frames_received: 1 });
    expect(close.code).toBe(4000);
    expect(t.pipeline().tornDown && t.pipeline().disposed).toBe(true);
  });

  it('numbers partials and finals with one seq, drops repeated partials, computes latency', async () => {
    const t = open();
    t.s.sendJson(START_16K);
    t.s.sendAudio(pcm16(100));
    const p = t.pipeline();
    p.emitPartial('hello', '');
    p.emitPartial('hello', ''); // same text as the previous partial: not sent
    p.emitPartial('hello world', 'hello');
    p.emitFinal('silence', 'hello world');
    p.emitPartial('again', '');
    t.s.sendJson({ type: 'session.end' });
    t.s.sendJson({ type: 'session.finalize' });
    t.s.sendAudio(new Uint8Array(0)); // no audio to lose: no error, and the next frame still gets one
    t.s.sendAudio(pcm16(20));
    t.s.sendAudio(pcm16(20)); // a second late frame: counted, no second error
    const close = await t.s.closed;
    const transcripts = t.msgs.filter((m): m is TranscriptPartialMessage | TranscriptFinalMessage =>
      m.type === 'transcript.partial' || m.type === 'transcript.final');
    expect(transcripts.map((m) => [m.type, m.utterance_id, m.seq, m.text])).toEqual([
      ['transcript.partial', 0, 0, 'hello'], ['transcript.partial', 0, 1, 'hello world'],
      ['transcript.final', 0, 2, 'hello world'], ['transcript.partial', 1, 3, 'again'],
      ['transcript.final', 1, 4, 'again']]);
    for (const m of transcripts) expect(m.latency_ms).toBeGreaterThanOrEqual(0);
    expect((transcripts[4] as TranscriptFinalMessage).reason).toBe('session_end');
    expect(t.errors().map((e) => [e.code, e.fatal])).toEqual([['GW_ERR_SESSION_ENDED', false], ['GW_ERR_SESSION_ENDED', false]]);
    const ended = t.last() as SessionEndedMessage;
    expect(ended).toMatchObject({ type: 'session.ended', reason: 'client_end', audio_ms: 100 });
    expect(ended.stats).toMatchObject({ audio_ms: 100, processed_audio_ms: 100, utterances: 2, partials_sent: 3,
      finals_sent: 2, partials_dropped: 0, flow_pauses: 0, bytes_discarded: 1280 });
    expect(ended.stats.partial_latency_max_ms).not.toBeNull();
    expect(close.code).toBe(1000);
    expect(p.endReason).toBe('session_end');
    const text = await t.metrics.metricsText();
    expect(text).toContain('voxgate_sessions_total{reason="client_end"} 1');
    expect(text).toContain('voxgate_partials_sent_total 3');
    expect(text).toContain('voxgate_finals_total 2');
    expect(text).toContain('voxgate_finals_rejected_total 0');
  });

  it('a final rejected as noise reaches the client empty, with what was heard, and is counted', async () => {
    const t = open();
    t.s.sendJson(START_16K);
    t.s.sendAudio(pcm16(100));
    t.pipeline().emitRejectedFinal('n', 0.016);
    t.s.sendJson({ type: 'session.end' });
    await t.s.closed;
    const finals = t.msgs.filter((m): m is TranscriptFinalMessage => m.type === 'transcript.final');
    expect(finals).toHaveLength(1);
    expect(finals[0]).toMatchObject({ text: '', words: [], confidence: 0, rejected: { text: 'n', confidence: 0.016 } });
    expect((t.last() as SessionEndedMessage).stats).toMatchObject({ finals_sent: 1, finals_rejected: 1 });
    const text = await t.metrics.metricsText();
    expect(text).toContain('voxgate_finals_total 1');
    expect(text).toContain('voxgate_finals_rejected_total 1');
  });

  it('interim_results false: no partials, finals still numbered from 0', async () => {
    const t = open();
    t.s.sendJson({ ...START_16K, interim_results: false });
    t.s.sendAudio(pcm16(40));
    t.pipeline().emitPartial('hi', '');
    t.pipeline().emitFinal('finalize', 'hi');
    expect(t.msgs.filter((m) => m.type.startsWith('transcript'))).toEqual([
      expect.objectContaining({ type: 'transcript.final', seq: 0, text: 'hi' })]);
    t.s.abandon();
    await t.s.closed;
  });

  it('session.update -> session.updated; an invalid update changes nothing', () => {
    const t = open();
    t.s.sendJson(START_16K);
    t.s.sendJson({ type: 'session.update', hotwords: [{ phrase: 'alpha', boost: 3 }], endpointing: { silence_ms: 800 } });
    expect(t.last()).toEqual({ type: 'session.updated', hotwords: 1, endpointing: { silence_ms: 800, max_utterance_ms: 15000 },
      min_confidence: 0.15, numerals: false, alternatives: 1, background_rejection_db: 0 });
    expect(t.pipeline().hotwords).toEqual([{ phrase: 'alpha', boost: 3 }]);
    expect(t.pipeline().endpointing).toEqual({ silenceMs: 800, maxUtteranceMs: 15000 });
    t.s.sendJson({ type: 'session.update', endpointing: { max_utterance_ms: 1000, silence_ms: 1000 } });
    t.s.sendJson({ type: 'session.update', hotwords: [{ phrase: 'a' }, { phrase: 'A' }] });
    expect(t.errors().map((e) => [e.code, e.fatal])).toEqual([['GW_ERR_BAD_MESSAGE', false], ['GW_ERR_BAD_HOTWORD', false]]);
    expect(t.pipeline().endpointing).toEqual({ silenceMs: 800, maxUtteranceMs: 15000 });
    expect(t.pipeline().hotwords).toHaveLength(1);
    t.s.sendJson({ type: 'session.finalize' });
    expect(t.pipeline().finalizeCalls).toBe(1);
    t.s.abandon();
  });

  it('session.update of min_confidence / alternatives reaches the decoder; numerals the finals sent after it', () => {
    const t = open();
    t.s.sendJson(START_16K);
    t.s.sendAudio(pcm16(40));
    t.pipeline().emitFinal('silence', 'two four');
    t.s.sendJson({ type: 'session.update', numerals: true, alternatives: 3, min_confidence: 0.4 });
    expect(t.last()).toMatchObject({ type: 'session.updated', min_confidence: 0.4, numerals: true, alternatives: 3,
      background_rejection_db: 0 });
    expect(t.pipeline().decoding).toEqual({ minConfidence: 0.4, alternatives: 3, backgroundRejectionDb: 0 });
    t.s.sendJson({ type: 'session.update', background_rejection_db: 12 });
    expect(t.pipeline().decoding).toEqual({ minConfidence: 0.4, alternatives: 3, backgroundRejectionDb: 12 });
    t.s.sendAudio(pcm16(40));
    t.pipeline().emitFinal('silence', 'two four');
    const finals = t.msgs.filter((m): m is TranscriptFinalMessage => m.type === 'transcript.final');
    expect(finals.map((f) => f.formatted_text)).toEqual([undefined, '24']);
    t.s.sendJson({ type: 'session.update', numerals: false });
    expect(t.pipeline().decoding).toEqual({ minConfidence: 0.4, alternatives: 3, backgroundRejectionDb: 12 }); // unchanged
    t.s.abandon();
  });

  it('flow control: pause above the high-water mark, resume below the low-water mark, then BACKLOG past the hard limit once the client has seen the pause', async () => {
    const t = open({ flowHighWaterMs: 200, flowLowWaterMs: 50, backlogLimitMs: 500 });
    t.s.sendJson(START_16K);
    t.s.sendAudio(pcm16(150));
    expect(t.msgs.some((m) => m.type === 'flow.pause')).toBe(false);
    t.s.sendAudio(pcm16(100));
    expect(t.last()).toEqual({ type: 'flow.pause', buffered_ms: 250 });
    t.s.sendAudio(pcm16(100)); // in-flight frames are accepted: no second pause
    expect(t.msgs.filter((m) => m.type === 'flow.pause')).toHaveLength(1);
    t.pipeline().backlog = 10; // the pipeline caught up; no audio arrives, the server polls
    await until(() => t.last().type === 'flow.resume', 1000, 'flow.resume');
    expect(t.last()).toEqual({ type: 'flow.resume', buffered_ms: 10 });
    t.s.sendAudio(pcm16(300));
    expect((t.last() as FlowPauseMessage).type).toBe('flow.pause');
    // Past the hard limit, but sent before the client's stack echoed the pause's ping: in flight, accepted.
    t.s.sendAudio(pcm16(300));
    expect(t.errors()).toHaveLength(0);
    await Promise.resolve(); // the in-process "peer" echoes the ping
    t.s.sendAudio(pcm16(100)); // sent after the client saw flow.pause
    const close = await t.s.closed;
    expect(types(t.msgs).slice(-2)).toEqual(['error', 'session.ended']);
    expect(t.msgs[t.msgs.length - 2]).toMatchObject({ code: 'GW_ERR_BACKLOG', fatal: true });
    const ended = t.last() as SessionEndedMessage;
    expect(ended).toMatchObject({ reason: 'error', error_code: 'GW_ERR_BACKLOG', audio_ms: 1050 });
    expect(ended.stats.processed_audio_ms).toBe(1050 - 710);
    expect(ended.stats.flow_pauses).toBe(2);
    expect(close.code).toBe(4003);
  });

  it('flow control: a low-water mark of 0 resumes once the backlog is empty', async () => {
    const t = open({ flowHighWaterMs: 200, flowLowWaterMs: 0, backlogLimitMs: 500 });
    t.s.sendJson(START_16K);
    t.s.sendAudio(pcm16(250));
    expect(t.last()).toEqual({ type: 'flow.pause', buffered_ms: 250 });
    t.pipeline().backlog = 0; // everything decoded; the client obeys the pause and sends nothing
    await until(() => t.last().type === 'flow.resume', 1000, 'flow.resume');
    expect(t.last()).toEqual({ type: 'flow.resume', buffered_ms: 0 });
    t.s.abandon();
  });

  it('flow control: audio past the in-flight cap (twice the hard limit) is refused whatever the client saw', async () => {
    const t = open({ flowHighWaterMs: 200, flowLowWaterMs: 50, backlogLimitMs: 500 });
    t.s.sendJson(START_16K);
    t.s.sendAudio(pcm16(900)); // in flight: accepted
    expect(t.errors()).toHaveLength(0);
    t.s.sendAudio(pcm16(200)); // same turn, the pause's ping not yet echoed, but 1100 ms > 1000 ms
    const close = await t.s.closed;
    expect(t.errors()).toEqual([expect.objectContaining({ code: 'GW_ERR_BACKLOG', fatal: true,
      message: expect.stringContaining('in-flight cap of 1000 ms') })]);
    expect(close.code).toBe(4003);
  });

  it('flow control: a flow.pause the closed socket refused is not counted (stats.flow_pauses, voxgate_flow_pauses_total)', async () => {
    const chunks: string[] = [];
    const destination = new Writable({ write(chunk: Buffer, _enc, cb) { chunks.push(chunk.toString()); cb(); } });
    const metrics = createMetrics({ defaultMetrics: false });
    const s = new LocalSession({ services: scriptedServices(), metrics,
      limits: { flowHighWaterMs: 200, flowLowWaterMs: 50, backlogLimitMs: 500 },
      logger: createLogger({ level: 'info', destination }) });
    const msgs: ServerMessage[] = [];
    s.onMessage((m) => msgs.push(m));
    s.sendJson(START_16K);
    // The client closes its socket while its last frame is still being read: the session handles the frame before
    // it learns of the close, and the flow.pause that frame calls for is refused.
    s.abandon();
    // as a transport delivers a frame read before its close event
    (s as unknown as { session: Session }).session.handleMessage(pcm16(250), true);
    await s.closed;
    expect(types(msgs)).toEqual(['session.started']);
    expect(await metrics.metricsText()).toContain('voxgate_flow_pauses_total 0');
    const lines = chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l['msg'] === 'session closed')).toMatchObject({ stats: { flow_pauses: 0 } });
  });

  it('tag: echoed in session.started and on every log line of the session from session.start on', async () => {
    const chunks: string[] = [];
    const destination = new Writable({ write(chunk: Buffer, _enc, cb) { chunks.push(chunk.toString()); cb(); } });
    const s = new LocalSession({ services: scriptedServices(), logger: createLogger({ level: 'debug', destination }) });
    const msgs: ServerMessage[] = [];
    s.onMessage((m) => msgs.push(m));
    s.sendJson({ ...START_16K, tag: 'CA5f7 queue=billing' });
    s.sendJson({ type: 'session.update', alternatives: 0 }); // a non-fatal error: logged at debug
    s.sendJson({ type: 'session.end' });
    await s.closed;
    expect(msgs[0]).toMatchObject({ type: 'session.started', tag: 'CA5f7 queue=billing' });
    const lines = chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const fromStart = lines.slice(lines.findIndex((l) => l['msg'] === 'session started'));
    expect(fromStart.map((l) => l['msg'])).toEqual(['session started', 'non-fatal error', 'session closed']);
    for (const l of fromStart) expect(l).toMatchObject({ session_id: (msgs[0] as { session_id: string }).session_id,
      tag: 'CA5f7 queue=billing' });
  });

  it('a pipeline failure ends only this session with its code (1011)', async () => {
    const t = open();
    t.s.sendJson(START_16K);
    t.pipeline().fail('GW_ERR_DECODER');
    const close = await t.s.closed;
    expect(types(t.msgs)).toEqual(['session.started', 'error', 'session.ended']);
    expect(t.msgs[1]).toMatchObject({ code: 'GW_ERR_DECODER', fatal: true });
    expect(close.code).toBe(1011);
  });

  it('an exception inside the pipeline call becomes GW_ERR_INTERNAL for this session only', async () => {
    const t = open();
    t.s.sendJson(START_16K);
    t.pipeline().pushAudio = () => { throw new TypeError('boom'); };
    t.s.sendAudio(pcm16(20));
    const close = await t.s.closed;
    expect(t.msgs[1]).toMatchObject({ type: 'error', code: 'GW_ERR_INTERNAL', fatal: true });
    expect(close.code).toBe(1011);
  });
});

/** A connection whose outbound buffer is "full": droppable sends are refused. */
class BackpressuredConnection implements Connection {
  readonly id = 'c1';
  readonly remoteAddress = '127.0.0.1';
  closed = false;
  full = false;
  sent: ServerMessage[] = [];
  closes: number[] = [];
  send(data: string | Uint8Array, opts?: SendOptions): SendResult {
    if (this.closed) return 'dropped';
    if (this.full && opts?.droppable === true) return 'dropped';
    this.sent.push(JSON.parse(String(data)) as ServerMessage);
    return this.full ? 'buffered' : 'sent';
  }
  bufferedAmount(): number { return this.full ? 1 << 20 : 0; }
  close(code: number): void { this.closed = true; this.closes.push(code); }
  ping(): void { /* a peer that never answers */ }
}

describe('Session outbound backpressure', () => {
  it('drops partials (no seq taken, counted) but never finals; shutdown finalises with reason shutdown, close 1001', async () => {
    const services = scriptedServices();
    const conn = new BackpressuredConnection();
    const metrics = createMetrics({ defaultMetrics: false });
    const session = new Session(conn, { services, limits: DEFAULT_SESSION_LIMITS, logger: createLogger({ level: 'silent' }), metrics });
    session.handleMessage(JSON.stringify(START_16K), false);
    session.handleMessage(pcm16(40), true);
    const p = services.created[0]!;
    p.emitPartial('one', '');
    conn.full = true;
    p.emitPartial('one two', 'one');
    p.emitPartial('one two three', 'one two');
    conn.full = false;
    p.emitPartial('one two three four', 'one two');
    await session.shutdown();
    const transcripts = conn.sent.filter((m) => m.type.startsWith('transcript')) as (TranscriptPartialMessage | TranscriptFinalMessage)[];
    expect(transcripts.map((m) => [m.seq, m.text])).toEqual([[0, 'one'], [1, 'one two three four'], [2, 'one two three four']]);
    expect(transcripts[2]).toMatchObject({ type: 'transcript.final', reason: 'shutdown' });
    expect(types(conn.sent).slice(-2)).toEqual(['error', 'session.ended']);
    expect(conn.sent[conn.sent.length - 2]).toMatchObject({ code: 'GW_ERR_SHUTTING_DOWN' });
    expect((conn.sent[conn.sent.length - 1] as SessionEndedMessage).stats.partials_dropped).toBe(2);
    expect(conn.closes).toEqual([1001]);
    expect(await metrics.metricsText()).toContain('voxgate_partials_dropped_total 2');
    session.handleClose(1001, '', 'server');
    expect(await metrics.metricsText()).toContain('voxgate_sessions_total{reason="GW_ERR_SHUTTING_DOWN"} 1');
  });
});
