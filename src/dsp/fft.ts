/**
 * Real-input FFT of a power-of-two size (radix-2), used by the fbank extractor (512 points) and the spectral
 * subtractor (512 points, forward and inverse).
 *
 * Why hand-written: the hot path runs ~100 frames/s for hundreds of concurrent sessions, so it must not allocate.
 * A real transform of N points is computed as one complex transform of N/2 points (even samples as real part, odd
 * samples as imaginary part) followed by the usual split step; the complex core is an in-place iterative
 * decimation-in-time FFT over preallocated Float64 work arrays with bit-reversal and twiddle tables computed once
 * per size (and shared between instances of the same size). Float64 throughout: the extra precision is free in JS.
 *
 * Layout: spectra are `re`/`im` Float64Arrays of N/2 + 1 bins (DC .. Nyquist); X[k] = sum x[n] e^{-2 pi i k n / N}.
 * `inverse` is the exact inverse (scaled by 1/N), so `inverse(forward(x)) == x` to rounding.
 * An instance holds work buffers: use one instance per thread of control (it is not re-entrant).
 */

import { GatewayError } from '../protocol/errors.js';

interface FftTables {
  /** cos / sin of 2 pi j / (N/2), j < N/4: the complex core's twiddles. */
  cos: Float64Array;
  sin: Float64Array;
  /** cos / sin of 2 pi k / N, k <= N/2: the real split step's twiddles. */
  splitCos: Float64Array;
  splitSin: Float64Array;
  bitrev: Uint32Array;
}

const TABLES = new Map<number, FftTables>();

function tablesFor(size: number): FftTables {
  const cached = TABLES.get(size);
  if (cached !== undefined) return cached;
  const half = size / 2;
  const cos = new Float64Array(Math.max(1, half / 2));
  const sin = new Float64Array(Math.max(1, half / 2));
  for (let j = 0; j < half / 2; j++) {
    cos[j] = Math.cos((2 * Math.PI * j) / half);
    sin[j] = Math.sin((2 * Math.PI * j) / half);
  }
  const splitCos = new Float64Array(half + 1);
  const splitSin = new Float64Array(half + 1);
  for (let k = 0; k <= half; k++) {
    splitCos[k] = Math.cos((2 * Math.PI * k) / size);
    splitSin[k] = Math.sin((2 * Math.PI * k) / size);
  }
  const bits = Math.log2(half);
  const bitrev = new Uint32Array(half);
  for (let i = 0; i < half; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
    bitrev[i] = r;
  }
  const t: FftTables = { cos, sin, splitCos, splitSin, bitrev };
  TABLES.set(size, t);
  return t;
}

