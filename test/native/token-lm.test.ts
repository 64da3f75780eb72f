import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { CtcDecoder, DEFAULT_CTC_DECODER_OPTIONS, type CtcSearch } from '../../src/inference/ctc-decoder.js';
import { CtcPrefixBeamSearch } from '../../src/inference/ctc-prefix-beam-search.js';
import { loadNativeAddon } from '../../src/inference/native-addon.js';
import { TOKEN_LM_FILE, TokenLm } from '../../src/inference/token-lm.js';
import { MODEL_DIR } from '../inference/helpers.js';
import { TOKENS, V, handBuilt, idsOf, shippedTokenLm } from './ctc-fixtures.js';

const lm = shippedTokenLm();

/** log P(text, end) under the LM from the start state. */
function sentenceLogProb(text: string): number {
  let state = lm.startState;
  let sum = 0;
  for (const id of idsOf(text)) {
    const step = lm.logProb(state, id);
    sum += step.logProb;
    state = step.state;
  }
  return sum + lm.finalLogProb[state]!;
}

describe('shipped token LM (token-lm.bin)', () => {
  it('is a normalised distribution in every state it is asked about', () => {
    for (let s = 0; s < lm.numStates; s += 173) {
      let total = Math.exp(lm.finalLogProb[s]!);
      for (let t = 1; t < V; t++) total += Math.exp(lm.logProb(s, t).logProb);
      expect(Math.abs(total - 1)).toBeLessThan(1e-5);
    }
  });

  it('prefers the domain spelling', () => {
    expect(sentenceLogProb('check my balance')).toBeGreaterThan(sentenceLogProb('chek my balanse') + 5);
    expect(sentenceLogProb('one two three')).toBeGreaterThan(sentenceLogProb('won too tree') + 3);
    expect(sentenceLogProb(' one')).toBeLessThan(sentenceLogProb('one') - 5); // no leading separator
  });

  it('rejects damaged files with GW_ERR_BAD_CONFIG naming the problem', () => {
    const good = new Uint8Array(readFileSync(join(MODEL_DIR, TOKEN_LM_FILE)));
    const bad = (bytes: Uint8Array) => () => new TokenLm(bytes, 0, 'x.bin');
    expect(bad(good.subarray(0, 100))).toThrow(/x\.bin: .*bytes, expected/);
    const magic = good.slice();
    magic[0] = 0;
    expect(bad(magic)).toThrow(expect.objectContaining({ code: 'GW_ERR_BAD_CONFIG' }));
    const version = good.slice();
    version[4] = 7;
    expect(bad(version)).toThrow(/version 7/);
    const arcs = good.slice();
    const arcTokenAt = 28 + 4 * (lm.numStates + 1 + 3 * lm.numStates);
    new DataView(arcs.buffer).setInt32(arcTokenAt, 99, true); // state 0's first arc -> token 99
    expect(bad(arcs)).toThrow(/arc token 99/);
    expect(() => TokenLm.load('/nonexistent/token-lm.bin', 0)).toThrow(/cannot read the token LM/);
  });

  it('the native copy validates the tables too (GW_ERR_DECODER), never reading out of range', () => {
    const { TokenLm: Native } = loadNativeAddon();
    const header = { vocabSize: lm.vocabSize, blankId: 0, startState: lm.startState };
    const next = lm.arcNext.slice();
    next[5] = lm.numStates; // one past the last state
    expect(() => new Native(header, lm.arcStart, lm.backoffState, lm.backoffLogWeight, lm.finalLogProb, lm.arcToken,
      next, lm.arcLogProb)).toThrow(expect.objectContaining({ code: 'GW_ERR_DECODER', message: expect.stringMatching(/next state/) }));
    for (const [which, value] of [['arc', -Infinity], ['arc', Number.NaN], ['final', -Infinity]] as const) {
      const arcLogProb = lm.arcLogProb.slice(), finalLogProb = lm.finalLogProb.slice();
      (which === 'arc' ? arcLogProb : finalLogProb)[3] = value; // -inf would be NaN at lmWeight 0
      expect(() => new Native(header, lm.arcStart, lm.backoffState, lm.backoffLogWeight, finalLogProb, lm.arcToken,
        lm.arcNext, arcLogProb), `${which} ${value}`).toThrow(expect.objectContaining({ code: 'GW_ERR_DECODER' }));
    }
    expect(() => new Native({ ...header, startState: -1 }, lm.arcStart, lm.backoffState, lm.backoffLogWeight,
      lm.finalLogProb, lm.arcToken, lm.arcNext, lm.arcLogProb)).toThrow(/start state/);
    expect(lm.native().numStates).toBe(lm.numStates);
    const { CtcDecoder: NativeDecoder } = loadNativeAddon();
    expect(() => new NativeDecoder({ vocabSize: V, blankId: 0, beamSize: 8, tokenThreshold: 10, lm: {} as never }))
      .toThrow(/lm must be a TokenLm/);
  });
});

describe.each([
  ['native', (o: object) => new CtcDecoder({ vocabSize: V, ...o })],
  ['reference', (o: object) => new CtcPrefixBeamSearch({ vocabSize: V, ...o })],
] as const)('beam search with the token LM (%s)', (_name, make: (o: object) => CtcSearch) => {
  const text = (ids: Int32Array): string => new CtcDecoder({ vocabSize: V }).text({ tokens: ids }, TOKENS);

  it('fixes a spelling the acoustics slightly prefer, and scores the final with the end of the utterance', () => {
    // "balance" where the acoustics lean to "balanse" (s .5 vs c .4).
    const rows = ['b:.9', 'a:.9', 'l:.9', 'a:.9', 'n:.9', 's:.5 c:.4', 'e:.9'];
    const m = handBuilt(rows);
    const plain = make({});
    plain.decodeChunk(m, rows.length);
    expect(text(plain.finalize().tokens)).toBe('balanse');
    const fused = make({ lm });
    fused.decodeChunk(m, rows.length);
    const r = fused.finalize();
    expect(text(r.tokens)).toBe('balance');
    // score >= best acoustic path + lmWeight x log P_lm("balance", end) + lmTokenBonus x 7 tokens (other paths add)
    const { lmWeight, lmTokenBonus } = DEFAULT_CTC_DECODER_OPTIONS;
    const acoustic = Math.log(0.9 ** 6 * 0.4);
    expect(r.score).toBeGreaterThan(acoustic + lmWeight * sentenceLogProb('balance') + 7 * lmTokenBonus - 1e-6);
    expect(r.score).toBeLessThan(acoustic + lmWeight * sentenceLogProb('balance') + 7 * lmTokenBonus + 0.5);
  });

  it('weight 0 and bonus 0 leave the search as without an LM', () => {
    const rows = ['k:.7 c:.2', 'a:.9', 't:.9', '-:.5 s:.4'];
    const m = handBuilt(rows);
    const a = make({});
    const b = make({ lm, lmWeight: 0, lmTokenBonus: 0 });
    expect(a.decodeChunk(m, rows.length)).toEqual(b.decodeChunk(m, rows.length));
    expect(a.finalize()).toEqual(b.finalize());
  });

  it('rejects a mismatched LM and bad weights with GW_ERR_BAD_CONFIG', () => {
    expect(() => make({ lm, vocabSize: 30 })).toThrow(/token LM has vocab size 29/);
    expect(() => make({ lm, lmWeight: -1 })).toThrow(/lmWeight .* got -1/);
    expect(() => make({ lm, lmTokenBonus: Number.NaN })).toThrow(/lmTokenBonus/);
    expect(() => make({ lm: {} })).toThrow(/lm must be a TokenLm/);
  });
});
