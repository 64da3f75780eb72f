/** Shared helpers for the dsp tests: deterministic PRNG, chunked feeding, fixture reading, signal metrics. */
import { readFileSync } from 'node:fs';
import { concat, rng } from '../../bench/bench-random.js';

export const FIXTURES = new URL('../fixtures/', import.meta.url);

/** Reads a little-endian float32 file into a Float32Array (copy, aligned). */
export function readF32(relPath: string): Float32Array {
  const b = readFileSync(new URL(relPath, FIXTURES));
  const out = new Float32Array(b.length / 4);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(4 * i, true);
  return out;
}

export { concat, gaussian, rng } from '../../bench/bench-random.js';

export function sine(n: number, freqHz: number, rateHz: number, amp = 0.5, phase = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = amp * Math.sin((2 * Math.PI * freqHz * i) / rateHz + phase);
  return out;
}


/** Splits `x` at the given sizes (cycled) and returns the views. */
export function chunks(x: Float32Array, sizes: number[]): Float32Array[] {
  const out: Float32Array[] = [];
  let o = 0, i = 0;
  while (o < x.length) {
    const n = Math.max(0, sizes[i++ % sizes.length]!);
    out.push(x.subarray(o, Math.min(x.length, o + n)));
    o += n;
  }
  return out;
}

/** Random chunk sizes in [0, max] (zero-length pushes included). */
export function randomSizes(seed: number, count: number, max: number): number[] {
  const r = rng(seed);
  return Array.from({ length: count }, () => Math.floor(r() * (max + 1)));
}

type StreamStage = { push(x: Float32Array): Float32Array; flush(): Float32Array };

/** Any streaming stage: feeds the chunks; each push's output, then the flush's. */
export function pushAll(stage: StreamStage, parts: Float32Array[]): Float32Array[] {
  return [...parts.map((p) => stage.push(p)), stage.flush()];
}

/** Any streaming stage: feeds the chunks, concatenates push outputs and the flush. */
export function runStream(stage: StreamStage, parts: Float32Array[]): Float32Array {
  return concat(pushAll(stage, parts));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function energy(x: ArrayLike<number>, from = 0, to = x.length): number {
  let e = 0;
  for (let i = from; i < to; i++) e += x[i]! * x[i]!;
  return e;
}

export function db(ratio: number): number {
  return 10 * Math.log10(ratio);
}
