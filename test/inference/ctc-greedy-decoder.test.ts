/**
 * CtcGreedyDecoder: best-path decoding against an independent argmax-collapse (ctc-fixtures `greedy`) on random and
 * hand-built posteriors, chunking invariance, the CtcSearch fields (timings, posteriors, trailing blanks, stability),
 * and its refusals (hotwords, bad input).
 */
import { describe, expect, it } from 'vitest';
import { CtcGreedyDecoder } from '../../src/inference/ctc-greedy-decoder.js';
import { V, greedy, handBuilt, randomLogProbs, rng, tokenId } from '../native/ctc-fixtures.js';

const make = (): CtcGreedyDecoder => new CtcGreedyDecoder({ vocabSize: V, blankId: 0 });

const withCode = (code: string) => expect.objectContaining({ code });

describe('CtcGreedyDecoder', () => {
  it('equals argmax-collapse on random (flat) posteriors, in any chunking', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const rand = rng(seed);
      const frames = 50 + Math.floor(rand() * 100);
      const logProbs = randomLogProbs(frames, rand);
      const whole = make();
      whole.decodeChunk(logProbs, frames);
      const expected = greedy(logProbs, frames);
      const chunked = make();
      for (let f = 0; f < frames;) {
        const n = Math.min(frames - f, 1 + Math.floor(rand() * 9));
        chunked.decodeChunk(logProbs.subarray(f * V, (f + n) * V), n);
        f += n;
      }
      const a = whole.finalize(), b = chunked.finalize();
      expect([...a.tokens]).toEqual(expected);
      expect(b).toEqual(a);
    }
  });

  it('reports first frames, max posteriors, trailing blanks and a fully stable prefix', () => {
    const d = make();
    // frames: h h - i i(.95) - -   -> "hi"; h at 0 (max .9), i at 3 (max .95), two trailing blanks
    const r = d.decodeChunk(handBuilt(['h:.8', 'h:.9', '-:.9', 'i:.7', 'i:.95', '-:.9', '-:.9']), 7);
    expect([...r.tokens]).toEqual([tokenId('h'), tokenId('i')]);
    expect([...r.frames]).toEqual([0, 3]);
    expect(r.probs[0]).toBeCloseTo(0.9, 5);
    expect(r.probs[1]).toBeCloseTo(0.95, 5);
    expect(r.trailingBlankFrames).toBe(2);
    expect(r.stablePrefixLength).toBe(2);
    expect(r.framesDecoded).toBe(7);
    expect(r.isFinal).toBe(false);
    // a repeat after a blank is a new token: "h - h" -> "hh"
    const f = make().decodeChunk(handBuilt(['h:.9', '-:.9', 'h:.9']), 3);
    expect([...f.tokens]).toEqual([tokenId('h'), tokenId('h')]);
  });

  it('finalize returns the result and resets for the next utterance', () => {
    const d = make();
    d.decodeChunk(handBuilt(['a:.9', '-:.9']), 2);
    const r = d.finalize();
    expect(r.isFinal).toBe(true);
    expect([...r.tokens]).toEqual([tokenId('a')]);
    expect(d.framesDecoded).toBe(0);
    const empty = d.current();
    expect(empty.tokens.length).toBe(0);
    expect(empty.trailingBlankFrames).toBe(0);
    expect(d.decodeChunk(handBuilt(['-:.9', '-:.9']), 2).trailingBlankFrames).toBe(2);
  });

  it('refuses hotwords (it cannot bias) but accepts an empty list', () => {
    const d = make();
    expect(() => d.setHotwords([])).not.toThrow();
    expect(() => d.setHotwords([{ tokenIds: [tokenId('a')], boost: 2 }])).toThrow(withCode('GW_ERR_BAD_HOTWORD'));
  });

  it('rejects bad input with GW_ERR_DECODER / GW_ERR_BAD_CONFIG', () => {
    const d = make();
    const nan = handBuilt(['a:.9']);
    nan[3] = Number.NaN;
    expect(() => d.decodeChunk(nan, 1)).toThrow(withCode('GW_ERR_DECODER'));
    expect(() => d.decodeChunk(new Float32Array(V + 1), 1)).toThrow(withCode('GW_ERR_DECODER'));
    expect(() => d.decodeChunk(new Float32Array(V), 1, V + 1)).toThrow(withCode('GW_ERR_DECODER'));
    expect(() => new CtcGreedyDecoder({ vocabSize: 1, blankId: 0 })).toThrow(withCode('GW_ERR_BAD_CONFIG'));
    expect(() => new CtcGreedyDecoder({ vocabSize: V, blankId: V })).toThrow(withCode('GW_ERR_BAD_CONFIG'));
  });
});
