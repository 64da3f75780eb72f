/**
 * What the load benchmark's clients put on the wire: the speech corpus loop (16 kHz int16) as a browser or SDK sends
 * it (`pcm16k`: pcm_s16le 16 kHz in 50 ms frames) or as a telephony bridge does (`telephony`: Twilio / Asterisk
 * style G.711 mu-law at 8 kHz in 20 ms frames, band-limited by the gateway's own resampler first), or as a call
 * recorder does (`stereo-call`: pcm_s16le 16 kHz stereo in 50 ms frames, a different part of the loop on each
 * channel, sent with `multichannel` so each channel is transcribed: what a multichannel session costs).
 */
import { encodeMulawSamples } from '../src/dsp/g711.js';
import { Resampler } from '../src/dsp/resampler.js';
import type { AudioEncoding } from '../src/protocol/messages.js';
import { CORPUS_RATE_HZ, loopBytes } from './speech-corpus.js';

export const WIRE_NAMES = ['pcm16k', 'telephony', 'stereo-call'] as const;
export type WireName = (typeof WIRE_NAMES)[number];

export interface LoadWire {
  name: WireName;
  encoding: AudioEncoding;
  sampleRateHz: number;
  /** 2: interleaved stereo, sent with session.start multichannel. */
  channels: 1 | 2;
  frameMs: number;
  /** Samples in the loop (at sampleRateHz). */
  loopSamples: number;
  /** `count` samples of the loop from sample `offset` (wrapping), in the wire encoding. */
  bytes(offset: number, count: number): Uint8Array;
}

export function loadWire(name: WireName, corpus: Int16Array): LoadWire {
  if (name === 'pcm16k') {
    return { name, encoding: 'pcm_s16le', sampleRateHz: CORPUS_RATE_HZ, channels: 1, frameMs: 50,
      loopSamples: corpus.length, bytes: (offset, count) => loopBytes(corpus, offset, count) };
  }
  if (name === 'stereo-call') {
    const half = Math.floor(corpus.length / 2);
    return { name, encoding: 'pcm_s16le', sampleRateHz: CORPUS_RATE_HZ, channels: 2, frameMs: 50,
      loopSamples: corpus.length, bytes: (offset, count) => {
        const [left, right] = [loopBytes(corpus, offset, count), loopBytes(corpus, offset + half, count)];
        const out = new Uint8Array(4 * count);
        for (let i = 0; i < count; i++) {
          out.set(left.subarray(2 * i, 2 * i + 2), 4 * i);
          out.set(right.subarray(2 * i, 2 * i + 2), 4 * i + 2);
        }
        return out;
      } };
  }
  const r = new Resampler({ inputRateHz: CORPUS_RATE_HZ, outputRateHz: 8000 });
  const f = Float32Array.from(corpus, (x) => x / 32768);
  const mulaw = encodeMulawSamples(Float32Array.from([...r.push(f), ...r.flush()]));
  return { name, encoding: 'mulaw', sampleRateHz: 8000, channels: 1, frameMs: 20, loopSamples: mulaw.length,
    bytes: (offset, count) => {
      const out = new Uint8Array(count);
      for (let i = 0; i < count; i++) out[i] = mulaw[(offset + i) % mulaw.length]!;
      return out;
    } };
}
