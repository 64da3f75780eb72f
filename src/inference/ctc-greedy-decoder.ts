/**
 * Greedy (best-path) CTC decoding behind the same `CtcSearch` contract as the beam search: argmax per frame (the
 * lowest id on ties, as torch.argmax), repeats collapsed, blanks dropped. That is exactly what the model recipe's
 * PyTorch evaluation (training/voxgate_train/evaluate.py) and sherpa-onnx's greedy search do.
 *
 * Why it exists beside the beam search: `voxgate eval --decoder greedy` compares the gateway's features + ONNX path
 * with the model card's PyTorch WER with no search differences in between (prefix search, even at beam 1, sums the
 * paths of a prefix, which greedy keeps apart), and it is the cheapest decoder. It has no hotwords and no LM:
 * `setHotwords` with a non-empty list throws GW_ERR_BAD_HOTWORD rather than ignore them.
 * Emitted tokens never change, so every token is stable.
 */
import { GatewayError } from '../protocol/errors.js';
import { checkLogProbs, validateVocabulary, type CtcAlternative, type CtcDecodeResult, type CtcSearch,
  type Hotword } from './ctc-decoder.js';

export interface CtcGreedyDecoderOptions {
  /** Columns of the log-prob matrix (tokens incl. blank). */
  vocabSize: number;
  blankId: number;
}

export class CtcGreedyDecoder implements CtcSearch {
  readonly options: Readonly<CtcGreedyDecoderOptions>;
  #tokens: number[] = [];
  #frames: number[] = [];
  #probs: number[] = [];
  /** Argmax of the previous frame (-1 before the first): a repeat of a non-blank extends its token. */
  #prev = -1;
  /** Last frame whose argmax was non-blank, -1 if none. */
  #lastNonBlank = -1;
  #score = 0;
  #framesDecoded = 0;

  constructor(options: CtcGreedyDecoderOptions) {
    const { vocabSize, blankId } = options;
    validateVocabulary(vocabSize, blankId);
    this.options = Object.freeze({ vocabSize, blankId });
  }

  decodeChunk(logProbs: Float32Array, frames: number, vocabSize: number = this.options.vocabSize): CtcDecodeResult {
    const { vocabSize: v, blankId } = this.options;
    checkLogProbs(logProbs, frames, vocabSize, v);
    for (let f = 0; f < frames; f++) {
      let best = 0;
      let bestLp = -Infinity;
      for (let c = 0; c < v; c++) {
        const x = logProbs[f * v + c]!;
        if (x > bestLp) [best, bestLp] = [c, x];
      }
      const t = this.#framesDecoded++;
      this.#score += bestLp;
      if (best !== blankId) {
        const p = Math.exp(bestLp);
        if (best === this.#prev) {
          const k = this.#probs.length - 1;
          this.#probs[k] = Math.max(this.#probs[k]!, p);
        } else {
          this.#tokens.push(best);
          this.#frames.push(t);
          this.#probs.push(p);
        }
        this.#lastNonBlank = t;
      }
      this.#prev = best;
    }
    return this.current();
  }

  current(): CtcDecodeResult {
    return this.#result(false);
  }

  finalize(): CtcDecodeResult {
    const r = this.#result(true);
    this.reset();
    return r;
  }

  /** Greedy search holds one hypothesis. */
  finalAlternatives(): CtcAlternative[] {
    const r = this.#result(true);
    return [{ tokens: r.tokens, score: r.score }];
  }

  reset(): void {
    this.#tokens = [];
    this.#frames = [];
    this.#probs = [];
    this.#prev = this.#lastNonBlank = -1;
    this.#score = 0;
    this.#framesDecoded = 0;
  }

  setHotwords(hotwords: readonly Hotword[]): void {
    if (hotwords.length > 0) {
      throw new GatewayError('GW_ERR_BAD_HOTWORD', 'hotwords need the beam search decoder; this one decodes greedily');
    }
  }

  get framesDecoded(): number {
    return this.#framesDecoded;
  }

  #result(isFinal: boolean): CtcDecodeResult {
    return {
      tokens: Int32Array.from(this.#tokens),
      frames: Int32Array.from(this.#frames),
      probs: Float32Array.from(this.#probs),
      score: this.#score,
      stablePrefixLength: this.#tokens.length,
      trailingBlankFrames: this.#framesDecoded - (this.#lastNonBlank + 1),
      framesDecoded: this.#framesDecoded,
      isFinal,
    };
  }
}
