/**
 * TypeScript reference of the native CTC prefix beam search (native/src/ctc-prefix-beam-search.cc, ctc-search-results.cc,
 * context-graph.cc). Same algorithm, same order of floating-point operations, same tie-breaks, so that tests can
 * require identical tokens/frames and scores within 1e-4. Slower than the addon; use `CtcDecoder` in production.
 *
 * Per frame t, for every beam prefix (in beam order) with total = logaddexp(pb, pnb):
 *   blank:            same prefix, pb  += total + lp[blank]
 *   c == last token:  same prefix, pnb += pnb + lp[c];  prefix + c, pnb += pb + lp[c]
 *   c != last token:  prefix + c, pnb += total + lp[c]
 * (`+=` is logaddexp; non-blank c with lp[c] < frame max - tokenThreshold is skipped). A new prefix gets the hotword
 * automaton's score delta (context-graph.ts: whole words with a separator id) and, with a token LM,
 * lmWeight x log P_lm(c | prefix) + lmTokenBonus. Candidates rank by logaddexp(pb, pnb) + context score + LM score,
 * ties by key, and the best `beamSize` survive, a quarter of them (with hotwords) the best by that score less the
 * bonus of their open hotword match (#select); the final adds lmWeight x log P_lm(end | prefix). Keys are 53-bit
 * hashes of (parent key, token) so they fit a double. Timings: a kept prefix takes its parent's frames + this frame
 * when the parent's emission here outweighs its own paths.
 */
import { GatewayError } from '../protocol/errors.js';
import { ContextGraph } from './context-graph.js';
import { checkLogProbs, logAddExp, validateCtcDecoderOptions } from './ctc-decoder.js';
import type { CtcAlternative, CtcDecodeResult, CtcDecoderOptions, CtcSearch, Hotword } from './ctc-decoder.js';

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Key of prefix (parent + token); bit for bit NextKey() in the C++ core. */
export function nextKey(key: number, token: number): number {
  const lo = key >>> 0;
  const hi = Math.floor(key / 4294967296);
  const t = (token + 1) >>> 0;
  const nlo = fmix32(((lo ^ Math.imul(t, 0x9e3779b1)) + Math.imul(hi, 0x85ebca77)) >>> 0);
  const nhi = fmix32(((hi ^ Math.imul(t, 0xc2b2ae3d)) + Math.imul(lo, 0x27d4eb2f) + 0x165667b1) >>> 0) & 0x1fffff;
  return nhi * 4294967296 + nlo;
}

interface Hyp {
  key: number; parentKey: number;
  pb: number; pnb: number; ctx: number; ctxState: number; lm: number; lmState: number;
  lastFrame: number;
  tokens: number[]; frames: number[]; probs: number[];
}

interface Cand {
  pb: number; pnb: number; ctx: number; lm: number; score: number; key: number;
  src: number; token: number; ctxState: number; lmState: number;
  /** Kept prefix: its own paths ending in its last token at this frame (held), and the path on which its parent
   * (beam index `via`, else -1) emits that token anew at this frame. */
  ownPnb: number; via: number; viaPnb: number;
}

/** The ranking score of a prefix: acoustic + hotword context + LM; RankScore() in the C++ core. */
const rankScore = (h: Pick<Hyp, 'pb' | 'pnb' | 'ctx' | 'lm'>): number => logAddExp(h.pb, h.pnb) + h.ctx + h.lm;

/** Whether a kept prefix's last token is timed anew at this frame: its parent's fresh emission outweighs the prefix's
 * own paths, so the frames and posteriors are that path's, not a faint earlier one's. EmittedAnew() in the C++ core. */
const emittedAnew = (c: Cand): boolean => c.via >= 0 && c.viaPnb > logAddExp(c.pb, c.ownPnb);

/** A token's posterior, at most 1 even for a frame that is not normalised; Posterior() in the C++ core. */
const posterior = (logProb: number): number => Math.fround(Math.min(1, Math.exp(logProb)));

