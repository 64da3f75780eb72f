/**
 * Token n-gram language model (`token-lm.bin` in a model directory) for shallow fusion in the CTC beam search.
 *
 * Why: an acoustic model that scores each 40 ms frame on its own spells unseen words freely; a small n-gram over
 * its own tokens, trained on the training transcripts (training/voxgate_train/token_lm.py, which documents the file
 * format and the interpolated Kneser-Ney estimate), lets the search prefer the spellings the domain uses.
 *
 * The model is a backoff automaton: `logProb(state, token)` follows the state's arc for `token` when it has one,
 * else adds the state's backoff weight and asks the shorter history, down to state 0, which has every token. The
 * TypeScript query here is the reference for the native one (native/src/token-lm.cc) and is used by the TS search;
 * production decoders share one native copy (`native()`), built on first use.
 * Errors: GW_ERR_BAD_CONFIG quoting the path and what is wrong (the native side validates the tables again).
 */
import { readFileSync } from 'node:fs';

import { GatewayError } from '../protocol/errors.js';
import { loadNativeAddon, type NativeTokenLm } from './native-addon.js';

export const TOKEN_LM_FILE = 'token-lm.bin';
const MAGIC = 'VXLM';
const HEADER_BYTES = 4 + 6 * 4;

export interface TokenLmStep {
  logProb: number;
  state: number;
}

export class TokenLm {
  readonly order: number;
  readonly vocabSize: number;
  readonly blankId: number;
  readonly startState: number;
  readonly arcStart: Int32Array;
  readonly backoffState: Int32Array;
  readonly backoffLogWeight: Float32Array;
  readonly finalLogProb: Float32Array;
  readonly arcToken: Int32Array;
  readonly arcNext: Int32Array;
  readonly arcLogProb: Float32Array;
  #native: NativeTokenLm | undefined;

  /** Parses a `token-lm.bin` image; `source` names it in errors. */
  constructor(bytes: Uint8Array, blankId: number, source = 'token LM') {
    const bad = (m: string): never => {
      throw new GatewayError('GW_ERR_BAD_CONFIG', `${source}: ${m}`);
    };
    if (bytes.length < HEADER_BYTES || String.fromCharCode(...bytes.subarray(0, 4)) !== MAGIC) {
      bad(`not a voxgate token LM (no ${MAGIC} header)`);
    }
    // Copy into an aligned buffer: typed-array views need 4-byte-aligned offsets.
    const buf = new Uint8Array(bytes.length);
    buf.set(bytes);
    const header = new DataView(buf.buffer, 4, 24);
    const u32 = (i: number): number => header.getUint32(4 * i, true);
    const [version, order, vocabSize, states, arcs, start] = [0, 1, 2, 3, 4, 5].map(u32) as
      [number, number, number, number, number, number];
    if (version !== 1) bad(`version ${version} is not supported (want 1)`);
    const expected = HEADER_BYTES + 4 * (states + 1 + 3 * states + 3 * arcs);
    if (buf.length !== expected) bad(`${buf.length} bytes, expected ${expected} for ${states} states and ${arcs} arcs`);
    let offset = HEADER_BYTES;
    const take = <T>(make: (b: ArrayBuffer, o: number, n: number) => T, n: number): T => {
      const view = make(buf.buffer, offset, n);
      offset += 4 * n;
      return view;
    };
    const i32 = (b: ArrayBuffer, o: number, n: number): Int32Array => new Int32Array(b, o, n);
    const f32 = (b: ArrayBuffer, o: number, n: number): Float32Array => new Float32Array(b, o, n);
    this.order = order;
    this.vocabSize = vocabSize;
    this.blankId = blankId;
    this.startState = start;
    this.arcStart = take(i32, states + 1);
    this.backoffState = take(i32, states);
    this.backoffLogWeight = take(f32, states);
    this.finalLogProb = take(f32, states);
    this.arcToken = take(i32, arcs);
    this.arcNext = take(i32, arcs);
    this.arcLogProb = take(f32, arcs);
    this.#validate(bad);
  }

