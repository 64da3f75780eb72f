/**
 * Streaming CTC prefix beam search with hotword biasing, backed by the native addon (native/src).
 *
 * One `CtcDecoder` per utterance stream. Beams live inside the decoder between `decodeChunk` calls, so decoding a
 * posterior matrix in any chunking gives exactly the whole-matrix result. The algorithm and its TypeScript reference
 * (bit-for-bit the same order of operations) are in ctc-prefix-beam-search.ts; tests compare both.
 */
import { GatewayError } from '../protocol/errors.js';
import { loadNativeAddon, type NativeCtcDecoder } from './native-addon.js';
import { TokenLm } from './token-lm.js';

export interface CtcDecoderOptions {
  /** Columns of the log-prob matrix (tokens incl. blank), e.g. 29 for `<blk> ▁ ' a..z`. */
  vocabSize: number;
  /** Blank token id. */
  blankId: number;
  /** Word separator id (`▁`), a space in `text()` / `words()`; hotwords match whole words at it (-1: anywhere). */
  separatorId: number;
  /** Hypotheses kept per frame. 1 reproduces greedy decoding on peaky (CTC-like) posteriors. */
  beamSize: number;
  /** Non-blank tokens more than this many nats below the frame's best log-prob are skipped; Infinity: none. */
  tokenThreshold: number;
  /** Token LM for shallow fusion (same vocabulary and blank id), or none. */
  lm?: TokenLm | undefined;
  /** LM scale: each emitted token adds lmWeight x log P_lm (and the end of the utterance at the final). >= 0. */
  lmWeight: number;
  /** Nats added per emitted token when an LM is set; it offsets the LM's per-token cost (else deletions win). */
  lmTokenBonus: number;
}

/** lmWeight / lmTokenBonus: tuned on the held-out split with the shipped model and LM (its card has the sweep). */
export const DEFAULT_CTC_DECODER_OPTIONS: Readonly<Omit<CtcDecoderOptions, 'vocabSize'>> = {
  blankId: 0,
  separatorId: 1,
  beamSize: 8,
  tokenThreshold: 10,
  lmWeight: 0.8,
  lmTokenBonus: 0.5,
};

/** A biasing phrase: token ids and the bonus added per matched token (removed again if the match does not finish). */
export interface Hotword {
  tokenIds: ArrayLike<number>;
  boost: number;
}

/**
 * Best hypothesis after a chunk (or the final one). All arrays are fresh copies owned by the caller.
 * `frames` are utterance-relative output frames (0 = first frame after construction / finalize / reset).
 */
export interface CtcDecodeResult {
  /** Token ids of the best hypothesis. */
  tokens: Int32Array;
  /** Frame at which each token was emitted (its first frame), on the path that carries the hypothesis: a faint early
   * path to the same prefix (a letter at 1% in the pause before the word) does not time it. */
  frames: Int32Array;
  /** Posterior of each token, in [0, 1]: max over the frames that path held it. */
  probs: Float32Array;
  /** Log score incl. hotword bonus (final: unfinished-match bonuses removed). */
  score: number;
  /** Tokens shared by every beam: they can never change. The final result has all tokens stable. */
  stablePrefixLength: number;
  /** Frames since the best hypothesis last held a non-blank token (all frames if it has none), for endpointing. */
  trailingBlankFrames: number;
  /** Frames decoded in this utterance. */
  framesDecoded: number;
  isFinal: boolean;
}

/** One hypothesis of an n-best list: its tokens and the score `finalize()` would give it. */
export interface CtcAlternative {
  tokens: Int32Array;
  score: number;
}

/** A word with timings (ms from the utterance start) and confidence (mean token posterior). */
export interface CtcWord {
  word: string;
  startMs: number;
  endMs: number;
  confidence: number;
}

