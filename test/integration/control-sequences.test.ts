/**
 * Control messages at awkward moments, against a real gateway (real model, loopback, raw `ws` clients, one gateway for
 * the file): session.finalize with nothing open, twice in a burst or after every frame; session.update racing a
 * pending finalize or ending the utterance itself; settings changed mid-utterance or while earlier large frames still
 * wait in slices; a refused update in the middle; a ping between every frame; session.end under flow.pause with a
 * backlog; fatal errors with a finalize pending; a multichannel call with one channel silent or both cut at once; and
 * last a drain that finds sessions in each of those states. Every session is held to the promises of docs/protocol.md
 * (control-helpers.ts `checkSession`) and every request to its documented answer.
 */
import { describe, expect, it } from 'vitest';
import type {
  ServerMessage, SessionEndedMessage, SessionUpdatedMessage, TranscriptFinalMessage,
} from '../../src/protocol/messages.js';
import { until } from '../server/helpers.js';
import { closed, connect } from '../transports/helpers.js';
import {
  BYTES_PER_MS, asWire, checkSession, clips, concat, errors, fileGateway, interleave, isFinal, openClient, silence,
  speech, type Client,
} from './control-helpers.js';
import { loadWav, speechFixtures, type WireFormat } from './helpers.js';

const file = fileGateway();

const open = (start: object = {}, format: 1 | 2 | WireFormat = 1): Promise<Client> =>
  openClient(file.gw.port, start, format);
const stereo = (left: Uint8Array, right: Uint8Array): Uint8Array => interleave(left, right);

describe('session.finalize at awkward moments', () => {
  it('right after session.start, twice, with no audio: nothing but the pong; session.end ends cleanly', async () => {
    const c = await open();
    c.send({ type: 'session.finalize' }, { type: 'session.finalize' }, { type: 'ping', id: 1 });
    await c.next((m) => m.type === 'pong', 'pong');
    expect(c.msgs.map((m) => m.type)).toEqual(['session.started', 'pong']);
    const ended = await c.end();
    expect(ended).toMatchObject({ reason: 'client_end', audio_ms: 0, stats: { utterances: 0, finals_sent: 0 } });
    checkSession(c.msgs);
  });

  it.each([1, 2] as const)('after every frame of odd length through speech (%i channel(s)): each final ends exactly '
    + 'at a finalize, utterances never overlap', async (channels) => {
    const c = await open(channels === 2 ? { multichannel: true } : {}, channels);
    const mono = concat(silence(200), speech(), silence(300));
    const audio = channels === 2 ? stereo(mono, mono) : mono;
    const frame = 67 * BYTES_PER_MS * channels + 2 * channels; // 67.0625 ms
    const positions = new Set<number>();
    let sent = 0;
    for (let off = 0; off < audio.byteLength; off += frame) {
      const part = audio.subarray(off, off + frame);
      c.ws.send(part);
      sent += part.byteLength;
      c.send({ type: 'session.finalize' });
      positions.add(Math.round(sent / BYTES_PER_MS / channels));
    }
    expect(positions.size).toBeLessThan(50); // with session.end, well within the text-frame burst
    const ended = await c.end();
    expect(errors(c.msgs)).toEqual([]);
    const finals = checkSession(c.msgs, [...positions]);
    expect(finals.length).toBeGreaterThan(0);
    for (const f of finals) expect([f.reason, positions.has(f.end_ms)], JSON.stringify(f)).toEqual(['finalize', true]);
    expect(ended.audio_ms).toBe(Math.round(mono.byteLength / BYTES_PER_MS));
  });

  it('twice in one burst mid-speech: one speech.stopped, one final (finalize), at the audio received', async () => {
    const c = await open();
    c.audio(concat(silence(500), speech(1600)));
    c.send({ type: 'session.finalize' }, { type: 'session.finalize' }, { type: 'ping', id: 'after' });
    await c.next((m) => m.type === 'pong', 'pong');
    await c.next(isFinal, 'final');
    const ended = await c.end();
    const finals = checkSession(c.msgs);
    expect(finals.map((f) => [f.reason, f.end_ms])).toEqual([['finalize', 2100]]);
    expect(ended.audio_ms).toBe(2100);
  });

  it.each([100, 3300])('a finalize pending while session.update lowers endpointing below what the utterance holds '
    + '(frames of %i ms): one final, session.updated answered', async (frameMs) => {
    const c = await open({ endpointing: { silence_ms: 3000, max_utterance_ms: 60_000 } });
    c.audio(concat(silence(500), speech(2000), silence(800)), frameMs);
    c.send({ type: 'session.finalize' },
      { type: 'session.update', endpointing: { silence_ms: 200, max_utterance_ms: 1000 } });
    await c.next((m) => m.type === 'session.updated', 'session.updated');
    await c.next(isFinal, 'final');
    const ended = await c.end();
    const finals = checkSession(c.msgs, [3300]);
    expect(finals.map((f) => [f.reason, f.end_ms])).toEqual([['finalize', 3300]]);
    expect(ended.audio_ms).toBe(3300);
  });

  it.each([100, 2500])('session.update ends the utterance by max_utterance at once (frames of %i ms), then finalize '
    + 'flushes the held audio into a short utterance of its own', async (frameMs) => {
    const c = await open({ endpointing: { silence_ms: 500, max_utterance_ms: 60_000 } });
    c.audio(concat(silence(500), speech(2000)), frameMs);
    c.send({ type: 'session.update', endpointing: { max_utterance_ms: 1000 } }, { type: 'session.finalize' });
    await c.next((m) => isFinal(m) && m.reason === 'finalize', 'the final of the finalize');
    await c.end();
    const finals = checkSession(c.msgs, [2500]);
    // the cut at the audio processed so far (up to 40 ms short), then the held audio, which continues the speech
    expect(finals.map((f) => f.reason)).toEqual(['max_utterance', 'finalize']);
    expect(finals[0]!.end_ms).toBeGreaterThanOrEqual(2460);
    expect(finals[1]).toMatchObject({ start_ms: finals[0]!.end_ms, end_ms: 2500 });
  });
});

