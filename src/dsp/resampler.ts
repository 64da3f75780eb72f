/**
 * Streaming band-limited sample-rate converter (rational polyphase, Kaiser-windowed sinc), any integer input rate in
 * [8000, 48000] Hz to the model's 16 kHz (or any other rate in that range).
 *
 * Why not linear interpolation: it aliases everything above the output Nyquist back into the speech band (8 kHz
 * telephony upsampled, 44.1/48 kHz browser audio downsampled), which the acoustic model hears as noise.
 *
 * Design. The rate ratio is reduced to L/M = out/in by their gcd (11025 -> 16000 is 640/441). Output sample k sits at
 * input time t_k = k * M / L (no delay: the filter is centred, zero-phase). It is the dot product of the 2J input
 * samples around t_k with one of L polyphase branches of a windowed sinc (`J` taps each side):
 *   h(t) = (2 fc / Fin) sinc(2 fc t / Fin) * kaiser(t / J),  t in input samples,
 * each branch normalised to unit DC gain. The transition band is [0.9, 1.0] x min(Fin, Fout) / 2, so the stopband
 * begins at the lower Nyquist (no aliasing, no imaging); J follows Kaiser's formula for `stopbandDb` (default 66 dB,
 * measured 65.8-66.2 dB at the stopband edge; tests require >= 60 dB at every supported rate). For integer
 * decimation (L = 1: 32 and 48 kHz) the single branch is symmetric and folded, halving the multiplies; so are both
 * branches of doubling (L = 2, M = 1: 8 kHz telephony, 16% of the main thread at 70 calls; -23% per output).
 *
 * Banks are built once per rate pair and cached module-wide, up to {@link MAX_CACHED_TAPS}. Every rate browsers and
 * telephony use has L <= 640 (11025 -> 16000: 640 x 84 Float32 taps, 215 kB). A rate nearly coprime with the output
 * has a huge L: 47999 -> 16000 has L = 16000, exact branches 16000 x 248 taps (15.9 MB per session, 0.3 s of design
 * on the main thread). So above {@link MAX_EXACT_PHASES} the bank holds {@link INTERPOLATED_PHASES} + 1 rows designed
 * at phase offsets r / P, and each output blends the two rows around its exact phase phi / L linearly. Output times
 * stay exact (t_k = k M / L: rounding phases to a coarser grid instead would change the rate, by up to 7.5e-4); the
 * taps differ from the exact design only by the sinc's linear-interpolation error (stopband measured in
 * test/dsp/resampler.test.ts); each output costs two branch sums.
 *
 * Streaming rule (exact): samples before the stream start are zeros. `push` emits output k as soon as the input
 * sample floor(t_k) + J has arrived (lookahead J input samples: 42 at 8 kHz = 5.3 ms, 124 at 48 kHz = 2.6 ms).
 * `flush` treats the samples after the end as zeros and emits the rest, so after N input samples in total the output
 * holds exactly ceil(N * L / M) samples (every k with t_k < N), independent of chunking. `flush` resets the stream.
 * Equal rates are the identity (a copy).
 *
 * `Resampler` is the reference: the gateway's resample stage runs the bank through its compiled twin,
 * native/src/polyphase-resampler.cc, which repeats the streaming and the sums in the same order (equal output, a
 * third to a half of the CPU: `npm run bench:micro`). Change both together.
 */
import { GatewayError } from '../protocol/errors.js';

export interface ResamplerOptions {
  /** Input rate, an integer in [8000, 48000] Hz. */
  inputRateHz: number;
  /** Output rate, an integer in [8000, 48000] Hz (the model wants 16000). */
  outputRateHz: number;
  /** Design stopband attenuation in dB (Kaiser), in [40, 120]. */
  stopbandDb: number;
}

export const DEFAULT_RESAMPLER_OPTIONS: Readonly<ResamplerOptions> = {
  inputRateHz: 16000,
  outputRateHz: 16000,
  stopbandDb: 66,
};

/** Passband edge as a fraction of min(in, out) / 2; the stopband starts at 1.0. */
const PASSBAND_FRACTION = 0.9;

function checkRate(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 8000 || v > 48000) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `${name} must be an integer in [8000, 48000] Hz, got ${v}`);
  }
}

export function validateResamplerOptions(o: ResamplerOptions): void {
  checkRate('inputRateHz', o.inputRateHz);
  checkRate('outputRateHz', o.outputRateHz);
  if (!(o.stopbandDb >= 40 && o.stopbandDb <= 120)) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `stopbandDb must be in [40, 120], got ${o.stopbandDb}`);
  }
}