/** The decoder contract shared by `CtcDecoder` (native) and `CtcPrefixBeamSearch` (TypeScript reference). */
export interface CtcSearch {
  /** logProbs: `frames x vocabSize` row-major natural-log posteriors; only read during the call. */
  decodeChunk(logProbs: Float32Array, frames: number, vocabSize?: number): CtcDecodeResult;
  current(): CtcDecodeResult;
  /** The final best hypothesis; then the state is reset for the next utterance (hotwords stay). */
  finalize(): CtcDecodeResult;
  /**
   * Every live hypothesis with the score `finalize()` would give it, best first (ties by prefix key): element 0 is
   * what `finalize()` returns. Read-only, so call it before `finalize()`. Distinct token sequences may share a text.
   */
  finalAlternatives(): CtcAlternative[];
  reset(): void;
  /** Replaces the hotwords; live beams are rescored as if the new list had applied from the utterance start. */
  setHotwords(hotwords: readonly Hotword[]): void;
  readonly framesDecoded: number;
}

/** log(e^a + e^b) without overflow; -Infinity is log 0. The order of operations of the native search's LogAddExp
 * (the TypeScript reference must match it bit for bit). */
export function logAddExp(a: number, b: number): number {
  if (a < b) [a, b] = [b, a];
  if (b === -Infinity) return a;
  return a + Math.log1p(Math.exp(b - a));
}

function isInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x);
}

/** The vocabulary checks of every search (beam and greedy); throws GW_ERR_BAD_CONFIG quoting the bad value. */
export function validateVocabulary(vocabSize: number, blankId: number): void {
  if (!isInt(vocabSize) || vocabSize < 2 || vocabSize > 1 << 20) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `vocabSize must be an integer in [2, 1048576], got ${String(vocabSize)}`);
  }
  if (!isInt(blankId) || blankId < 0 || blankId >= vocabSize) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `blankId must be an integer in [0, ${vocabSize}), got ${String(blankId)}`);
  }
}

/** Fills defaults and checks every field; throws GW_ERR_BAD_CONFIG quoting the bad value. */
export function validateCtcDecoderOptions(o: Partial<CtcDecoderOptions> & { vocabSize: number }): CtcDecoderOptions {
  const r: CtcDecoderOptions = { ...DEFAULT_CTC_DECODER_OPTIONS, ...o };
  const bad = (m: string): never => {
    throw new GatewayError('GW_ERR_BAD_CONFIG', m);
  };
  validateVocabulary(r.vocabSize, r.blankId);
  if (!isInt(r.separatorId) || r.separatorId < -1 || r.separatorId >= r.vocabSize || r.separatorId === r.blankId) {
    bad(`separatorId must be -1 (none) or a non-blank id in [0, ${r.vocabSize}), got ${String(r.separatorId)}`);
  }
  if (!isInt(r.beamSize) || r.beamSize < 1 || r.beamSize > 1024) {
    bad(`beamSize must be an integer in [1, 1024], got ${String(r.beamSize)}`);
  }
  if (typeof r.tokenThreshold !== 'number' || !(r.tokenThreshold > 0)) {
    bad(`tokenThreshold must be a number > 0 (Infinity: no pruning), got ${String(r.tokenThreshold)}`);
  }
  if (typeof r.lmWeight !== 'number' || !(r.lmWeight >= 0) || !Number.isFinite(r.lmWeight)) {
    bad(`lmWeight must be a finite number >= 0, got ${String(r.lmWeight)}`);
  }
  // Bounded, not just finite: a bonus near 1e308 sums to +Infinity within two tokens and scores NaN against an
  // acoustic -Infinity (the native search refuses it too).
  if (typeof r.lmTokenBonus !== 'number' || !(Math.abs(r.lmTokenBonus) <= 1e6)) {
    bad(`lmTokenBonus must be a number in [-1e6, 1e6], got ${String(r.lmTokenBonus)}`);
  }
  if (r.lm !== undefined) {
    if (!(r.lm instanceof TokenLm)) bad('lm must be a TokenLm');
    if (r.lm.vocabSize !== r.vocabSize || r.lm.blankId !== r.blankId) {
      bad(`the token LM has vocab size ${r.lm.vocabSize} and blank id ${r.lm.blankId}, the decoder ${r.vocabSize} and ${r.blankId}`);
    }
  }
  return r;
}