describe('settings changed mid-utterance', () => {
  it('hotwords, then finalize: session.updated before the final, which is the finalize\'s', async () => {
    const c = await open();
    c.audio(concat(silence(500), speech(1200)));
    c.send({ type: 'session.update', hotwords: [{ phrase: 'password', boost: 5 }] }, { type: 'session.finalize' });
    const final = await c.next<TranscriptFinalMessage>(isFinal, 'final');
    const updated = await c.next<SessionUpdatedMessage>((m) => m.type === 'session.updated', 'session.updated');
    expect(updated.hotwords).toBe(1);
    expect(c.msgs.indexOf(updated)).toBeLessThan(c.msgs.indexOf(final));
    await c.end();
    expect(checkSession(c.msgs).map((f) => f.reason)).toEqual(['finalize']);
  });

  it('numerals and alternatives toggled mid-utterance: each final carries what is in effect when made', async () => {
    const c = await open();
    c.audio(concat(silence(500), speech(1200)));
    c.send({ type: 'session.update', numerals: true, alternatives: 3 }, { type: 'session.finalize' });
    await c.next(isFinal, 'first final');
    c.audio(concat(silence(500), speech(1200)));
    c.send({ type: 'session.update', numerals: false, alternatives: 1 }, { type: 'session.finalize' });
    await until(() => c.msgs.filter(isFinal).length === 2, 10_000, 'second final');
    await c.end();
    const finals = checkSession(c.msgs);
    // a rejected final carries no alternatives whatever the setting
    expect(finals.map((f) => [f.reason, 'formatted_text' in f, f.alternatives !== undefined]))
      .toEqual([['finalize', true, finals[0]!.rejected === undefined], ['finalize', false, false]]);
  });

  it('a refused update (a hotword the model cannot spell) changes nothing, numerals included; the next is answered',
    async () => {
      const c = await open({ hotwords: [{ phrase: 'bear' }] });
      c.audio(concat(silence(500), speech(1200)));
      c.send({ type: 'session.update', numerals: true, hotwords: [{ phrase: 'bär' }] },
        { type: 'ping', id: 'p' }, { type: 'session.finalize' }, { type: 'session.update' });
      await c.next((m) => m.type === 'session.updated', 'session.updated');
      await c.next(isFinal, 'final');
      await c.end();
      expect(errors(c.msgs)).toEqual([['GW_ERR_BAD_HOTWORD', false]]);
      const updated = c.msgs.filter((m): m is SessionUpdatedMessage => m.type === 'session.updated');
      expect(updated.map((u) => [u.hotwords, u.numerals])).toEqual([[1, false]]);
      const finals = checkSession(c.msgs);
      expect(finals.map((f) => 'formatted_text' in f)).toEqual([false]);
    });
});

