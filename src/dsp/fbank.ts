/**
 * Streaming Kaldi log-mel filterbank: the acoustic model's input features, computed exactly as
 * `torchaudio.compliance.kaldi.fbank` (and kaldi-native-fbank inside sherpa-onnx) with the settings fixed in
 * ../shared/docs/model-interface.md: 16 kHz, 80 bins, 25 ms window (400), 10 ms shift (160), povey window,
 * pre-emphasis 0.97, DC removal, 512-point FFT, power spectrum, mel range 20 .. 7600 Hz, no dither,
 * snip_edges=false, log(max(x, float32 eps)), no energy term, samples in [-1, 1].
 *
 * Why streaming matters here: features are the only input of the streaming encoder, so a frame must leave as soon as
 * its 400 samples exist. With snip_edges=false frame i covers samples [160 i - 120, 160 i + 280), reflecting the
 * signal at both ends (x[-1 - j] = x[j], x[N + j] = x[N - 1 - j]), and there are (N + 80) // 160 frames in total.
 * Reflection at the start is known at once, so `push` emits every frame whose window ends within the samples seen;
 * the last one or two frames read reflected samples past the end and come out of `flush`.
 *
 * This is the reference implementation, held to torchaudio by the fixture tests; the gateway's fbank stage runs its
 * compiled twin, native/src/kaldi-fbank.cc, which repeats every step in the same order (equal output, a third of the
 * CPU: `npm run bench:micro`). Change both together. A frame is a 512-point real FFT plus a sparse mel product (each
 * FFT bin feeds at most two mel bins), with all buffers preallocated. Output rows are row-major `frames x 80` Float32.
 */
import { RealFft } from './fft.js';

export const FBANK_SAMPLE_RATE_HZ = 16000;
export const FBANK_NUM_BINS = 80;
export const FBANK_FRAME_SAMPLES = 400;
export const FBANK_SHIFT_SAMPLES = 160;
const FFT_SIZE = 512;
const PAD_LEFT = FBANK_FRAME_SAMPLES / 2 - FBANK_SHIFT_SAMPLES / 2; // 120
const PREEMPH = 0.97;
const LOW_HZ = 20;
const HIGH_HZ = FBANK_SAMPLE_RATE_HZ / 2 - 400;
/** torch.finfo(torch.float32).eps */
const LOG_FLOOR = 1.1920928955078125e-7;

/** Number of frames for `numSamples` samples in total (snip_edges=false). */
export function fbankFrameCount(numSamples: number): number {
  return Math.floor((numSamples + FBANK_SHIFT_SAMPLES / 2) / FBANK_SHIFT_SAMPLES);
}

interface MelBanks {
  /** Povey window (Hann^0.85, symmetric), 400 points. */
  window: Float64Array;
  /** Per mel bin: first FFT bin with non-zero weight, how many follow, and where they sit in `weights`. */
  binStart: Int32Array;
  binLen: Int32Array;
  weightOffset: Int32Array;
  weights: Float64Array;
}

let MEL: MelBanks | null = null;

function melScale(hz: number): number {
  return 1127 * Math.log(1 + hz / 700);
}

/** The mel axis the filters tile: FBANK_NUM_BINS + 2 equally spaced points from `melLow`, `delta` apart; filter m
 *  spans points m .. m + 2 and peaks at point m + 1. */
function melGrid(): { melLow: number; delta: number } {
  const melLow = melScale(LOW_HZ);
  return { melLow, delta: (melScale(HIGH_HZ) - melLow) / (FBANK_NUM_BINS + 1) };
}

