/**
 * G.711 mu-law and A-law codecs (ITU-T Rec. G.711, 1988), the 8-bit companded audio of telephony carriers.
 *
 * Why here: telephony transports (Twilio, Vonage, SIP bridges) deliver 8 kHz mu-law or A-law; the gateway decodes
 * it to Float32 before resampling. Decoding goes through a 256-entry table built once from the standard's segment /
 * quantisation formulation (decoded magnitude `(2q + 33) << seg - 33` for mu-law in 14-bit units, `2q + 1` or
 * `(2q + 33) << (seg - 1)` for A-law in 13-bit units), scaled to 16-bit and then to Float32 as `int16 / 32768`.
 * Tests compare the tables against an independent re-derivation of the classic Sun `g711.c` bit arithmetic.
 *
 * Encoders take a 16-bit two's-complement sample (values outside [-32768, 32767] are clamped) and return the byte
 * exactly as `g711.c` `linear2ulaw` / `linear2alaw` do.
 */

import { GatewayError } from '../protocol/errors.js';

/** mu-law byte -> int16 value (ITU-T G.711 Table 2a, scaled x4 to 16 bits). */
export const MULAW_TO_INT16: Int16Array = buildMulawTable();
/** A-law byte -> int16 value (ITU-T G.711 Table 1a, scaled x8 to 16 bits). */
export const ALAW_TO_INT16: Int16Array = buildAlawTable();

const MULAW_TO_F32 = toFloat(MULAW_TO_INT16);
const ALAW_TO_F32 = toFloat(ALAW_TO_INT16);

function buildMulawTable(): Int16Array {
  const t = new Int16Array(256);
  for (let b = 0; b < 256; b++) {
    const u = ~b & 0xff; // mu-law bytes are transmitted inverted
    const seg = (u >> 4) & 7;
    const q = u & 0x0f;
    const magnitude14 = ((2 * q + 33) << seg) - 33; // 0..8031
    t[b] = (u & 0x80 ? -4 : 4) * magnitude14;
  }
  return t;
}

function buildAlawTable(): Int16Array {
  const t = new Int16Array(256);
  for (let b = 0; b < 256; b++) {
    const a = b ^ 0x55; // even bits are inverted on the line
    const seg = (a >> 4) & 7;
    const q = a & 0x0f;
    const magnitude13 = seg === 0 ? 2 * q + 1 : (2 * q + 33) << (seg - 1); // 1..4032
    t[b] = (a & 0x80 ? 8 : -8) * magnitude13;
  }
  return t;
}

function toFloat(t: Int16Array): Float32Array {
  const f = new Float32Array(256);
  for (let i = 0; i < 256; i++) f[i] = t[i]! / 32768;
  return f;
}

function decodeWith(table: Float32Array, bytes: Uint8Array, out?: Float32Array): Float32Array {
  const dst = out ?? new Float32Array(bytes.length);
  if (dst.length < bytes.length) {
    throw new GatewayError('GW_ERR_INTERNAL', `output buffer holds ${dst.length} samples, need ${bytes.length}`);
  }
  for (let i = 0; i < bytes.length; i++) dst[i] = table[bytes[i]!]!;
  return dst;
}

/**
 * Decodes mu-law bytes to Float32 samples (`int16 / 32768`). Writes into `out` (length >= bytes.length) when given,
 * else allocates; returns the buffer written (its first `bytes.length` samples).
 */
export function decodeMulaw(bytes: Uint8Array, out?: Float32Array): Float32Array {
  return decodeWith(MULAW_TO_F32, bytes, out);
}

/** Decodes A-law bytes to Float32 samples (`int16 / 32768`); `out` as in {@link decodeMulaw}. */
export function decodeAlaw(bytes: Uint8Array, out?: Float32Array): Float32Array {
  return decodeWith(ALAW_TO_F32, bytes, out);
}

function clampInt16(x: number): number {
  const v = Math.trunc(x);
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}

/** Encodes one int16 sample to a mu-law byte (g711.c `linear2ulaw`: bias 33 in 14-bit units, clip at 8159). */
export function encodeMulaw(int16: number): number {
  let v = clampInt16(int16) >> 2;
  let mask = 0xff;
  if (v < 0) {
    v = -v;
    mask = 0x7f;
  }
  if (v > 8159) v = 8159;
  v += 33;
  let seg = 0;
  while (seg < 8 && v > (0x40 << seg) - 1) seg++; // segment ends 0x3f, 0x7f, ..., 0x1fff
  if (seg >= 8) return 0x7f ^ mask;
  const u = (seg << 4) | ((v >> (seg + 1)) & 0x0f);
  return (u ^ mask) & 0xff;
}

/** Encodes one int16 sample to an A-law byte (g711.c `linear2alaw`). */
export function encodeAlaw(int16: number): number {
  let v = clampInt16(int16) >> 3;
  let mask = 0xd5;
  if (v < 0) {
    mask = 0x55;
    v = -v - 1;
  }
  let seg = 0;
  while (seg < 8 && v > (0x20 << seg) - 1) seg++; // segment ends 0x1f, 0x3f, ..., 0xfff
  if (seg >= 8) return 0x7f ^ mask;
  const a = (seg << 4) | ((seg < 2 ? v >> 1 : v >> seg) & 0x0f);
  return a ^ mask;
}

/** Encodes Float32 samples in [-1, 1] (scaled by 32768, rounded, clamped) to mu-law bytes. */
export function encodeMulawSamples(samples: Float32Array): Uint8Array {
  const out = new Uint8Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = encodeMulaw(Math.round(samples[i]! * 32768));
  return out;
}

/** Encodes Float32 samples in [-1, 1] (scaled by 32768, rounded, clamped) to A-law bytes. */
export function encodeAlawSamples(samples: Float32Array): Uint8Array {
  const out = new Uint8Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = encodeAlaw(Math.round(samples[i]! * 32768));
  return out;
}