describe('pings and flow control', () => {
  it('a ping between every audio frame: a pong each, in order, and the transcript as without them', async () => {
    const audio = concat(silence(300), speech(), silence(700));
    const plain = await open();
    plain.audio(audio);
    await plain.end();
    const c = await open();
    const frame = 100 * BYTES_PER_MS;
    let n = 0;
    for (let off = 0; off < audio.byteLength; off += frame, n++) {
      c.ws.send(audio.subarray(off, off + frame));
      c.send({ type: 'ping', id: n });
    }
    expect(n).toBeLessThan(60); // within the text-frame burst: none refused
    await c.end();
    expect(errors(c.msgs)).toEqual([]);
    expect(c.msgs.filter((m) => m.type === 'pong').map((m) => (m as { id: number }).id)).toEqual([...Array(n).keys()]);
    const strip = (msgs: ServerMessage[]) => checkSession(msgs).map((f) => [f.text, f.start_ms, f.end_ms, f.reason]);
    expect(strip(c.msgs)).toEqual(strip(plain.msgs));
  });

  it('session.end while flow.pause holds a backlog: everything received transcribed, no resume after the end',
    async () => {
      const c = await open({ endpointing: { silence_ms: 300, max_utterance_ms: 15_000 } });
      const audio = concat(...[0, 1].flatMap(() => clips.flatMap((clip) => [silence(400), clip])));
      c.audio(audio, 1000);
      await c.next((m) => m.type === 'flow.pause', 'flow.pause');
      c.send({ type: 'ping', id: 'paused' }, { type: 'session.update', numerals: true }, { type: 'session.end' });
      expect((await c.closed).code).toBe(1000);
      const types = c.msgs.map((m) => m.type);
      expect(types.indexOf('pong')).toBeGreaterThan(types.indexOf('flow.pause'));
      expect(types.filter((t) => t === 'session.updated')).toHaveLength(1);
      const flow = types.filter((t) => t.startsWith('flow.'));
      expect(flow.every((t, i) => t === (i % 2 === 0 ? 'flow.pause' : 'flow.resume'))).toBe(true);
      expect(errors(c.msgs)).toEqual([]);
      const ended = c.msgs[c.msgs.length - 1] as SessionEndedMessage;
      expect(ended.audio_ms).toBe(Math.round(audio.byteLength / BYTES_PER_MS));
      checkSession(c.msgs);
    });
});

describe('fatal errors at awkward moments', () => {
  it.each([
    ['a frame over 1 MiB', 'GW_ERR_FRAME_TOO_LARGE', 1009, new Uint8Array((1 << 20) + 4)],
    ['a frame that splits a stereo sample frame', 'GW_ERR_PARTIAL_SAMPLE', 4000, new Uint8Array(6)],
  ] as const)('%s with a finalize pending on a multichannel call: error, session.ended, close; nothing after',
    async (_what, code, closeCode, frame) => {
      const c = await open({ multichannel: true }, 2);
      c.audio(stereo(concat(silence(300), speech(1500)), concat(silence(900), speech(900))));
      c.send({ type: 'session.finalize' }, { type: 'ping', id: 1 });
      c.ws.send(frame);
      c.send({ type: 'ping', id: 2 });
      expect((await c.closed).code).toBe(closeCode);
      const k = c.msgs.findIndex((m) => m.type === 'error');
      expect(c.msgs.slice(k)).toMatchObject([{ type: 'error', code, fatal: true },
        { type: 'session.ended', reason: 'error', error_code: code }]);
      expect(c.msgs.filter((m) => m.type === 'pong')).toEqual([{ type: 'pong', id: 1 }]);
      checkSession(c.msgs);
    });
});