/** A polyphase filter bank for one (in, out, stopband) triple. */
export interface PolyphaseBank {
  /** Upsampling factor L = out / gcd. */
  readonly up: number;
  /** Downsampling factor M = in / gcd. */
  readonly down: number;
  /** Half length J: branch phi holds taps for input offsets -(J-1) .. +J around floor(t_k). */
  readonly halfTaps: number;
  /**
   * 0: `taps` holds the L exact branches. Above 0 (only when L > {@link MAX_EXACT_PHASES}): `taps` holds this many + 1
   * rows, row r designed for the phase offset r / tablePhases, and branch phi is the linear blend of the two rows
   * around phi / L (see the file comment).
   */
  readonly tablePhases: number;
  /** Rows of 2J taps, row-major: taps[row * 2J + (i + J - 1)] weighs x[floor(t_k) + i]. */
  readonly taps: Float32Array;
  /** Cutoff (-6 dB) frequency in Hz. */
  readonly cutoffHz: number;
}

/**
 * Most Float32 taps the bank cache holds (16 MB), the least recently used bank out first. A client may name any integer
 * rate, and an unbounded cache kept one bank per rate ever named (then up to 15.9 MB each, before interpolated banks):
 * under session churn with 5% of the sessions on random rates a gateway grew ~100 MB per 400 sessions
 * (`npm run bench:churn`). Banks are now at most 0.5 MB, so the bound holds 32 or more.
 */