/**
 * The input checks every TypeScript search makes (the native one makes the same): a Float32Array of exactly
 * frames x vocabSize values, the decoder's vocabulary, no NaN or +Infinity, no frame that is -Infinity throughout.
 * Throws GW_ERR_DECODER.
 */
export function checkLogProbs(logProbs: Float32Array, frames: number, vocabSize: number, decoderVocabSize: number): void {
  const fail = (m: string): never => {
    throw new GatewayError('GW_ERR_DECODER', m);
  };
  const v = decoderVocabSize;
  if (!(logProbs instanceof Float32Array)) fail('logProbs must be a Float32Array');
  if (vocabSize !== v) fail(`vocab size mismatch: decoder has ${v}, chunk has ${vocabSize}`);
  if (!Number.isInteger(frames) || frames < 0) fail(`frames must be a non-negative integer, got ${frames}`);
  if (logProbs.length !== frames * v) fail(`logProbs has ${logProbs.length} values, expected frames x vocab = ${frames} x ${v}`);
  // Every value a log-probability (no NaN or +Infinity), and every frame with one above -Infinity: a row without one
  // is no posterior, every path would die and the beam would collapse onto whichever candidate has the smallest key,
  // appending an arbitrary token and ignoring the rest of the utterance.
  for (let f = 0; f < frames; f++) {
    let anyFinite = false;
    for (let t = 0; t < v; t++) {
      const x = logProbs[f * v + t]!;
      if (Number.isNaN(x) || x === Infinity) {
        fail(`logProbs[${f * v + t}] (frame ${f}, token ${t}) is ${Number.isNaN(x) ? 'NaN' : '+Infinity'}`);
      }
      anyFinite ||= x > -Infinity;
    }
    if (!anyFinite) fail(`logProbs frame ${f} is -Infinity for every token`);
  }
}