describe('multichannel at awkward moments', () => {
  const talk = (ms: number) => concat(silence(500), speech(ms));

  it('left speaking, right silent: finalize, update and end mid-speech reach the left channel only', async () => {
    const c = await open({ multichannel: true, endpointing: { silence_ms: 2000, max_utterance_ms: 60_000 } }, 2);
    const left = concat(talk(1200), talk(1500), talk(1000));
    const right = new Uint8Array(left.length);
    const bytes = stereo(left, right);
    const at = (k: number) => Math.round((k * bytes.length) / 3 / 4) * 4;
    const third = (k: number) => bytes.subarray(at(k), at(k + 1));
    c.audio(third(0));
    c.send({ type: 'session.finalize' });
    c.audio(third(1));
    c.send({ type: 'session.update', endpointing: { silence_ms: 100 }, numerals: true }, { type: 'ping' });
    c.audio(third(2));
    const ended = await c.end();
    const finals = checkSession(c.msgs, [at(1) / (2 * BYTES_PER_MS)]);
    expect(finals.every((f) => f.channel === 0)).toBe(true);
    expect(finals.map((f) => f.reason)).toEqual(['finalize', 'silence', 'session_end']);
    expect(ended.audio_ms).toBe(left.length / BYTES_PER_MS);
  });

  it('max_utterance cuts on both channels at once, and a session.update cutting both', async () => {
    const c = await open({ multichannel: true, endpointing: { silence_ms: 500, max_utterance_ms: 1000 } }, 2);
    const voice = concat(silence(500), speech(), silence(1000));
    c.audio(stereo(voice, voice));
    c.send({ type: 'session.update', endpointing: { max_utterance_ms: 60_000 } });
    const long = concat(silence(500), speech(2000));
    c.audio(stereo(long, long));
    c.send({ type: 'session.update', endpointing: { max_utterance_ms: 1000 } }, { type: 'session.finalize' });
    await c.end();
    const finals = checkSession(c.msgs, [(voice.length + long.length) / BYTES_PER_MS]);
    for (const ch of [0, 1]) {
      const mine = finals.filter((f) => f.channel === ch);
      expect(mine.filter((f) => f.reason === 'max_utterance').length).toBeGreaterThan(1);
    }
    const text = (ch: number) => finals.filter((f) => f.channel === ch)
      .map((f) => [f.text, f.start_ms, f.end_ms, f.reason]);
    expect(text(1)).toEqual(text(0));
  });
});

