import { describe, expect, it, vi } from 'vitest';

import { GatewayError } from '../../src/protocol/errors.js';
import { CtcDecoder, type CtcSearch } from '../../src/inference/ctc-decoder.js';
import { hotwordsFromPhrases } from '../../src/inference/hotword-tokens.js';
import { CtcPrefixBeamSearch } from '../../src/inference/ctc-prefix-beam-search.js';
import { loadNativeAddon, type NativeTokenLm } from '../../src/inference/native-addon.js';
import { TOKENS, V, handBuilt, idsOf, tokenId } from './ctc-fixtures.js';

const engines: Array<[string, (o?: { beamSize?: number }) => CtcSearch]> = [
  ['native', (o = {}) => new CtcDecoder({ vocabSize: V, ...o })],
  ['reference', (o = {}) => new CtcPrefixBeamSearch({ vocabSize: V, ...o })],
];

const text = (ids: Int32Array): string => new CtcDecoder({ vocabSize: V }).text({ tokens: ids }, TOKENS);

function decodeAll(d: CtcSearch, rows: readonly string[]) {
  const m = handBuilt(rows);
  return { partial: d.decodeChunk(m, rows.length), final: d.finalize() };
}

describe.each(engines)('CTC prefix beam search on hand-built matrices (%s)', (_name, make) => {
  it('needs a blank between repeated letters ("hello" = l - l)', () => {
    expect(text(decodeAll(make(), ['h:.9', 'e:.9', 'l:.9', '-:.9', 'l:.9', 'o:.9']).final.tokens)).toBe('hello');
    expect(text(decodeAll(make(), ['h:.9', 'e:.9', 'l:.9', 'l:.9', 'o:.9']).final.tokens)).toBe('helo');
  });

  it('a huge but finite boost is clamped (1e6 per token): no NaN score, and both engines agree', () => {
    // Found by native/fuzz: 1e308 per token overflowed a phrase's running bonus, and a mismatch scored inf - inf.
    const rows = ['c:.9', '-:.9', 'c:.9', '-:.9', 'c:.9', 'a:.9'];
    const d = make();
    d.setHotwords([{ tokenIds: idsOf('ccc'), boost: 1e308 }]);
    d.decodeChunk(handBuilt(rows), rows.length);
    expect(d.finalAlternatives().some((alt) => Number.isNaN(alt.score))).toBe(false);
    const clamped = make();
    clamped.setHotwords([{ tokenIds: idsOf('ccc'), boost: 1e6 }]);
    clamped.decodeChunk(handBuilt(rows), rows.length);
    const r = d.finalize();
    expect(text(r.tokens)).toBe('ccc'); // a whole word: 3e6 outweighs the "a" heard after it
    expect(r.score).toBe(clamped.finalize().score);
  });

  it('lets a hotword rescue a weaker path and keeps the bonus of a completed phrase', () => {
    const rows = ['k:.7 c:.2', 'a:.9', 't:.9'];
    const plain = decodeAll(make(), rows).final;
    expect(text(plain.tokens)).toBe('kat');
    const biased = make();
    biased.setHotwords([{ tokenIds: idsOf('cat'), boost: 1.5 }]);
    const r = decodeAll(biased, rows).final;
    expect(text(r.tokens)).toBe('cat');
    const unbiasedCat = decodeAll(make(), ['c:.9', 'a:.9', 't:.9']).final.score; // sanity: bonus is 3 x 1.5
    expect(unbiasedCat).toBeLessThan(0);
    expect(r.score).toBeCloseTo(Math.log(0.2 * 0.9 * 0.9) + 4.5, 5);
  });

  it('removes the bonus of a partial match when it fails and at finalize', () => {
    // boost .5: "cat" would lead "cab" by 1 (kept) + .5 + 1.5 (output score), less than log .9 - log(.1/26).
    const hot = [{ tokenIds: idsOf('cat'), boost: 0.5 }];
    const plain = make();
    const biased = make();
    biased.setHotwords(hot);
    const ca = handBuilt(['c:.9', 'a:.9']);
    const p1 = plain.decodeChunk(ca, 2);
    const b1 = biased.decodeChunk(ca, 2);
    expect(b1.score - p1.score).toBeCloseTo(1, 9); // "ca" holds 2 x .5 while the match is open
    const b = handBuilt(['b:.9']);
    const p2 = plain.decodeChunk(b, 1);
    const b2 = biased.decodeChunk(b, 1);
    expect(text(b2.tokens)).toBe('cab');
    expect(b2.score - p2.score).toBeCloseTo(0, 9); // "cab" fell off the trie: bonus gone
    // An utterance that ends inside the match: finalize removes the open bonus.
    const end = make();
    end.setHotwords(hot);
    end.decodeChunk(ca, 2);
    const fin = end.finalize();
    expect(text(fin.tokens)).toBe('ca');
    expect(fin.score).toBeCloseTo(p1.score, 9);
  });

  it('grows a stable prefix that never changes', () => {
    const rows = ['h:.9', 'i:.9', '-:.9', '_:.9', 't:.9', 'h:.9', 'e:.5 a:.4', 'r:.9', 'e:.9', '-:.9', '-:.9', '-:.9'];
    const d = make();
    const m = handBuilt(rows);
    const seen: Array<{ tokens: number[]; stable: number }> = [];
    for (let f = 0; f < rows.length; f++) {
      const r = d.decodeChunk(m.subarray(f * V, (f + 1) * V), 1);
      seen.push({ tokens: [...r.tokens], stable: r.stablePrefixLength });
    }
    const final = d.finalize();
    expect(text(final.tokens)).toBe('hi there');
    expect(final.stablePrefixLength).toBe(final.tokens.length);
    for (let k = 1; k < seen.length; k++) expect(seen[k]!.stable).toBeGreaterThanOrEqual(seen[k - 1]!.stable);
    for (const s of seen) expect(s.tokens.slice(0, s.stable)).toEqual([...final.tokens].slice(0, s.stable));
    expect(seen.at(-1)!.stable).toBeGreaterThan(0);
    expect(seen.some((s) => s.stable < s.tokens.length)).toBe(true);
  });

  it('times and scores each token by the path that emitted it, not by a weak early path of the same prefix', () => {
    // "hi" is said at frames 8-9, but a faint "h", "i" at frames 0-1 keeps the prefix "hi" alive through the pause
    // (beam 8). The strong emission merged into that prefix and inherited its frames and posteriors: the word was
    // timed 0-80 ms with confidence .55 instead of 320-400 ms and .75.
    const rows = ['-:.8 h:.2', '-:.8 i:.2', '-:.99', '-:.99', '-:.99', '-:.99', '-:.99', '-:.99', 'h:.6 -:.3', 'i:.9',
      '-:.9', '-:.9'];
    const r = decodeAll(make(), rows).final;
    expect(text(r.tokens)).toBe('hi');
    expect([...r.frames]).toEqual([8, 9]);
    expect(r.probs[0]).toBeCloseTo(0.6, 6);
    expect(r.probs[1]).toBeCloseTo(0.9, 6);
    const words = new CtcDecoder({ vocabSize: V }).words(r, TOKENS);
    expect(words.map((w) => [w.word, w.startMs, w.endMs])).toEqual([['hi', 320, 400]]);
    // a faint "h" alone through 10 frames of silence: the word still starts where it is said
    const late = decodeAll(make(), [...Array<string>(10).fill('-:.98 h:.01'), 'h:.9', 'i:.9', '-:.9']).final;
    expect([...late.frames]).toEqual([10, 11]);
  });

  it('keeps token posteriors in [0, 1] when a frame is not normalised (log-probs above 0)', () => {
    // An encoder that emits logits (or a log-softmax that rounds above 0) is accepted, but a posterior of e^2 made
    // word confidences of 7.4, past any min_confidence and outside the [0, 1] clients are promised.
    const m = handBuilt(['h:.9', '-:.9', 'i:.9', '-:.9']);
    m[tokenId('h')] = 2;
    m[2 * V + tokenId('i')] = 1e-3;
    const d = make();
    const partial = d.decodeChunk(m, 4);
    const r = d.finalize();
    expect(text(r.tokens)).toBe('hi');
    for (const probs of [partial.probs, r.probs]) {
      expect([...probs].every((p) => p >= 0 && p <= 1)).toBe(true);
      expect(probs[0]).toBe(1);
    }
  });

  it('counts trailing blank frames and frames decoded, and resets at finalize', () => {
    const d = make();
    const r = d.decodeChunk(handBuilt(['h:.9', 'i:.9', '-:.9', '-:.9', '-:.9', '-:.9', '-:.9']), 7);
    expect(r.trailingBlankFrames).toBe(5);
    expect(r.framesDecoded).toBe(7);
    expect(d.framesDecoded).toBe(7);
    expect(d.finalize().isFinal).toBe(true);
    expect(d.framesDecoded).toBe(0);
    const empty = d.current();
    expect(empty.tokens.length).toBe(0);
    expect(empty.trailingBlankFrames).toBe(0);
    expect(d.decodeChunk(handBuilt(['-:.9', '-:.9']), 2).trailingBlankFrames).toBe(2);
  });

  it('rejects bad input with GW_ERR_DECODER and stays usable', () => {
    const rows = ['h:.9', 'i:.9'];
    const m = handBuilt(rows);
    const d = make();
    d.decodeChunk(m.subarray(0, V), 1);
    const nan = m.slice(V);
    nan[3] = Number.NaN;
    const bad: Array<() => unknown> = [
      () => d.decodeChunk(new Float32Array(V + 1), 1),
      () => d.decodeChunk(new Float32Array(2 * 30), 2, 30),
      () => d.decodeChunk(nan, 1),
      () => d.decodeChunk(new Float32Array(V).fill(Infinity), 1),
      () => d.decodeChunk(new Float64Array(V) as unknown as Float32Array, 1),
      () => d.decodeChunk(m, 1.5),
      () => d.setHotwords([{ tokenIds: [0, 3], boost: 1 }]),
      () => d.setHotwords([{ tokenIds: [V], boost: 1 }]),
      () => d.setHotwords([{ tokenIds: [], boost: 1 }]),
    ];
    for (const f of bad) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).code).toBe('GW_ERR_DECODER');
    }
    d.decodeChunk(m.subarray(V), 1);
    const fresh = make();
    fresh.decodeChunk(m, 2);
    expect(d.finalize()).toEqual(fresh.finalize());
  });

  it('rejects a frame with no finite log-prob instead of spelling hash-order garbage', () => {
    // A row of -Infinity is no posterior: every path dies, and the beam used to collapse onto the candidate with the
    // smallest prefix key, appending an arbitrary token ("hi" -> "hz") and ignoring the rest of the utterance.
    const d = make();
    d.decodeChunk(handBuilt(['h:.9', 'i:.9', '-:.9']), 3);
    const dead = new Float32Array(2 * V).fill(-Infinity);
    dead.set(handBuilt(['-:.9']));
    expect(() => d.decodeChunk(dead, 2)).toThrow(expect.objectContaining({ code: 'GW_ERR_DECODER',
      message: expect.stringMatching(/frame 1 .*-Infinity/) }));
    const rest = handBuilt(['-:.9', 'y:.9', 'o:.9', '-:.9']);
    const r = d.decodeChunk(rest, 4);
    expect(text(r.tokens)).toBe('hiyo');
    expect(r.framesDecoded).toBe(7);
  });
});