const MAX_CACHED_TAPS = 4 * 1024 * 1024;
/** Largest L designed as exact branches (11025 -> 16000, the largest of the common rates, is 640). */
export const MAX_EXACT_PHASES = 640;
/** Rows per input sample of an interpolated bank (P): the blend's error is measured, not assumed (tests). */
export const INTERPOLATED_PHASES = 512;
/** Banks by rate pair, least recently used first (a Map iterates in insertion order). */
const BANKS = new Map<string, PolyphaseBank>();
let cachedTaps = 0;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Modified Bessel function of the first kind, order 0 (series; converges fast for the betas used here). */
function besselI0(x: number): number {
  let sum = 1, term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 64; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

function kaiserBeta(a: number): number {
  if (a > 50) return 0.1102 * (a - 8.7);
  if (a >= 21) return 0.5842 * Math.pow(a - 21, 0.4) + 0.07886 * (a - 21);
  return 0;
}

/** Builds (or returns the cached) bank for a rate pair. */
export function polyphaseBank(
  inputRateHz: number,
  outputRateHz: number,
  stopbandDb = DEFAULT_RESAMPLER_OPTIONS.stopbandDb,
): PolyphaseBank {
  const key = `${inputRateHz}:${outputRateHz}:${stopbandDb}`;
  const cached = BANKS.get(key);
  if (cached !== undefined) {
    BANKS.delete(key);
    BANKS.set(key, cached);
    return cached;
  }
  const g = gcd(inputRateHz, outputRateHz);
  const up = outputRateHz / g, down = inputRateHz / g;
  const edgeHz = Math.min(inputRateHz, outputRateHz) / 2;
  const passHz = PASSBAND_FRACTION * edgeHz;
  const cutoffHz = (passHz + edgeHz) / 2;
  // Kaiser: taps = (A - 7.95) / (2.285 * dw), dw the transition width in rad/sample at the input rate.
  const dw = (2 * Math.PI * (edgeHz - passHz)) / inputRateHz;
  // Even J, so each branch (2J taps) is a multiple of 4 for the unrolled dot product.
  const halfTaps = 2 * Math.ceil((Math.ceil((stopbandDb - 7.95) / (2.285 * dw) / 2) + 1) / 2);
  const beta = kaiserBeta(stopbandDb);
  const i0Beta = besselI0(beta);
  const width = 2 * halfTaps;
  const tablePhases = up > MAX_EXACT_PHASES ? INTERPOLATED_PHASES : 0;
  const rows = tablePhases === 0 ? up : tablePhases + 1;
  const taps = new Float32Array(rows * width);
  const fcNorm = (2 * cutoffHz) / inputRateHz;
  const row = new Float64Array(width);
  for (let r = 0; r < rows; r++) {
    const phase = tablePhases === 0 ? r / up : r / tablePhases; // fraction of an input sample past floor(t_k)
    let sum = 0;
    for (let j = 0; j < width; j++) {
      const i = j - (halfTaps - 1); // input offset from floor(t_k)
      const t = i - phase; // input-sample distance from t_k
      const q = t / halfTaps;
      const w = Math.abs(q) >= 1 ? 0 : besselI0(beta * Math.sqrt(1 - q * q)) / i0Beta;
      const x = fcNorm * t;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      row[j] = fcNorm * sinc * w;
      sum += row[j]!;
    }
    // Unit DC gain per row, so a blend of two rows has it too.
    for (let j = 0; j < width; j++) taps[r * width + j] = row[j]! / sum;
  }
  const bank: PolyphaseBank = { up, down, halfTaps, tablePhases, taps, cutoffHz };
  BANKS.set(key, bank);
  cachedTaps += taps.length;
  for (const [k, b] of BANKS) {
    if (cachedTaps <= MAX_CACHED_TAPS || b === bank) break;
    BANKS.delete(k);
    cachedTaps -= b.taps.length;
  }
  return bank;
}

export class Resampler {
  readonly inputRateHz: number;
  readonly outputRateHz: number;
  private readonly bank: PolyphaseBank | null;
  /** Input history: buf[0] is absolute input sample `bufStart`; `bufLen` valid samples. */
  private buf: Float32Array;
  private bufStart = 0;
  private bufLen = 0;
  /** Total input samples pushed. */
  private inputCount = 0;
  /** Next output k: t_k = n0 + phi / L. */
  private n0 = 0;
  private phi = 0;

  constructor(options: Partial<ResamplerOptions> & { inputRateHz: number }) {
    const o: ResamplerOptions = { ...DEFAULT_RESAMPLER_OPTIONS, ...options };
    validateResamplerOptions(o);
    this.inputRateHz = o.inputRateHz;
    this.outputRateHz = o.outputRateHz;
    this.bank = o.inputRateHz === o.outputRateHz ? null : polyphaseBank(o.inputRateHz, o.outputRateHz, o.stopbandDb);
    this.buf = new Float32Array(4096);
    this.reset();
  }

  /** Input samples of lookahead: output at time t needs input up to floor(t) + this. */
  get lookaheadSamples(): number {
    return this.bank === null ? 0 : this.bank.halfTaps;
  }

  /** Resamples the next input chunk; returns a new Float32Array with every output computable so far. */
  push(input: Float32Array): Float32Array {
    if (this.bank === null) return input.slice();
    this.append(input, input.length);
    this.inputCount += input.length;
    return this.emit(this.inputCount - 1 - this.bank.halfTaps);
  }

  /** Emits the tail (input past the end is zero) and resets for a new stream. */
  flush(): Float32Array {
    if (this.bank === null) return new Float32Array(0);
    const { halfTaps } = this.bank;
    this.append(null, halfTaps); // zeros after the end
    const out = this.emit(this.inputCount - 1, true);
    this.reset();
    return out;
  }

  /** Forgets the stream (history is zeros again). */
  reset(): void {
    this.inputCount = 0;
    this.n0 = 0;
    this.phi = 0;
    const pre = this.bank === null ? 0 : this.bank.halfTaps;
    this.bufStart = 0 - pre; // never -0: a double in this field would slow every index computation
    this.bufLen = pre;
    this.buf.fill(0, 0, pre);
  }

  private append(input: Float32Array | null, n: number): void {
    // Drop history no longer needed: the next output reads from n0 - (J - 1).
    const keepFrom = this.n0 - (this.bank!.halfTaps - 1);
    const drop = keepFrom - this.bufStart;
    if (drop > 0) {
      this.buf.copyWithin(0, drop, this.bufLen);
      this.bufLen -= drop;
      this.bufStart = keepFrom;
    }
    if (this.bufLen + n > this.buf.length) {
      const bigger = new Float32Array(Math.max(2 * this.buf.length, this.bufLen + n));
      bigger.set(this.buf.subarray(0, this.bufLen));
      this.buf = bigger;
    }
    if (input === null) this.buf.fill(0, this.bufLen, this.bufLen + n);
    else this.buf.set(input, this.bufLen);
    this.bufLen += n;
  }

  /** Emits every output k with floor(t_k) <= lastN0 (and, when final, t_k < inputCount). */
  private emit(lastN0: number, final = false): Float32Array {
    const { up, down, halfTaps, tablePhases } = this.bank!;
    const limit = final ? this.inputCount - 1 : lastN0;
    if (this.n0 > limit) return new Float32Array(0);
    // Count outputs: phases advance by M per output in the L-upsampled domain.
    const pos0 = this.n0 * up + this.phi;
    const count = Math.floor(((limit + 1) * up - 1 - pos0) / down) + 1;
    const out = new Float32Array(count);
    let n0 = this.n0, phi = this.phi;
    const stepN = Math.floor(down / up), stepPhi = down % up;
    if (up === 1) {
      this.emitFolded(out, (n0 - this.bufStart) | 0, down);
      this.n0 = n0 + count * down;
      return out;
    }
    if (up === 2 && down === 1) {
      this.emitDoubled(out, (n0 - this.bufStart) | 0, phi);
      this.n0 = n0 + ((phi + count) >> 1);
      this.phi = (phi + count) & 1;
      return out;
    }
    for (let k = 0; k < count; k++) {
      // Buffer-relative, forced to int32: absolute positions pass the Smi range after ~6 h at 48 kHz, and a double
      // index costs a conversion per load.
      const base = (n0 - (halfTaps - 1) - this.bufStart) | 0;
      if (tablePhases === 0) {
        out[k] = this.branchSum(base, phi);
      } else {
        // Rows r and r + 1 around phase phi / L; phi * P < 2^26, so the quotient and the weight are exact rationals
        // rounded once, as in the native twin.
        const scaled = phi * tablePhases;
        const r = Math.floor(scaled / up);
        const weight = (scaled - r * up) / up;
        const s0 = this.branchSum(base, r);
        out[k] = s0 + weight * (this.branchSum(base, r + 1) - s0);
      }
      n0 += stepN;
      phi += stepPhi;
      if (phi >= up) {
        phi -= up;
        n0++;
      }
    }
    this.n0 = n0;
    this.phi = phi;
    return out;
  }

  /** Row `row` of the bank over buf[base .. base + 2J). */
  private branchSum(base: number, row: number): number {
    const { halfTaps, taps } = this.bank!;
    const buf = this.buf;
    const width = 2 * halfTaps;
    const t0 = row * width;
    // Four independent accumulators: breaks the add dependency chain (~3x faster in V8).
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (let j = 0; j < width; j += 4) {
      a0 += buf[base + j]! * taps[t0 + j]!;
      a1 += buf[base + j + 1]! * taps[t0 + j + 1]!;
      a2 += buf[base + j + 2]! * taps[t0 + j + 2]!;
      a3 += buf[base + j + 3]! * taps[t0 + j + 3]!;
    }
    return a0 + a1 + (a2 + a3);
  }

  /**
   * Doubling (L = 2, M = 1: 8 -> 16 kHz telephony, 24 -> 48): both branches are symmetric, so each output costs J
   * multiplies instead of 2J. Branch 0 (output on input sample c) is symmetric around c and its +J tap is zero
   * ({@link centredSum}, as for decimation); branch 1 (halfway between c and c + 1) pairs x[c + m] with
   * x[c + 1 - m], m = 1 .. J.
   */
  private emitDoubled(out: Float32Array, firstCentre: number, firstPhi: number): void {
    const { halfTaps, taps } = this.bank!;
    const buf = this.buf;
    const width = 2 * halfTaps;
    const m4 = halfTaps - (halfTaps % 4);
    let c = firstCentre, phi = firstPhi;
    for (let k = 0; k < out.length; k++) {
      if (phi === 0) {
        out[k] = this.centredSum(c);
        phi = 1;
        continue;
      }
      const t0 = width + halfTaps - 1; // branch 1, tap of offset m at t0 + m
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      let m = 1;
      for (; m + 3 <= m4; m += 4) {
        a0 += taps[t0 + m]! * (buf[c + m]! + buf[c + 1 - m]!);
        a1 += taps[t0 + m + 1]! * (buf[c + m + 1]! + buf[c - m]!);
        a2 += taps[t0 + m + 2]! * (buf[c + m + 2]! + buf[c - m - 1]!);
        a3 += taps[t0 + m + 3]! * (buf[c + m + 3]! + buf[c - m - 2]!);
      }
      for (; m <= halfTaps; m++) a0 += taps[t0 + m]! * (buf[c + m]! + buf[c + 1 - m]!);
      out[k] = a0 + a1 + (a2 + a3);
      phi = 0;
      c++;
    }
  }

  /**
   * Integer decimation (L = 1): the one branch is symmetric around the output time (its last tap, at +J, is an
   * exact zero of the window), so y = h0 x[c] + sum_{i=1}^{J-1} h_i (x[c + i] + x[c - i]).
   */
  private emitFolded(out: Float32Array, firstCentre: number, down: number): void {
    for (let k = 0, c = firstCentre; k < out.length; k++, c += down) out[k] = this.centredSum(c);
  }

  /** Branch 0 folded around buffer index c: h0 x[c] + sum_{i=1}^{J-1} h_i (x[c + i] + x[c - i]). */
  private centredSum(c: number): number {
    const { halfTaps, taps } = this.bank!;
    const buf = this.buf;
    const n = halfTaps - 1; // folded pairs i = 1 .. n
    const n4 = n - (n % 4);
    let a0 = taps[halfTaps - 1]! * buf[c]!, a1 = 0, a2 = 0, a3 = 0;
    let i = 1;
    for (; i <= n4; i += 4) {
      const t = halfTaps - 1 + i;
      a0 += taps[t]! * (buf[c + i]! + buf[c - i]!);
      a1 += taps[t + 1]! * (buf[c + i + 1]! + buf[c - i - 1]!);
      a2 += taps[t + 2]! * (buf[c + i + 2]! + buf[c - i - 2]!);
      a3 += taps[t + 3]! * (buf[c + i + 3]! + buf[c - i - 3]!);
    }
    for (; i <= n; i++) a0 += taps[halfTaps - 1 + i]! * (buf[c + i]! + buf[c - i]!);
    return a0 + a1 + (a2 + a3);
  }
}