export class RealFft {
  /** Transform size N (a power of two >= 8). */
  readonly size: number;
  /** Number of spectrum bins, N/2 + 1. */
  readonly bins: number;
  private readonly half: number;
  private readonly t: FftTables;
  private readonly zr: Float64Array;
  private readonly zi: Float64Array;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 8 || size > 2 ** 20 || (size & (size - 1)) !== 0) {
      throw new GatewayError('GW_ERR_BAD_CONFIG', `FFT size must be a power of two in [8, 2^20], got ${size}`);
    }
    this.size = size;
    this.half = size / 2;
    this.bins = this.half + 1;
    this.t = tablesFor(size);
    this.zr = new Float64Array(this.half);
    this.zi = new Float64Array(this.half);
  }

  /**
   * Forward transform of `input[0 .. N)` (read only) into `re[0 .. N/2]` and `im[0 .. N/2]` (written).
   */
  forward(input: ArrayLike<number>, re: Float64Array, im: Float64Array): void {
    const { half, zr, zi } = this;
    const { bitrev, splitCos, splitSin } = this.t;
    for (let n = 0; n < half; n++) {
      const r = bitrev[n]!;
      zr[r] = input[2 * n]!;
      zi[r] = input[2 * n + 1]!;
    }
    this.core();
    re[0] = zr[0]! + zi[0]!;
    im[0] = 0;
    re[half] = zr[0]! - zi[0]!;
    im[half] = 0;
    for (let k = 1; k < half; k++) {
      const a = zr[k]!, b = zi[k]!;
      const c = zr[half - k]!, d = zi[half - k]!;
      const er = 0.5 * (a + c), ei = 0.5 * (b - d);
      const or = 0.5 * (b + d), oi = -0.5 * (a - c);
      const wr = splitCos[k]!, wi = -splitSin[k]!;
      re[k] = er + wr * or - wi * oi;
      im[k] = ei + wr * oi + wi * or;
    }
  }

  /** Power spectrum |X[k]|^2 of `input[0 .. N)` into `power[0 .. N/2]`; `re`/`im` are scratch of N/2 + 1. */
  power(input: ArrayLike<number>, power: Float64Array | Float32Array, re: Float64Array, im: Float64Array): void {
    this.forward(input, re, im);
    for (let k = 0; k <= this.half; k++) power[k] = re[k]! * re[k]! + im[k]! * im[k]!;
  }

  /**
   * Inverse transform: from the half spectrum `re`/`im[0 .. N/2]` (the imaginary parts of DC and Nyquist are
   * ignored, as for a real signal) into `out[0 .. N)`, scaled by 1/N.
   */
  inverse(re: Float64Array, im: Float64Array, out: Float64Array | Float32Array): void {
    const { half, zr, zi } = this;
    const { bitrev, splitCos, splitSin } = this.t;
    // Undo the split: Z[k] = E[k] + i O[k] with E = (X[k] + conj X[H-k]) / 2, O = (X[k] - conj X[H-k]) / (2 W^k).
    // Stored conjugated and bit-reversed, so the forward core computes the inverse (conj trick).
    for (let k = 0; k < half; k++) {
      const xr = re[k]!, xi = k === 0 ? 0 : im[k]!;
      const yr = re[half - k]!, yi = k === 0 ? 0 : -im[half - k]!; // conj X[H-k]
      const er = 0.5 * (xr + yr), ei = 0.5 * (xi + yi);
      const dr = 0.5 * (xr - yr), di = 0.5 * (xi - yi);
      const wr = splitCos[k]!, wi = splitSin[k]!; // 1 / W^k = e^{+2 pi i k / N}
      const or = dr * wr - di * wi, oi = dr * wi + di * wr;
      const r = bitrev[k]!;
      zr[r] = er - oi;
      zi[r] = -(ei + or);
    }
    this.core();
    const scale = 1 / half;
    for (let n = 0; n < half; n++) {
      out[2 * n] = zr[n]! * scale;
      out[2 * n + 1] = -zi[n]! * scale;
    }
  }

  /**
   * In-place complex DIT FFT of zr/zi (already in bit-reversed order), size N/2. The first two stages (twiddles 1
   * and -i) are fused without multiplies; later stages loop twiddle-outer so each twiddle is loaded once.
   */
  private core(): void {
    const { half, zr, zi } = this;
    const { cos, sin } = this.t;
    for (let s = 0; s < half; s += 4) {
      const ar = zr[s]!, ai = zi[s]!, br = zr[s + 1]!, bi = zi[s + 1]!;
      const cr = zr[s + 2]!, ci = zi[s + 2]!, dr = zr[s + 3]!, di = zi[s + 3]!;
      const t0r = ar + br, t0i = ai + bi, t1r = ar - br, t1i = ai - bi;
      const t2r = cr + dr, t2i = ci + di, t3r = cr - dr, t3i = ci - di;
      zr[s] = t0r + t2r;
      zi[s] = t0i + t2i;
      zr[s + 2] = t0r - t2r;
      zi[s + 2] = t0i - t2i;
      zr[s + 1] = t1r + t3i; // t3 * (-i) = t3i - i t3r
      zi[s + 1] = t1i - t3r;
      zr[s + 3] = t1r - t3i;
      zi[s + 3] = t1i + t3r;
    }
    for (let len = 8; len <= half; len <<= 1) {
      const halfLen = len >> 1;
      const step = half / len;
      for (let j = 0; j < halfLen; j++) {
        const wr = cos[j * step]!, wi = -sin[j * step]!;
        for (let p = j; p < half; p += len) {
          const q = p + halfLen;
          const xr = zr[q]!, xi = zi[q]!;
          const qr = xr * wr - xi * wi, qi = xr * wi + xi * wr;
          const pr = zr[p]!, pi = zi[p]!;
          zr[q] = pr - qr;
          zi[q] = pi - qi;
          zr[p] = pr + qr;
          zi[p] = pi + qi;
        }
      }
    }
  }
}