function decoderError(e: unknown): GatewayError {
  if (e instanceof GatewayError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new GatewayError('GW_ERR_DECODER', message, { cause: e });
}

/** Native CTC prefix beam search. Synchronous: a 160 ms chunk costs microseconds. Errors: GW_ERR_DECODER. */
export class CtcDecoder implements CtcSearch {
  readonly options: Readonly<CtcDecoderOptions>;
  readonly #native: NativeCtcDecoder;
  readonly #scalars = new Float64Array(4);
  readonly #altScores: Float64Array;

  constructor(options: Partial<CtcDecoderOptions> & { vocabSize: number }) {
    this.options = Object.freeze(validateCtcDecoderOptions(options));
    this.#altScores = new Float64Array(this.options.beamSize);
    const { CtcDecoder: Native } = loadNativeAddon();
    const { lm, ...plain } = this.options;
    try {
      this.#native = new Native(lm === undefined ? plain : { ...plain, lm: lm.native() });
    } catch (e) {
      throw decoderError(e);
    }
  }

  decodeChunk(logProbs: Float32Array, frames: number, vocabSize: number = this.options.vocabSize): CtcDecodeResult {
    try {
      return this.#result(this.#native.decodeChunk(logProbs, frames, vocabSize, this.#scalars), false);
    } catch (e) {
      throw decoderError(e);
    }
  }

  current(): CtcDecodeResult {
    try {
      return this.#result(this.#native.current(this.#scalars), false);
    } catch (e) {
      throw decoderError(e);
    }
  }

  finalize(): CtcDecodeResult {
    try {
      return this.#result(this.#native.finalize(this.#scalars), true);
    } catch (e) {
      throw decoderError(e);
    }
  }

  finalAlternatives(): CtcAlternative[] {
    let buffer: ArrayBuffer;
    try {
      buffer = this.#native.finalAlternatives(this.#altScores);
    } catch (e) {
      throw decoderError(e);
    }
    const ints = new Int32Array(buffer);
    const count = ints[0]!;
    const out: CtcAlternative[] = [];
    let pos = 1 + count;
    for (let i = 0; i < count; i++) {
      const n = ints[1 + i]!;
      out.push({ tokens: ints.slice(pos, pos + n), score: this.#altScores[i]! });
      pos += n;
    }
    return out;
  }

  #result(buffer: ArrayBuffer, isFinal: boolean): CtcDecodeResult {
    const n = buffer.byteLength / 12;
    const s = this.#scalars;
    return {
      tokens: new Int32Array(buffer, 0, n),
      frames: new Int32Array(buffer, 4 * n, n),
      probs: new Float32Array(buffer, 8 * n, n),
      score: s[0]!,
      stablePrefixLength: s[1]!,
      trailingBlankFrames: s[2]!,
      framesDecoded: s[3]!,
      isFinal,
    };
  }

  reset(): void {
    try {
      this.#native.reset();
    } catch (e) {
      throw decoderError(e);
    }
  }

  setHotwords(hotwords: readonly Hotword[]): void {
    let total = 0;
    for (const h of hotwords) total += h.tokenIds.length;
    const ids = new Int32Array(total);
    const lengths = new Int32Array(hotwords.length);
    const boosts = new Float64Array(hotwords.length);
    let pos = 0;
    hotwords.forEach((h, i) => {
      for (let k = 0; k < h.tokenIds.length; k++) {
        const id = h.tokenIds[k]!;
        if (!isInt(id)) throw new GatewayError('GW_ERR_DECODER', `hotword ${i} has a non-integer token id ${id}`);
        // Checked here, not only natively: the Int32Array would wrap 2^32 + 3 to the valid id 3.
        if (id < 0 || id >= this.options.vocabSize || id === this.options.blankId) {
          throw new GatewayError('GW_ERR_DECODER',
            `hotword ${i} has token id ${id} outside [0, vocabSize) or equal to the blank id`);
        }
        ids[pos++] = id;
      }
      lengths[i] = h.tokenIds.length;
      boosts[i] = h.boost;
    });
    try {
      this.#native.setHotwords(ids, lengths, boosts);
    } catch (e) {
      throw decoderError(e);
    }
  }

  get framesDecoded(): number {
    return this.#native.framesDecoded;
  }

  /** Text of a result: separator -> space, `▁` inside pieces -> space, trimmed, spaces collapsed. */
  text(result: Pick<CtcDecodeResult, 'tokens'>, tokens: readonly string[]): string {
    return ctcText(result.tokens, tokens, this.options.separatorId);
  }

  /** Words with timings: start = first token's frame, end = last token's frame + 1, confidence = mean token prob. */
  words(result: CtcDecodeResult, tokens: readonly string[], frameMs = 40): CtcWord[] {
    return ctcWords(result, tokens, this.options.separatorId, frameMs);
  }
}

function piece(id: number, tokens: readonly string[]): string {
  const s = tokens[id];
  if (s === undefined) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `token id ${id} has no entry in the token list (${tokens.length} tokens)`);
  }
  return s;
}

/** See `CtcDecoder.text`. */
export function ctcText(ids: ArrayLike<number>, tokens: readonly string[], separatorId: number): string {
  let out = '';
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    out += id === separatorId ? ' ' : piece(id, tokens).replace(/▁/g, ' ');
  }
  return out.trim().replace(/\s+/g, ' ');
}

/** See `CtcDecoder.words`. A separator token or a piece starting with `▁` (BPE) begins a new word. */
export function ctcWords(
  result: Pick<CtcDecodeResult, 'tokens' | 'frames' | 'probs'>,
  tokens: readonly string[],
  separatorId: number,
  frameMs = 40,
): CtcWord[] {
  const words: CtcWord[] = [];
  let text = '';
  let start = 0;
  let end = 0;
  let sum = 0;
  let count = 0;
  const close = (): void => {
    if (count > 0) words.push({ word: text, startMs: start * frameMs, endMs: (end + 1) * frameMs, confidence: sum / count });
    text = '';
    sum = 0;
    count = 0;
  };
  for (let i = 0; i < result.tokens.length; i++) {
    const id = result.tokens[i]!;
    if (id === separatorId) {
      close();
      continue;
    }
    const raw = piece(id, tokens);
    if (raw.startsWith('▁')) close();
    const p = raw.replace(/▁/g, '');
    if (p === '') continue;
    if (count === 0) start = result.frames[i]!;
    text += p;
    end = result.frames[i]!;
    sum += result.probs[i]!;
    count++;
  }
  close();
  return words;
}