/**
 * The beam prefixes that are beam[i] plus one token: firstChild[i], then nextSibling[j], in ascending beam index; i is
 * the first index holding the parent's key. LinkChildren() in the C++ core: O(beam) per frame, not a scan's O(beam^2).
 */
function linkChildren(beam: readonly Hyp[]): { firstChild: Int32Array; nextSibling: Int32Array } {
  const index = new Map<number, number>();
  beam.forEach((h, i) => {
    if (!index.has(h.key)) index.set(h.key, i);
  });
  const firstChild = new Int32Array(beam.length).fill(-1);
  const nextSibling = new Int32Array(beam.length).fill(-1);
  for (let j = beam.length - 1; j >= 0; j--) { // prepending in descending order leaves each list ascending
    if (beam[j]!.tokens.length === 0) continue;
    const i = index.get(beam[j]!.parentKey);
    if (i === undefined) continue;
    nextSibling[j] = firstChild[i]!;
    firstChild[i] = j;
  }
  return { firstChild, nextSibling };
}

/** The empty prefix; with whole-word hotwords its context state is the one after a separator (ContextGraph.start). */
const rootHyp = (lmState: number, graph: ContextGraph): Hyp => ({
  key: 0, parentKey: 0, pb: 0, pnb: -Infinity, ctx: graph.start.score, ctxState: graph.start.state, lm: 0, lmState,
  lastFrame: -1, tokens: [], frames: [], probs: [],
});

/** Beam slots kept each frame for the best hypotheses by their score without open hotword bonuses, a quarter of the
 * beam (none below 4): see #select. ReservedSlots() in the C++ core. */
const reservedSlots = (beamSize: number): number => Math.floor(beamSize / 4);

const fail = (m: string): never => {
  throw new GatewayError('GW_ERR_DECODER', m);
};

/** Reference implementation of `CtcSearch`; see the file comment. Errors: GW_ERR_DECODER (state unchanged). */
export class CtcPrefixBeamSearch implements CtcSearch {
  readonly options: Readonly<CtcDecoderOptions>;
  #graph = new ContextGraph();
  #beam: Hyp[];
  #framesDecoded = 0;

  constructor(options: Partial<CtcDecoderOptions> & { vocabSize: number }) {
    this.options = Object.freeze(validateCtcDecoderOptions(options));
    this.#beam = [rootHyp(this.options.lm?.startState ?? 0, this.#graph)];
  }

  get framesDecoded(): number {
    return this.#framesDecoded;
  }

  reset(): void {
    this.#beam = [rootHyp(this.options.lm?.startState ?? 0, this.#graph)];
    this.#framesDecoded = 0;
  }

  decodeChunk(logProbs: Float32Array, frames: number, vocabSize: number = this.options.vocabSize): CtcDecodeResult {
    const v = this.options.vocabSize;
    checkLogProbs(logProbs, frames, vocabSize, v);
    for (let f = 0; f < frames; f++) this.#decodeFrame(logProbs.subarray(f * v, (f + 1) * v));
    return this.current();
  }

  #decodeFrame(lp: Float32Array): void {
    const { vocabSize: v, blankId: blank, tokenThreshold, lm: tokenLm, lmWeight, lmTokenBonus } = this.options;
    const t = this.#framesDecoded;
    const beam = this.#beam;
    const nb = beam.length;
    let maxLp = lp[0]!;
    for (let c = 1; c < v; c++) maxLp = Math.max(maxLp, lp[c]!);
    const cutoff = maxLp - tokenThreshold;
    const lblank = lp[blank]!;

    const cands: Cand[] = beam.map((h, i) => ({
      pb: -Infinity, pnb: -Infinity, ownPnb: -Infinity, via: -1, viaPnb: -Infinity, ctx: h.ctx, score: 0, key: h.key,
      src: i, token: -1, ctxState: h.ctxState, lm: h.lm, lmState: h.lmState,
    }));
    const { firstChild, nextSibling } = linkChildren(beam);

