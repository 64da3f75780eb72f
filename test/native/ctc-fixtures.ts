/** Shared fixtures for the CTC decoder tests: the 29-token vocabulary, seeded posteriors, hand-built matrices. */
export const TOKENS: readonly string[] = ['<blk>', '▁', "'", ...'abcdefghijklmnopqrstuvwxyz'];
export const V = TOKENS.length;

export function tokenId(ch: string): number {
  if (ch === '-') return 0;
  if (ch === ' ') return 1;
  const id = TOKENS.indexOf(ch);
  if (id < 0) throw new RangeError(`no token ${ch}`);
  return id;
}

/** mulberry32: small seeded PRNG so property tests are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function logSoftmaxInto(logits: number[], out: Float32Array, offset: number): void {
  const m = Math.max(...logits);
  let s = 0;
  for (const x of logits) s += Math.exp(x - m);
  const lse = m + Math.log(s);
  logits.forEach((x, i) => (out[offset + i] = x - lse));
}

/** Uniformly random logits (scale `spread`): flat, hard posteriors where many beams compete. */
export function randomLogProbs(frames: number, rand: () => number, spread = 4, vocab = V): Float32Array {
  const out = new Float32Array(frames * vocab);
  for (let f = 0; f < frames; f++) {
    logSoftmaxInto(Array.from({ length: vocab }, () => (rand() * 2 - 1) * spread), out, f * vocab);
  }
  return out;
}

/**
 * CTC-like posteriors for a random transcript: each frame has one dominant token (a letter of the transcript or
 * blank) with probability in [minTop, 1); the rest is spread randomly. Returns the matrix and the argmax path.
 */
export function peakyLogProbs(
  frames: number,
  rand: () => number,
  minTop = 0.7,
  vocab = V,
): { logProbs: Float32Array; path: number[] } {
  const out = new Float32Array(frames * vocab);
  const path: number[] = [];
  for (let f = 0; f < frames; f++) {
    const top = rand() < 0.45 ? 0 : 1 + Math.floor(rand() * (vocab - 1));
    const pTop = minTop + (1 - minTop) * 0.999 * rand();
    const w = Array.from({ length: vocab }, (_, i) => (i === top ? 0 : rand() + 1e-3));
    const sum = w.reduce((a, b) => a + b, 0);
    for (let i = 0; i < vocab; i++) out[f * vocab + i] = Math.log(i === top ? pTop : ((1 - pTop) * w[i]!) / sum);
    path.push(top);
  }
  return { logProbs: out, path };
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
