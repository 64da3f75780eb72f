/**
 * Seeded control sequences against a real gateway (real model, loopback, raw `ws` clients, one gateway for the file):
 * speech in frames of random length with session.finalize, ping and session.update (accepted and refused) between
 * them, in several wire formats, mono and multichannel. Where conversation.test.ts holds such clients to the transcript
 * rules, these also hold them to exact audio times (each utterance's pre-roll, each finalize's end_ms), strict
 * speech.started / speech.stopped / final triples, the settings in effect on each final (numerals, alternatives), and
 * a multichannel call to each channel alone under the same control messages (docs/protocol.md section 5, "channel").
 */
import { describe, expect, it } from 'vitest';
import { rng } from '../../bench/bench-random.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { audioBytesToMs, bytesPerSampleFrame } from '../../src/protocol/validate.js';
import { int, pick } from '../protocol/fuzz-frames.js';
import {
  BYTES_PER_MS, asWire, checkSession, concat, errors, fileGateway, interleave, isFinal, openClient, talker,
} from './control-helpers.js';
import type { WireFormat } from './helpers.js';

const file = fileGateway();

/** A refused update: a phrase the model cannot spell (with a numerals change that must not apply), or silence_ms not
 * below max_utterance_ms. */
const REFUSED = [{ numerals: true, hotwords: [{ phrase: 'naïve' }] },
  { endpointing: { silence_ms: 5000, max_utterance_ms: 1000 } }];

/**
 * One seeded client in `f` (stereo: multichannel, the right channel another talker or silent). Text frames stay within
 * the burst of 60 (none is refused for the rate).
 */
async function seededSession(seed: number, f: WireFormat): Promise<void> {
  const r = rng(seed);
  const sampleBytes = bytesPerSampleFrame(f.encoding, 1);
  const left = asWire(talker(r), f);
  const audio = f.channels === 2
    ? interleave(left, r() < 0.3 ? new Uint8Array(left.length) : asWire(talker(r), f), sampleBytes) : left;
  const frameBytes = sampleBytes * f.channels;
  const toMs = (bytes: number) => Math.round(audioBytesToMs(bytes, f.encoding, f.sampleRateHz, f.channels));
  const start = { endpointing: { silence_ms: pick(r, [200, 500, 900]), max_utterance_ms: pick(r, [1000, 1500, 4000]) },
    multichannel: f.channels === 2, numerals: r() < 0.5, alternatives: pick(r, [1, 3]),
    interim_results: r() < 0.8, chunk_ms: pick(r, [80, 320, 1280]), denoise: pick(r, ['off', 'spectral']) };
  const c = await openClient(file.gw.port, start, f);
  let texts = 0, pings = 0, good = 0, bad = 0, sent = 0, frames = 0;
  const finalizedAt: number[] = [];
  while (sent < audio.byteLength) {
    const n = Math.min(int(r, 1, f.sampleRateHz / 4) * frameBytes, audio.byteLength - sent);
    c.ws.send(audio.subarray(sent, sent + n));
    sent += n;
    frames++;
    if (texts >= 50) continue;
    const a = r();
    if (a < 0.08) {
      c.send({ type: 'session.finalize' });
      finalizedAt.push(toMs(sent));
    } else if (a < 0.12) {
      c.send({ type: 'ping', id: pings++ });
    } else if (a < 0.2) {
      const kind = int(r, 0, 6);
      c.send({ type: 'session.update', ...[
        { endpointing: { silence_ms: pick(r, [100, 300, 800]) } },
        { endpointing: { max_utterance_ms: pick(r, [1000, 2000, 60_000]) } },
        { numerals: r() < 0.5 },
        { alternatives: pick(r, [1, 2, 4]) },
        { min_confidence: pick(r, [0, 0.15, 0.6]), background_rejection_db: pick(r, [0, 12]) },
        { hotwords: r() < 0.5 ? [] : [{ phrase: 'password' }, { phrase: 'six', boost: 4 }] },
        pick(r, REFUSED),
      ][kind]! });
      if (kind === 6) bad++;
      else good++;
    } else continue;
    texts++;
  }
  const ended = await c.end();
  const what = `seed ${seed}`;
  expect([ended.audio_ms, ended.stats.bytes_received, ended.stats.frames_received, ended.stats.bytes_discarded], what)
    .toEqual([toMs(audio.byteLength), audio.byteLength, frames, 0]);
  const errs = errors(c.msgs);
  expect(errs.length, what).toBe(bad);
  for (const e of errs) expect([['GW_ERR_BAD_HOTWORD', false], ['GW_ERR_BAD_MESSAGE', false]], what).toContainEqual(e);
  expect(c.msgs.filter((m) => m.type === 'pong').map((m) => (m as { id: number }).id), what)
    .toEqual([...Array(pings).keys()]);
  expect(c.msgs.filter((m) => m.type === 'session.updated'), what).toHaveLength(good);
  expect(checkSession(c.msgs, finalizedAt).length, what).toBeGreaterThan(0);
  // the settings in effect: session.started's, then those of the latest session.updated before each final
  let numerals = start.numerals, alternatives = start.alternatives;
  for (const m of c.msgs) {
    if (m.type === 'session.updated') ({ numerals, alternatives } = m);
    if (!isFinal(m)) continue;
    const final = `${what}: ${JSON.stringify(m)}`;
    expect('formatted_text' in m, final).toBe(numerals);
    const alts = m.alternatives?.length ?? 0;
    if (m.rejected === undefined) expect([alts > 0, alts <= alternatives], final).toEqual([alternatives > 1, true]);
    if (m.reason === 'finalize') expect(finalizedAt, final).toContain(m.end_ms);
  }
}

