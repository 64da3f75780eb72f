/**
 * Brute-force hotword bonuses, counted on the text instead of through the automaton (native/src/context-graph.h), and
 * the exact CTC log-probability of a text: what the hotword tests hold both decoders to.
 *
 * Whole words (`sep` >= 0, the word separator id): a phrase p (its leading and trailing separators are boundaries,
 * not tokens of it; a phrase of separators alone matches nothing) matches where [sep, ...p, sep] occurs in
 * [sep, ...text] (and, at the final, [sep, ...text, sep]): the utterance starts and ends at a word boundary. Each
 * match holds p's boost x p's own token count (the boundaries add nothing). `sep` = -1: anywhere in the text.
 */
import type { Hotword } from '../../src/inference/ctc-decoder.js';

interface Pattern {
  tokens: number[];
  /** Each token's bonus while the match is open: boost, 0 for the boundaries. */
  weights: number[];
  /** A completed match: boost x the phrase's own tokens. */
  bonus: number;
}

function patterns(hot: readonly Hotword[], sep: number): Pattern[] {
  return hot.flatMap((h) => {
    let ids = Array.from(h.tokenIds);
    if (sep < 0) return [{ tokens: ids, weights: ids.map(() => h.boost), bonus: h.boost * ids.length }];
    while (ids[0] === sep) ids = ids.slice(1);
    while (ids.at(-1) === sep) ids = ids.slice(0, -1);
    if (ids.length === 0) return [];
    return [{ tokens: [sep, ...ids, sep], weights: [0, ...ids.map(() => h.boost), 0], bonus: h.boost * ids.length }];
  });
}

const startsWith = (p: readonly number[], s: readonly number[], n: number): boolean =>
  p.length >= n && s.length >= n && s.slice(0, n).every((t, k) => p[k] === t);

/** The text the automaton reads: the virtual separator first and, at the final, last. */
function framed(text: readonly number[], sep: number, final: boolean): number[] {
  return sep < 0 ? [...text] : [sep, ...text, ...(final ? [sep] : [])];
}

/** Sum over every place a phrase completes in the (framed) text of its bonus. */
export function completedBonus(text: readonly number[], hot: readonly Hotword[], sep: number, final: boolean): number {
  const t = framed(text, sep, final);
  let sum = 0;
  for (const p of patterns(hot, sep)) {
    for (let end = p.tokens.length; end <= t.length; end++) {
      if (p.tokens.every((x, k) => t[end - p.tokens.length + k] === x)) sum += p.bonus;
    }
  }
  return sum;
}

/** The open match (partials, ranking): the longest suffix of the framed text that begins some pattern, each of its
 * tokens at the largest weight of the patterns beginning with the suffix up to that token. */
export function openBonus(text: readonly number[], hot: readonly Hotword[], sep: number): number {
  const t = framed(text, sep, false);
  const pats = patterns(hot, sep);
  for (let len = t.length; len > 0; len--) {
    const s = t.slice(t.length - len);
    if (!pats.some((p) => startsWith(p.tokens, s, len))) continue;
    let sum = 0;
    for (let n = 1; n <= len; n++) {
      sum += Math.max(...pats.filter((p) => startsWith(p.tokens, s, n)).map((p) => p.weights[n - 1]!));
    }
    return sum;
  }
  return 0;
}

/** A partial's bonus: completed matches plus the open one. A final's: completed matches, the closing separator read. */
export function partialBonus(text: readonly number[], hot: readonly Hotword[], sep: number): number {
  return completedBonus(text, hot, sep, false) + openBonus(text, hot, sep);
}

const logAdd = (a: number, b: number): number =>
  a === -Infinity ? b : b === -Infinity ? a : Math.max(a, b) + Math.log1p(Math.exp(-Math.abs(a - b)));

/** log P(text | posteriors) summed over every CTC alignment (blank 0), by the forward algorithm. */
export function ctcLogProb(logProbs: Float32Array, frames: number, vocab: number, text: readonly number[]): number {
  const ext = [0];
  for (const t of text) ext.push(t, 0);
  let alpha = ext.map(() => -Infinity);
  for (let f = 0; f < frames; f++) {
    const lp = (k: number): number => logProbs[f * vocab + ext[k]!]!;
    const next = ext.map(() => -Infinity);
    for (let k = 0; k < ext.length; k++) {
      let a: number;
      if (f === 0) a = k < 2 ? 0 : -Infinity;
      else {
        a = alpha[k]!;
        if (k >= 1) a = logAdd(a, alpha[k - 1]!);
        if (k >= 2 && ext[k] !== 0 && ext[k] !== ext[k - 2]) a = logAdd(a, alpha[k - 2]!);
      }
      next[k] = a === -Infinity ? a : a + lp(k);
    }
    alpha = next;
  }
  return ext.length === 1 ? alpha[0]! : logAdd(alpha[ext.length - 1]!, alpha[ext.length - 2]!);
}