/** Mel triangles exactly as torchaudio's `get_mel_banks` (vtln off), FFT bins 0..255 (Nyquist weight 0). */
function melBanks(): MelBanks {
  if (MEL !== null) return MEL;
  const window = new Float64Array(FBANK_FRAME_SAMPLES);
  for (let n = 0; n < FBANK_FRAME_SAMPLES; n++) {
    const hann = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / (FBANK_FRAME_SAMPLES - 1));
    window[n] = Math.pow(hann, 0.85);
  }
  const numFftBins = FFT_SIZE / 2;
  const binWidthHz = FBANK_SAMPLE_RATE_HZ / FFT_SIZE;
  const { melLow, delta } = melGrid();
  const binStart = new Int32Array(FBANK_NUM_BINS);
  const binLen = new Int32Array(FBANK_NUM_BINS);
  const weightOffset = new Int32Array(FBANK_NUM_BINS);
  const all: number[] = [];
  for (let m = 0; m < FBANK_NUM_BINS; m++) {
    const left = melLow + m * delta, center = left + delta, right = center + delta;
    const w: number[] = [];
    let first = -1;
    for (let k = 0; k < numFftBins; k++) {
      const mel = melScale(binWidthHz * k);
      const up = (mel - left) / (center - left);
      const down = (right - mel) / (right - center);
      const v = Math.max(0, Math.min(up, down));
      if (v > 0) {
        if (first < 0) first = k;
        w[k - first] = v;
      }
    }
    binStart[m] = Math.max(0, first);
    binLen[m] = w.length;
    weightOffset[m] = all.length;
    all.push(...w);
  }
  MEL = { window, binStart, binLen, weightOffset, weights: Float64Array.from(all) };
  return MEL;
}

export class FbankExtractor {
  /** Samples kept: buf[0] is absolute sample `bufStart`. */
  private buf = new Float32Array(8192);
  private bufStart = 0;
  private bufLen = 0;
  private total = 0;
  private nextFrame = 0;
  private readonly mel = melBanks();
  private readonly fft = new RealFft(FFT_SIZE);
  private readonly frame = new Float64Array(FFT_SIZE);
  private readonly re = new Float64Array(FFT_SIZE / 2 + 1);
  private readonly im = new Float64Array(FFT_SIZE / 2 + 1);
  private readonly pow = new Float64Array(FFT_SIZE / 2 + 1);

  /** Frames emitted so far in this stream. */
  get framesEmitted(): number {
    return this.nextFrame;
  }

  /**
   * Appends 16 kHz samples; returns every frame whose 400-sample window now lies within the samples seen
   * (`frames x 80`, row-major, a new array the caller owns). Empty when no frame completed.
   */
  push(samples: Float32Array): Float32Array {
    this.append(samples);
    // Frame i is complete when 160 i + 280 <= total.
    const last = Math.floor((this.total - (FBANK_FRAME_SAMPLES - PAD_LEFT)) / FBANK_SHIFT_SAMPLES);
    return this.emitUpTo(last);
  }

  /** Emits the frames that need the reflected end of signal, then resets for a new stream. */
  flush(): Float32Array {
    const out = this.emitUpTo(fbankFrameCount(this.total) - 1);
    this.reset();
    return out;
  }

  reset(): void {
    this.bufStart = 0;
    this.bufLen = 0;
    this.total = 0;
    this.nextFrame = 0;
  }

  private append(samples: Float32Array): void {
    // Keep from the start of the next frame's window (never below 0: frame 0 reflects x[0 .. 119]).
    const keepFrom = Math.max(0, this.nextFrame * FBANK_SHIFT_SAMPLES - PAD_LEFT);
    const drop = Math.min(keepFrom - this.bufStart, this.bufLen);
    if (drop > 0) {
      this.buf.copyWithin(0, drop, this.bufLen);
      this.bufLen -= drop;
      this.bufStart += drop;
    }
    if (this.bufLen + samples.length > this.buf.length) {
      const bigger = new Float32Array(Math.max(2 * this.buf.length, this.bufLen + samples.length));
      bigger.set(this.buf.subarray(0, this.bufLen));
      this.buf = bigger;
    }
    this.buf.set(samples, this.bufLen);
    this.bufLen += samples.length;
    this.total += samples.length;
  }

  private emitUpTo(last: number): Float32Array {
    const count = last - this.nextFrame + 1;
    if (count <= 0) return new Float32Array(0);
    const out = new Float32Array(count * FBANK_NUM_BINS);
    for (let f = 0; f < count; f++) this.computeFrame(this.nextFrame + f, out, f * FBANK_NUM_BINS);
    this.nextFrame += count;
    return out;
  }