describe.each<WireFormat>([
  { encoding: 'pcm_s16le', sampleRateHz: 16000, channels: 1 },
  { encoding: 'pcm_s16le', sampleRateHz: 16000, channels: 2 },
  { encoding: 'mulaw', sampleRateHz: 8000, channels: 1 },
  { encoding: 'pcm_f32le', sampleRateHz: 44100, channels: 2 },
  { encoding: 'alaw', sampleRateHz: 11025, channels: 2 },
])('seeded control sequences, $encoding $sampleRateHz Hz x $channels', (f) => {
  it.each([1, 2, 3])('seed %i: every request answered, the settings in effect on every final, exact times',
    (seed) => seededSession(seed, f));
});

describe('a multichannel call equals each channel alone, control messages included', () => {
  type Op = { audio: [number, number] } | { text: { type: string } };

  it.each([11, 12, 13])('seed %i', async (seed) => {
    const r = rng(seed);
    const left = talker(r), right = r() < 0.3 ? new Uint8Array(0) : talker(r);
    const n = Math.max(left.length, right.length);
    const ops: Op[] = [];
    for (let off = 0, texts = 0; off < n;) {
      const len = Math.min(int(r, 1, 4000) * 2, n - off);
      ops.push({ audio: [off, off + len] });
      off += len;
      const a = r();
      if (texts >= 50 || a >= 0.16) continue;
      texts++;
      ops.push({ text: a < 0.08 ? { type: 'session.finalize' } : { type: 'session.update', ...pick(r, [
        { endpointing: { silence_ms: pick(r, [100, 300, 800]) } },
        { endpointing: { max_utterance_ms: pick(r, [1000, 2000, 60_000]) } },
        { min_confidence: pick(r, [0, 0.15, 0.6]), background_rejection_db: pick(r, [0, 12]) },
        { alternatives: pick(r, [1, 3]) },
        { hotwords: r() < 0.5 ? [] : [{ phrase: 'password' }, { phrase: 'six', boost: 4 }] },
      ]) } });
    }
    const start = { endpointing: { silence_ms: pick(r, [200, 500]), max_utterance_ms: pick(r, [1000, 1500, 4000]) } };
    const play = async (channels: 1 | 2, audio: Uint8Array) => {
      const c = await openClient(file.gw.port, channels === 2 ? { ...start, multichannel: true } : start, channels);
      const finalizedAt: number[] = [];
      let sentBytes = 0;
      for (const op of ops) {
        if ('text' in op) {
          c.send(op.text);
          if (op.text.type === 'session.finalize') finalizedAt.push(Math.round(sentBytes / BYTES_PER_MS));
        } else {
          c.ws.send(audio.subarray(op.audio[0] * channels, op.audio[1] * channels));
          sentBytes = op.audio[1];
        }
      }
      await c.end();
      checkSession(c.msgs, finalizedAt);
      return c.msgs;
    };
    const pad = (x: Uint8Array) => concat(x, new Uint8Array(n - x.length));
    const [both, ...alone] = await Promise.all([play(2, interleave(pad(left), pad(right))), play(1, pad(left)),
      play(1, pad(right))]);
    // a channel's events as the mono session's: all but seq (counted across channels) and latency_ms (wall time)
    const events = (msgs: ServerMessage[], ch?: number) => msgs
      .filter((m) => ['speech.started', 'speech.stopped', 'transcript.partial', 'transcript.final'].includes(m.type)
        && (m as { channel?: number }).channel === ch)
      .map((m) => {
        const { channel: _c, seq: _s, latency_ms: _l, ...rest } = m as unknown as Record<string, unknown>;
        return rest;
      });
    for (const ch of [0, 1]) expect(events(both!, ch), `channel ${ch}`).toEqual(events(alone[ch]!));
  });
});