    for (let i = 0; i < nb; i++) {
      const h = beam[i]!;
      const total = logAddExp(h.pb, h.pnb);
      const last = h.tokens.length === 0 ? -1 : h.tokens[h.tokens.length - 1]!;
      const kept = cands[i]!;
      kept.pb = logAddExp(kept.pb, total + lblank);
      for (let c = 0; c < v; c++) {
        if (c === blank) continue;
        const l = lp[c]!;
        if (l < cutoff) continue;
        let from: number;
        if (c === last) {
          kept.ownPnb = h.pnb + l;
          kept.pnb = logAddExp(kept.pnb, kept.ownPnb);
          from = h.pb + l;
        } else {
          from = total + l;
        }
        let target = firstChild[i]!; // the first child of h by beam index that ends in c, if any
        while (target >= 0 && beam[target]!.tokens[beam[target]!.tokens.length - 1] !== c) target = nextSibling[target]!;
        if (target >= 0) {
          const merged = cands[target]!;
          merged.pnb = logAddExp(merged.pnb, from);
          merged.via = i;
          merged.viaPnb = from;
        } else {
          let ctx = h.ctx;
          let state = 0;
          if (!this.#graph.empty) {
            const step = this.#graph.forward(h.ctxState, c);
            ctx += step.score;
            state = step.state;
          }
          let lm = h.lm;
          let lmState = 0;
          if (tokenLm !== undefined) {
            const step = tokenLm.logProb(h.lmState, c);
            lm += lmWeight * step.logProb + lmTokenBonus;
            lmState = step.state;
          }
          cands.push({
            pb: -Infinity, pnb: from, ownPnb: -Infinity, via: -1, viaPnb: -Infinity, ctx, score: 0, key: nextKey(h.key, c),
            src: i, token: c, ctxState: state, lm, lmState,
          });
        }
      }
    }

    for (const c of cands) c.score = rankScore(c);
    cands.sort((x, y) => (x.score !== y.score ? (x.score > y.score ? -1 : 1) : x.key - y.key));
    const kept = this.#select(cands);
    let keep = kept.length;
    while (keep > 1 && kept[keep - 1]!.score === -Infinity) keep--;