describe('CtcDecoder wrapper', () => {
  it('validates options with GW_ERR_BAD_CONFIG quoting the value', () => {
    expect(() => new CtcDecoder({ vocabSize: V, beamSize: 0 })).toThrow(/beamSize .* got 0/);
    expect(() => new CtcDecoder({ vocabSize: 1 })).toThrow(GatewayError);
    expect(() => new CtcDecoder({ vocabSize: V, blankId: 29 })).toThrow(/got 29/);
    expect(() => new CtcDecoder({ vocabSize: V, tokenThreshold: 0 })).toThrow(/tokenThreshold/);
  });

  it('native errors carry a code property', () => {
    const { CtcDecoder: Native } = loadNativeAddon();
    const n = new Native({ vocabSize: V, blankId: 0, beamSize: 8, tokenThreshold: 10 });
    expect(() => n.decodeChunk(new Float32Array(3), 1, V, new Float64Array(4))).toThrow(expect.objectContaining({ code: 'GW_ERR_DECODER' }));
    expect(() => new Native({ vocabSize: V, blankId: 0, beamSize: 0, tokenThreshold: 10 })).toThrow(/beamSize/);
    expect(() => n.current(new Float64Array(2))).toThrow(expect.objectContaining({ code: 'GW_ERR_DECODER' }));
    // An object that passes `instanceof TokenLm` but wraps no tables: napi_unwrap failed with an uncoded
    // "Invalid argument".
    const fakeLm = Object.create(loadNativeAddon().TokenLm.prototype) as NativeTokenLm;
    expect(() => new Native({ vocabSize: V, blankId: 0, beamSize: 8, tokenThreshold: 10, lm: fakeLm }))
      .toThrow(expect.objectContaining({ code: 'GW_ERR_DECODER', message: expect.stringMatching(/lm must be a TokenLm/) }));
    expect(loadNativeAddon()).toBe(loadNativeAddon()); // loaded once, cached
  });

  it('says clearly when the binary is missing', async () => {
    vi.resetModules();
    vi.stubEnv('VOXGATE_NATIVE_PATH', '/nonexistent/voxgate_native.node');
    try {
      const fresh = await import('../../src/inference/native-addon.js');
      expect(() => fresh.loadNativeAddon()).toThrow(/native addon not found .*node-gyp rebuild/);
      expect(() => fresh.loadNativeAddon()).toThrow(expect.objectContaining({ code: 'GW_ERR_DECODER' }));
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });

  it('renders text and words with timings and confidences', () => {
    const d = new CtcDecoder({ vocabSize: V });
    const rows = ['h:.9', 'i:.8', '-:.9', '_:.9', '-:.9', 't:.9', 'h:.9', '-:.9', 'e:.9', 'r:.9', 'e:.7', '-:.9'];
    d.decodeChunk(handBuilt(rows), rows.length);
    const r = d.finalize();
    expect(d.text(r, TOKENS)).toBe('hi there');
    const words = d.words(r, TOKENS);
    expect(words.map((w) => [w.word, w.startMs, w.endMs])).toEqual([
      ['hi', 0, 80],
      ['there', 200, 440],
    ]);
    expect(words[0]!.confidence).toBeCloseTo(0.85, 5);
    expect(words[1]!.confidence).toBeCloseTo((0.9 * 4 + 0.7) / 5, 5);
    expect(d.words(r, TOKENS, 10)[1]!.startMs).toBe(50);
  });

  it('turns phrases into token ids and rejects unknown characters', () => {
    const [ny, ok] = hotwordsFromPhrases(['  New   York ', { phrase: "o'neil", boost: 3 }], TOKENS);
    expect(ny).toEqual({ tokenIds: idsOf('new york'), boost: 1.5 });
    expect(ok).toEqual({ tokenIds: idsOf("o'neil"), boost: 3 });
    expect(() => hotwordsFromPhrases(['café'], TOKENS)).toThrow(/"café" contains "é"/);
    expect(() => hotwordsFromPhrases(['café'], TOKENS)).toThrow(expect.objectContaining({ code: 'GW_ERR_BAD_HOTWORD' }));
    expect(() => hotwordsFromPhrases(['   '], TOKENS)).toThrow(/empty/);
    const bpe = ['<blk>', '▁new', '▁york', 'ne', 'w', 'y', 'ork'];
    expect(hotwordsFromPhrases(['new york'], bpe, { separatorId: -1 })[0]!.tokenIds).toEqual([1, 2]);
  });
});