  private computeFrame(index: number, out: Float32Array, offset: number): void {
    const { frame, buf, bufStart, total } = this;
    const start = index * FBANK_SHIFT_SAMPLES - PAD_LEFT;
    let sum = 0;
    if (start >= 0 && start + FBANK_FRAME_SAMPLES <= total) {
      const b = (start - bufStart) | 0; // int32 index (absolute positions may leave the Smi range)
      for (let j = 0; j < FBANK_FRAME_SAMPLES; j++) {
        const v = buf[b + j]!;
        frame[j] = v;
        sum += v;
      }
    } else {
      for (let j = 0; j < FBANK_FRAME_SAMPLES; j++) {
        let s = start + j;
        // Kaldi's ExtractWindow reflection (repeats for signals shorter than the window).
        while (s < 0 || s >= total) s = s < 0 ? -s - 1 : 2 * total - 1 - s;
        const v = buf[s - bufStart]!;
        frame[j] = v;
        sum += v;
      }
    }
    const mean = sum / FBANK_FRAME_SAMPLES;
    const { window, binStart, binLen, weightOffset, weights } = this.mel;
    // DC removal and pre-emphasis (x[-1] replicated as x[0]) fused, from the end backwards, then the window:
    // (x[j] - mean) - 0.97 (x[j-1] - mean) = x[j] - 0.97 x[j-1] - 0.03 mean.
    const dc = (1 - PREEMPH) * mean;
    for (let j = FBANK_FRAME_SAMPLES - 1; j > 0; j--) {
      frame[j] = (frame[j]! - PREEMPH * frame[j - 1]! - dc) * window[j]!;
    }
    frame[0] = (frame[0]! - mean) * (1 - PREEMPH) * window[0]!;
    frame.fill(0, FBANK_FRAME_SAMPLES);
    this.fft.power(frame, this.pow, this.re, this.im);
    const pow = this.pow;
    for (let m = 0; m < FBANK_NUM_BINS; m++) {
      const k0 = binStart[m]!, w0 = weightOffset[m]!, len = binLen[m]!;
      let e = 0;
      for (let k = 0; k < len; k++) e += weights[w0 + k]! * pow[k0 + k]!;
      out[offset + m] = Math.log(e > LOG_FLOOR ? e : LOG_FLOOR);
    }
  }
}

/**
 * A level per frame of log-mel features as `FbankExtractor` emits them (`bins` per row, natural log): `10 log10` of
 * the frame's energy, estimated from its mel energies with the pre-emphasis undone per bin (each bin divided by the
 * filter's power gain at its centre), so that vowels weigh as they do in the waveform. For comparisons between
 * frames (stream/background-gate.ts); the reference is arbitrary.
 */
export function fbankFrameLevelsDb(logMel: Float32Array, frames: number, bins: number = FBANK_NUM_BINS): Float32Array {
  const gain = deemphasis();
  const out = new Float32Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let k = 0; k < bins; k++) sum += Math.exp(logMel[f * bins + k]!) * gain[k]!;
    out[f] = 10 * Math.log10(sum + 1e-20);
  }
  return out;
}

let DEEMPHASIS: Float64Array | null = null;

/** 1 / |1 - PREEMPH e^{-jw}|^2 at each mel bin's centre frequency. */
function deemphasis(): Float64Array {
  if (DEEMPHASIS !== null) return DEEMPHASIS;
  const { melLow, delta } = melGrid();
  DEEMPHASIS = new Float64Array(FBANK_NUM_BINS);
  for (let m = 0; m < FBANK_NUM_BINS; m++) {
    const hz = 700 * (Math.exp((melLow + (m + 1) * delta) / 1127) - 1);
    const w = (2 * Math.PI * hz) / FBANK_SAMPLE_RATE_HZ;
    DEEMPHASIS[m] = 1 / (1 + PREEMPH * PREEMPH - 2 * PREEMPH * Math.cos(w));
  }
  return DEEMPHASIS;
}
