/**
 * Binary audio frame -> mono Float32 samples in [-1, 1]: the first DSP stage of every session.
 *
 * Why a class: the encoding and channel count are fixed per session (from `session.start`), so the per-frame work is
 * one tight loop with no dispatch. Frames are stateless: each binary frame must hold whole sample frames
 * (bytes per sample x channels); a frame that splits one would misalign every later byte, so it throws
 * `GW_ERR_PARTIAL_SAMPLE` (fatal) instead of being carried over.
 *
 * Input bytes may be a view at any `byteOffset` into a larger buffer (uWS / ws hand out such views); reads go through
 * a `DataView`, so odd offsets are fine and the input is never copied. Stereo is downmixed by averaging the two
 * channels. `pcm_f32le` values are clamped to [-1, 1], as a DAC or a conversion to 16 bits would clip them, and
 * values that are not finite (NaN, +-Infinity) become 0: unclamped, a float near its range (3e38) overflowed the
 * resampler's sums to +-Infinity and NaN, which reached the model as NaN features. This is the one stage that
 * sanitises wire values: the later ones assume finite samples (the resampler and the fbank forget a NaN within a
 * filter or window length; the denoiser and the VAD read it as 0 / as digital silence).
 */
import { GatewayError } from '../protocol/errors.js';
import type { AudioEncoding } from '../protocol/messages.js';
import { ALAW_TO_INT16, MULAW_TO_INT16 } from './g711.js';

export interface PcmDecoderOptions {
  /** Wire encoding: 16-bit signed LE, 32-bit float LE, G.711 mu-law or A-law (8-bit). */
  encoding: AudioEncoding;
  /** Interleaved channels per sample frame. */
  channels: 1 | 2;
}

export const DEFAULT_PCM_DECODER_OPTIONS: Readonly<PcmDecoderOptions> = { encoding: 'pcm_s16le', channels: 1 };

const BYTES_PER_SAMPLE: Readonly<Record<AudioEncoding, number>> = {
  pcm_s16le: 2,
  pcm_f32le: 4,
  mulaw: 1,
  alaw: 1,
};

/** Throws `GW_ERR_UNSUPPORTED_ENCODING` / `GW_ERR_UNSUPPORTED_CHANNELS` quoting the bad value. */
export function validatePcmDecoderOptions(o: PcmDecoderOptions): void {
  if (!Object.prototype.hasOwnProperty.call(BYTES_PER_SAMPLE, o.encoding)) {
    throw new GatewayError(
      'GW_ERR_UNSUPPORTED_ENCODING',
      `encoding must be one of pcm_s16le, pcm_f32le, mulaw, alaw, got ${JSON.stringify(o.encoding)}`,
    );
  }
  if (o.channels !== 1 && o.channels !== 2) {
    throw new GatewayError('GW_ERR_UNSUPPORTED_CHANNELS', `channels must be 1 or 2, got ${JSON.stringify(o.channels)}`);
  }
}

const MULAW_F32 = Float32Array.from(MULAW_TO_INT16, (v) => v / 32768);
const ALAW_F32 = Float32Array.from(ALAW_TO_INT16, (v) => v / 32768);

export class PcmDecoder {
  readonly encoding: AudioEncoding;
  readonly channels: 1 | 2;
  /** Bytes per interleaved sample frame (bytes per sample x channels). */
  readonly frameBytes: number;

  constructor(options: Partial<PcmDecoderOptions> = {}) {
    const o: PcmDecoderOptions = { ...DEFAULT_PCM_DECODER_OPTIONS, ...options };
    validatePcmDecoderOptions(o);
    this.encoding = o.encoding;
    this.channels = o.channels;
    this.frameBytes = BYTES_PER_SAMPLE[o.encoding] * o.channels;
  }

  /**
   * Decodes one binary frame. Returns a new Float32Array of `bytes.length / frameBytes` mono samples (the caller owns
   * it). Throws `GW_ERR_PARTIAL_SAMPLE` when the length is not a multiple of `frameBytes`.
   */
  push(bytes: Uint8Array): Float32Array {
    if (bytes.length % this.frameBytes !== 0) {
      throw new GatewayError(
        'GW_ERR_PARTIAL_SAMPLE',
        `binary frame of ${bytes.length} bytes is not a whole number of ${this.frameBytes}-byte sample frames ` +
          `(${this.encoding}, ${this.channels} channel${this.channels === 1 ? '' : 's'})`,
      );
    }
    const n = bytes.length / this.frameBytes;
    const out = new Float32Array(n);
    switch (this.encoding) {
      case 'pcm_s16le':
        decodeS16(bytes, out, this.channels);
        break;
      case 'pcm_f32le':
        decodeF32(bytes, out, this.channels);
        break;
      case 'mulaw':
        decodeTable(bytes, out, this.channels, MULAW_F32);
        break;
      case 'alaw':
        decodeTable(bytes, out, this.channels, ALAW_F32);
        break;
    }
    return out;
  }

  /** Nothing is buffered between frames: always empty. Present for the common stage shape. */
  flush(): Float32Array {
    return new Float32Array(0);
  }
}

function decodeS16(bytes: Uint8Array, out: Float32Array, channels: number): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = out.length;
  if (channels === 1) {
    for (let i = 0; i < n; i++) out[i] = dv.getInt16(2 * i, true) / 32768;
  } else {
    for (let i = 0; i < n; i++) out[i] = (dv.getInt16(4 * i, true) + dv.getInt16(4 * i + 2, true)) / 65536;
  }
}

function clampF32(x: number): number {
  if (!Number.isFinite(x)) return 0;
  return x > 1 ? 1 : x < -1 ? -1 : x;
}

function decodeF32(bytes: Uint8Array, out: Float32Array, channels: number): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = out.length;
  if (channels === 1) {
    for (let i = 0; i < n; i++) out[i] = clampF32(dv.getFloat32(4 * i, true));
  } else {
    for (let i = 0; i < n; i++) {
      out[i] = (clampF32(dv.getFloat32(8 * i, true)) + clampF32(dv.getFloat32(8 * i + 4, true))) * 0.5;
    }
  }
}

function decodeTable(bytes: Uint8Array, out: Float32Array, channels: number, table: Float32Array): void {
  const n = out.length;
  if (channels === 1) {
    for (let i = 0; i < n; i++) out[i] = table[bytes[i]!]!;
  } else {
    for (let i = 0; i < n; i++) out[i] = (table[bytes[2 * i]!]! + table[bytes[2 * i + 1]!]!) * 0.5;
  }
}