describe('settings while large frames wait in slices', () => {
  // session.update applies to audio not yet decoded when it arrives (section 2; `alternatives`: "finals decoded after
  // the update carry the new number"), and session.updated answers it at once: no final after it may lack the list.
  // The DSP work of large frames waits in 500 ms slices; a final decoded while they wait is decoded after the update.
  it('alternatives raised while slices of earlier frames wait: every final sent after session.updated carries them',
    async () => {
      // DSP-heavy (44.1 kHz stereo, denoise) and few encoder runs per utterance (1280 ms chunks): finals of the first
      // utterances are decoded while the slices of the later ones still wait
      const f: WireFormat = { encoding: 'pcm_f32le', sampleRateHz: 44100, channels: 2 };
      const c = await open({ endpointing: { silence_ms: 200, max_utterance_ms: 15_000 }, multichannel: true,
        denoise: 'spectral', chunk_ms: 1280 }, f);
      const down = loadWav(speechFixtures().find((e) => e.set === 'sc_testset_v002')!).data;
      const wire = (pcm: Uint8Array) => interleave(asWire(pcm, f), asWire(pcm, f), 4);
      const first = wire(concat(...Array.from({ length: 10 }, () => [silence(300), down]).flat())); // 14 s
      const frameBytes = 2 * 44100 * 8; // 2 s
      for (let off = 0; off < first.length; off += frameBytes) c.ws.send(first.subarray(off, off + frameBytes));
      c.send({ type: 'session.update', alternatives: 3 });
      c.ws.send(wire(concat(silence(300), down, silence(500))));
      await c.end();
      const finals = checkSession(c.msgs);
      const updated = c.msgs.findIndex((m) => m.type === 'session.updated');
      const after = finals.filter((m) => c.msgs.indexOf(m) > updated && m.rejected === undefined);
      expect(after.length).toBeGreaterThan(0);
      expect(after.map((m) => m.alternatives !== undefined)).toEqual(after.map(() => true));
    });
});

// Last: it stops the gateway.
describe('drain at awkward moments', () => {
  it('a finalize pending, a paused backlog, a multichannel cut, an unstarted socket: each as section 8 says; one that '
    + 'sent session.end before it ends as it asked', async () => {
    const talking = await open({ endpointing: { silence_ms: 3000, max_utterance_ms: 60_000 } });
    talking.audio(concat(silence(500), speech(1500)));
    talking.send({ type: 'session.finalize' });
    talking.audio(speech(1200));
    const paused = await open();
    paused.audio(concat(...clips.flatMap((clip) => [silence(300), clip])), 1000);
    await paused.next((m) => m.type === 'flow.pause', 'flow.pause');
    const stereoCall = await open({ multichannel: true, endpointing: { silence_ms: 500, max_utterance_ms: 1000 } }, 2);
    stereoCall.audio(stereo(speech(2000), concat(silence(700), speech(1300))));
    const ending = await open();
    ending.audio(concat(...clips.flatMap((clip) => [silence(300), clip])), 1000);
    ending.send({ type: 'session.end' }, { type: 'ping', id: 'ending' });
    await ending.next((m) => m.type === 'pong', 'the pong after session.end');
    const unstarted = await connect(file.gw.port, '/v1/stream');
    const unstartedMsgs: ServerMessage[] = [];
    unstarted.on('message', (d: Buffer) => unstartedMsgs.push(JSON.parse(d.toString()) as ServerMessage));
    const unstartedClosed = closed(unstarted);
    await file.gw.drain();
    for (const c of [talking, paused, stereoCall]) {
      expect((await c.closed).code).toBe(1001);
      const ended = c.msgs[c.msgs.length - 1] as SessionEndedMessage;
      expect(ended).toMatchObject({ type: 'session.ended', reason: 'error', error_code: 'GW_ERR_SHUTTING_DOWN' });
      expect(c.msgs[c.msgs.length - 2]).toMatchObject({ type: 'error', code: 'GW_ERR_SHUTTING_DOWN', fatal: true });
      expect(ended.stats.processed_audio_ms).toBe(ended.audio_ms);
      expect(checkSession(c.msgs, c === talking ? [2000] : []).length).toBeGreaterThan(0);
    }
    expect(talking.msgs.filter(isFinal).map((f) => f.reason)).toEqual(['finalize', 'shutdown']);
    // a session that had asked to end before the drain ends as it asked: every final, then client_end and 1000
    expect((await ending.closed).code).toBe(1000);
    expect(ending.msgs[ending.msgs.length - 1]).toMatchObject({ type: 'session.ended', reason: 'client_end' });
    expect(checkSession(ending.msgs).pop()!.reason).toBe('session_end');
    expect((await unstartedClosed).code).toBe(1001);
    expect(unstartedMsgs).toMatchObject([{ type: 'error', code: 'GW_ERR_SHUTTING_DOWN', fatal: true }]);
  });
});
