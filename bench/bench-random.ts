/**
 * Seeded signal and posterior generators (mulberry32, Box-Muller, CTC-like posteriors), the one copy shared by the
 * benchmarks and the tests (tests import it from here; bench/ never imports from test/).
 */

/** Vocabulary size of the shipped English CTC model: `<blk>`, `▁`, `'`, a..z. */
export const CTC_VOCAB_SIZE = 29;

/** Concatenation of Float32 signals. */
export function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** mulberry32: small deterministic PRNG in [0, 1). */
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

/** `n` standard-normal samples times `scale` (Box-Muller on a seeded PRNG). */
export function gaussian(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12), v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    out[i] = scale * m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = scale * m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/**
 * Speech-like test signal at `rateHz`: 1 s bursts of a gliding harmonic tone plus noise, alternating with quiet
 * noise, so energy-gated stages see both speech and pauses. Values in [-1, 1].
 */
export function speechLike(seconds: number, rateHz: number, seed: number): Float32Array {
  const n = Math.round(seconds * rateHz);
  const noise = gaussian(n, seed, 0.01);
  const out = new Float32Array(n);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / rateHz;
    const voiced = Math.floor(t * 1.5) % 2 === 0;
    phase += (2 * Math.PI * (140 + 40 * Math.sin(2 * Math.PI * 0.7 * t))) / rateHz;
    const tone = voiced ? 0.25 * Math.sin(phase) + 0.1 * Math.sin(3 * phase) + 0.05 * Math.sin(7 * phase) : 0;
    out[i] = tone + noise[i]!;
  }
  return out;
}

function logSoftmaxInto(logits: number[], out: Float32Array, offset: number): void {
  const m = Math.max(...logits);
  let s = 0;
  for (const x of logits) s += Math.exp(x - m);
  const lse = m + Math.log(s);
  logits.forEach((x, i) => (out[offset + i] = x - lse));
}

/** Flat posteriors: uniformly random logits of scale `spread`, so many beams compete (the decoder's worst case). */
export function randomLogProbs(frames: number, rand: () => number, spread = 4, vocab = CTC_VOCAB_SIZE): Float32Array {
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
  vocab = CTC_VOCAB_SIZE,
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

/** Synthetic encoder input: `frames` x 80 fbank-like values (Gaussian, spread 2, around the log-mel level -8). */
export function fbankLikeFeatures(frames: number, seed: number): Float32Array {
  const feats = gaussian(frames * 80, seed, 2);
  for (let i = 0; i < feats.length; i++) feats[i] = feats[i]! - 8;
  return feats;
}
