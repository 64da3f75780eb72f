/**
 * Cost of the decoder: 200 concurrent sessions decoding 1 s (25 frames x 29 tokens, 160 ms chunks) each, beam 8,
 * with and without 50 hotwords. Logs microseconds per decoder per second of audio and asserts a generous bound
 * (the machine is shared), so a pathological regression fails while normal noise does not.
 */
import { describe, expect, it } from 'vitest';

import { CtcDecoder, type Hotword } from '../../src/inference/ctc-decoder.js';
import { CtcPrefixBeamSearch } from '../../src/inference/ctc-prefix-beam-search.js';
import { V, peakyLogProbs, randomLogProbs, rng } from './ctc-fixtures.js';

const SESSIONS = 200;
const FRAMES = 25; // 1 s at 40 ms per output frame
const CHUNK = 4; // 160 ms

function hotwords(count: number, rand: () => number): Hotword[] {
  return Array.from({ length: count }, () => ({
    tokenIds: Array.from({ length: 4 + Math.floor(rand() * 7) }, () => 1 + Math.floor(rand() * (V - 1))),
    boost: 1.5,
  }));
}

/** CPU microseconds per decoder per second of audio, best of `reps`. */
function measure(make: () => CtcDecoder | CtcPrefixBeamSearch, inputs: Float32Array[], hot: Hotword[], reps = 3): number {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const decoders = inputs.map(() => make());
    for (const d of decoders) d.setHotwords(hot);
    const t0 = process.cpuUsage(); // CPU time, not wall: the test machine is shared
    for (let at = 0; at < FRAMES; at += CHUNK) {
      const n = Math.min(CHUNK, FRAMES - at);
      decoders.forEach((d, i) => d.decodeChunk(inputs[i]!.subarray(at * V, (at + n) * V), n));
    }
    for (const d of decoders) d.finalize();
    const used = process.cpuUsage(t0);
    best = Math.min(best, (used.user + used.system) / decoders.length);
  }
  return best;
}

describe('decoder cost, 200 concurrent sessions', () => {
  it('decodes 1 s of 29-token posteriors at beam 8 in well under a millisecond', () => {
    const rand = rng(42);
    const peaky = Array.from({ length: SESSIONS }, () => peakyLogProbs(FRAMES, rand, 0.5).logProbs);
    const flat = Array.from({ length: SESSIONS }, () => randomLogProbs(FRAMES, rand, 3));
    const hot = hotwords(50, rand);
    const native = () => new CtcDecoder({ vocabSize: V, beamSize: 8 });
    const ref = () => new CtcPrefixBeamSearch({ vocabSize: V, beamSize: 8 });
    const us = {
      nativePeaky: measure(native, peaky, []),
      nativePeaky50Hotwords: measure(native, peaky, hot),
      nativeFlat: measure(native, flat, []),
      nativeFlat50Hotwords: measure(native, flat, hot),
      referencePeaky: measure(ref, peaky.slice(0, 40), [], 1),
      referencePeaky50Hotwords: measure(ref, peaky.slice(0, 40), hot, 1),
    };
    console.log('µs per decoder per 1 s of audio:', JSON.stringify(us, (_k, v: number) => (typeof v === 'number' ? Math.round(v) : v)));
    expect(us.nativePeaky50Hotwords).toBeLessThan(5000);
    expect(us.nativeFlat50Hotwords).toBeLessThan(5000);
  });
});