  /**
   * Reads `path`; GW_ERR_BAD_CONFIG when it cannot be read or parsed, or when `vocabSize` (the model's) is given and
   * the file's differs: an LM of another vocabulary fails at model load, not in every session's decoder.
   */
  static load(path: string, blankId: number, vocabSize?: number): TokenLm {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new GatewayError('GW_ERR_BAD_CONFIG', `${path}: cannot read the token LM (${(e as Error).message})`);
    }
    const lm = new TokenLm(bytes, blankId, path);
    if (vocabSize !== undefined && lm.vocabSize !== vocabSize) {
      throw new GatewayError('GW_ERR_BAD_CONFIG',
        `${path}: the token LM has vocab size ${lm.vocabSize}, the model ${vocabSize} (built for another model?)`);
    }
    return lm;
  }

  get numStates(): number {
    return this.backoffState.length;
  }

  /** log P(token | state) and the next state; `token` must be a non-blank id below vocabSize. */
  logProb(state: number, token: number): TokenLmStep {
    let backoff = 0;
    for (;;) {
      let lo = this.arcStart[state]!;
      let hi = this.arcStart[state + 1]!;
      while (lo < hi) { // lower_bound, as the native side
        const mid = (lo + hi) >>> 1;
        if (this.arcToken[mid]! < token) lo = mid + 1;
        else hi = mid;
      }
      if (lo < this.arcStart[state + 1]! && this.arcToken[lo] === token) {
        return { logProb: backoff + this.arcLogProb[lo]!, state: this.arcNext[lo]! };
      }
      backoff += this.backoffLogWeight[state]!;
      state = this.backoffState[state]!;
    }
  }

  /** The shared native copy (built once); GW_ERR_DECODER when the addon is missing. */
  native(): NativeTokenLm {
    this.#native ??= new (loadNativeAddon().TokenLm)(
      { vocabSize: this.vocabSize, blankId: this.blankId, startState: this.startState },
      this.arcStart, this.backoffState, this.backoffLogWeight, this.finalLogProb, this.arcToken, this.arcNext,
      this.arcLogProb,
    );
    return this.#native;
  }

  // The same checks as native/src/token-lm.cc, so a bad file fails at load time with the file's name.
  #validate(bad: (m: string) => never): void {
    const s = this.numStates;
    const a = this.arcToken.length;
    if (s < 1) bad('no states');
    if (this.vocabSize < 2 || this.blankId < 0 || this.blankId >= this.vocabSize) {
      bad(`vocab size ${this.vocabSize} / blank id ${this.blankId} out of range`);
    }
    if (this.startState >= s) bad(`start state ${this.startState} out of range`);
    if (this.arcStart[0] !== 0 || this.arcStart[s] !== a) bad('arc_start does not span the arcs');
    // Monotone first, over all states, as native/src/token-lm.cc checks it (same error for the same file).
    for (let i = 0; i < s; i++) {
      if (this.arcStart[i + 1]! < this.arcStart[i]!) bad(`arc_start decreases at state ${i}`);
    }
    for (let i = 0; i < s; i++) {
      const b = this.backoffState[i]!;
      if (i === 0 ? b !== -1 : b < 0 || b >= i) bad(`backoff state of state ${i} is ${b}`);
      const finalOk = Number.isFinite(this.finalLogProb[i]!) && this.finalLogProb[i]! <= 0;
      if (!Number.isFinite(this.backoffLogWeight[i]!) || !finalOk) {
        bad(`state ${i} has a non-finite weight`);
      }
      for (let k = this.arcStart[i]!; k < this.arcStart[i + 1]!; k++) {
        const t = this.arcToken[k]!;
        if (t < 0 || t >= this.vocabSize || t === this.blankId) bad(`arc token ${t} at state ${i}`);
        if (k > this.arcStart[i]! && this.arcToken[k - 1]! >= t) bad(`arcs of state ${i} unsorted`);
        if (this.arcNext[k]! < 0 || this.arcNext[k]! >= s) bad(`arc next state ${this.arcNext[k]} out of range`);
        const p = this.arcLogProb[k]!;
        if (!Number.isFinite(p) || p > 0) bad(`arc log-prob ${p} at state ${i}`);
      }
    }
    if (this.arcStart[1]! - this.arcStart[0]! !== this.vocabSize - 1) {
      bad('state 0 must have an arc for every non-blank token');
    }
  }
}
