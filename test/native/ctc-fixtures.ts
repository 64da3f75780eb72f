/**
 * Shared fixtures for the CTC decoder tests: the 29-token vocabulary, seeded posteriors, hand-built matrices, the
 * shipped token LM.
 */
import { join } from 'node:path';

import { TOKEN_LM_FILE, TokenLm } from '../../src/inference/token-lm.js';
import { MODEL_DIR } from '../inference/helpers.js';

export const TOKENS: readonly string[] = ['<blk>', '▁', "'", ...'abcdefghijklmnopqrstuvwxyz'];
export const V = TOKENS.length;

export function tokenId(ch: string): number {
  if (ch === '-') return 0;
  if (ch === ' ') return 1;
  const id = TOKENS.indexOf(ch);
  if (id < 0) throw new RangeError(`no token ${ch}`);
  return id;
}

export { peakyLogProbs, randomLogProbs, rng } from '../../bench/bench-random.js';

let tokenLm: TokenLm | undefined;

/** The shipped model's token LM (its vocabulary is TOKENS), loaded once. */
export function shippedTokenLm(): TokenLm {
  tokenLm ??= TokenLm.load(join(MODEL_DIR, TOKEN_LM_FILE), 0);
  return tokenLm;
}

/** Greedy CTC: argmax per frame, collapse repeats, drop blanks. */
export function greedy(logProbs: Float32Array, frames: number, vocab = V): number[] {
  const out: number[] = [];
  let prev = -1;
  for (let f = 0; f < frames; f++) {
    let best = 0;
    for (let c = 1; c < vocab; c++) if (logProbs[f * vocab + c]! > logProbs[f * vocab + best]!) best = c;
    if (best !== 0 && best !== prev) out.push(best);
    prev = best;
  }
  return out;
}

/**
 * Hand-built matrix: one string per frame, each `token:prob` pairs separated by spaces (`-` is blank, `_` space);
 * the remaining mass is spread evenly over the unnamed tokens. E.g. `['h:.9', '-:.8 e:.1']`.
 */
export function handBuilt(rows: readonly string[]): Float32Array {
  const out = new Float32Array(rows.length * V);
  rows.forEach((row, f) => {
    const p = new Array<number>(V).fill(-1);
    let named = 0;
    for (const part of row.trim().split(/\s+/)) {
      const [ch, prob] = part.split(':') as [string, string];
      const id = tokenId(ch === '_' ? ' ' : ch);
      p[id] = Number(prob);
      named += Number(prob);
    }
    const free = p.filter((x) => x < 0).length;
    for (let i = 0; i < V; i++) out[f * V + i] = Math.log(p[i]! >= 0 ? p[i]! : (1 - named) / free);
  });
  return out;
}

export function idsOf(text: string): number[] {
  return [...text].map(tokenId);
}