    const next: Hyp[] = [];
    for (let k = 0; k < keep; k++) {
      const c = kept[k]!;
      const p = beam[c.src]!;
      if (c.token >= 0) {
        next.push({
          key: c.key, parentKey: p.key, pb: c.pb, pnb: c.pnb, ctx: c.ctx, ctxState: c.ctxState, lm: c.lm,
          lmState: c.lmState, lastFrame: t,
          tokens: [...p.tokens, c.token], frames: [...p.frames, t], probs: [...p.probs, posterior(lp[c.token]!)],
        });
      } else {
        const h: Hyp = {
          ...p, pb: c.pb, pnb: c.pnb, ctx: c.ctx, ctxState: c.ctxState, lm: c.lm, lmState: c.lmState, probs: [...p.probs],
        };
        if (emittedAnew(c)) {
          // The parent's fresh emission outweighs every path the prefix had: time and score the token by it.
          const q = beam[c.via]!;
          h.frames = [...q.frames, t];
          h.probs = [...q.probs, posterior(lp[h.tokens[h.tokens.length - 1]!]!)];
        }
        if (h.tokens.length > 0 && c.pnb > c.pb) {
          h.lastFrame = t;
          const n = h.probs.length - 1;
          h.probs[n] = Math.max(h.probs[n]!, posterior(lp[h.tokens[h.tokens.length - 1]!]!));
        }
        next.push(h);
      }
    }
    this.#beam = next;
    this.#framesDecoded++;
  }

  /** The candidates that survive the frame, best first (`cands` sorted by score, ties by key): the
   * reservedSlots(beamSize) best by their score without open hotword bonuses (ties by key), and the best of the rest
   * by score up to beamSize. Why: hypotheses inside one open match (its bonus so far counted) could fill the beam,
   * and when the match failed its bonus was taken back with nothing else left to choose. Select() in the C++ core. */
  #select(cands: Cand[]): Cand[] {
    const { beamSize } = this.options;
    const reserved = this.#graph.empty ? 0 : Math.min(reservedSlots(beamSize), cands.length);
    if (reserved === 0) return cands.slice(0, beamSize);
    const settled = cands.map((c) => c.score - this.#graph.open(c.ctxState));
    const bySettled = cands.map((_, k) => k).sort((a, b) => {
      const [x, y] = [settled[a]!, settled[b]!];
      return x !== y ? (x > y ? -1 : 1) : cands[a]!.key - cands[b]!.key;
    });
    const held = new Set(bySettled.slice(0, reserved));
    let others = Math.min(beamSize, cands.length) - reserved;
    return cands.filter((_, k) => {
      if (held.has(k)) return true;
      if (others === 0) return false;
      others--;
      return true;
    });
  }

  #result(h: Hyp, score: number, stable: number, isFinal: boolean): CtcDecodeResult {
    return {
      tokens: Int32Array.from(h.tokens),
      frames: Int32Array.from(h.frames),
      probs: Float32Array.from(h.probs),
      score,
      stablePrefixLength: stable,
      trailingBlankFrames: this.#framesDecoded - 1 - h.lastFrame,
      framesDecoded: this.#framesDecoded,
      isFinal,
    };
  }

  current(): CtcDecodeResult {
    const best = this.#beam[0]!;
    let stable = best.tokens.length;
    for (const h of this.#beam) {
      let k = 0;
      while (k < stable && k < h.tokens.length && h.tokens[k] === best.tokens[k]) k++;
      stable = k;
    }
    return this.#result(best, rankScore(best), stable, false);
  }

  #finalScore(h: Hyp): number {
    const { lm, lmWeight } = this.options;
    const s = logAddExp(h.pb, h.pnb) + h.ctx + this.#graph.finalize(h.ctxState) + h.lm;
    return lm === undefined ? s : s + lmWeight * lm.finalLogProb[h.lmState]!;
  }

  finalAlternatives(): CtcAlternative[] {
    return this.#beam.map((h) => ({ h, score: this.#finalScore(h) }))
      .sort((x, y) => (x.score !== y.score ? y.score - x.score : x.h.key - y.h.key))
      .map(({ h, score }) => ({ tokens: Int32Array.from(h.tokens), score }));
  }

  finalize(): CtcDecodeResult {
    let best = 0;
    let bestScore = -Infinity;
    this.#beam.forEach((h, i) => {
      const s = this.#finalScore(h);
      if (i === 0 || s > bestScore || (s === bestScore && h.key < this.#beam[best]!.key)) {
        best = i;
        bestScore = s;
      }
    });
    const h = this.#beam[best]!;
    const r = this.#result(h, bestScore, h.tokens.length, true);
    this.reset();
    return r;
  }

  setHotwords(hotwords: readonly Hotword[]): void {
    const { vocabSize: v, blankId: blank } = this.options;
    const phrases = hotwords.map((hw, i) => {
      if (hw.tokenIds.length < 1) fail(`hotword ${i} has a bad length 0`);
      const ids = Array.from(hw.tokenIds);
      for (const id of ids) {
        if (!Number.isInteger(id) || id < 0 || id >= v || id === blank) {
          fail(`hotword ${i} has token id ${id} outside [0, vocabSize) or equal to the blank id`);
        }
      }
      if (!Number.isFinite(hw.boost)) fail(`hotword ${i} boost is not finite`);
      return ids;
    });
    this.#graph = new ContextGraph(phrases, hotwords.map((hw) => hw.boost), this.options.separatorId);
    for (const h of this.#beam) {
      let { score: ctx, state } = this.#graph.start;
      for (const token of h.tokens) {
        const step = this.#graph.forward(state, token);
        ctx += step.score;
        state = step.state;
      }
      h.ctx = ctx;
      h.ctxState = state;
    }
    this.#beam.sort((x, y) => {
      const sx = rankScore(x);
      const sy = rankScore(y);
      return sx !== sy ? (sx > sy ? -1 : 1) : x.key - y.key;
    });
  }
}
