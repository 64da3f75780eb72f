import { describe, expect, it } from 'vitest';
import {
  ALAW_TO_INT16, MULAW_TO_INT16, decodeAlaw, decodeMulaw, encodeAlaw, encodeAlawSamples, encodeMulaw,
} from '../../src/dsp/g711.js';

/*
 * Independent reference: the bit arithmetic of the classic Sun Microsystems g711.c (public domain), which implements
 * ITU-T G.711 Tables 1a/2a; written here from its formulas, not from src/dsp/g711.ts (which uses the segment
 * formulation (2q + 33) << seg - 33 instead).
 */
const SIGN_BIT = 0x80, QUANT_MASK = 0x0f, SEG_SHIFT = 4, SEG_MASK = 0x70, BIAS = 0x84;

function refUlaw2linear(uVal: number): number {
  const u = ~uVal & 0xff;
  let t = ((u & QUANT_MASK) << 3) + BIAS;
  t <<= (u & SEG_MASK) >> SEG_SHIFT;
  return u & SIGN_BIT ? BIAS - t : t - BIAS;
}

function refAlaw2linear(aVal: number): number {
  const a = aVal ^ 0x55;
  let t = (a & QUANT_MASK) << 4;
  const seg = (a & SEG_MASK) >> SEG_SHIFT;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & SIGN_BIT ? t : -t;
}

describe('G.711 decode tables (bit-exact)', () => {
  it('mu-law matches the reference for all 256 codes', () => {
    for (let b = 0; b < 256; b++) expect(MULAW_TO_INT16[b], `byte ${b}`).toBe(refUlaw2linear(b));
  });
  it('A-law matches the reference for all 256 codes', () => {
    for (let b = 0; b < 256; b++) expect(ALAW_TO_INT16[b], `byte ${b}`).toBe(refAlaw2linear(b));
  });
  it('known table values', () => {
    expect(MULAW_TO_INT16[0x00]).toBe(-32124);
    expect(MULAW_TO_INT16[0x80]).toBe(32124);
    expect(MULAW_TO_INT16[0xff]).toBe(0);
    expect(MULAW_TO_INT16[0x7f]).toBe(0); // "negative zero"
    expect(MULAW_TO_INT16[0xfe]).toBe(8);
    expect(MULAW_TO_INT16[0x7e]).toBe(-8);
    expect(ALAW_TO_INT16[0xd5]).toBe(8);
    expect(ALAW_TO_INT16[0x55]).toBe(-8);
    expect(ALAW_TO_INT16[0xaa]).toBe(32256);
    expect(ALAW_TO_INT16[0x2a]).toBe(-32256);
  });
  it('float decode is int16 / 32768, into a caller buffer when given', () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const mu = decodeMulaw(bytes);
    const out = new Float32Array(300);
    expect(decodeAlaw(bytes, out)).toBe(out);
    for (let b = 0; b < 256; b++) {
      expect(mu[b]).toBe(refUlaw2linear(b) / 32768);
      expect(out[b]).toBe(refAlaw2linear(b) / 32768);
    }
    expect(() => decodeMulaw(bytes, new Float32Array(10))).toThrow(/holds 10 samples, need 256/);
  });
});

describe('G.711 encode', () => {
  it('decode(encode(code value)) is the identity on every code (mu-law 0x7f aside: -0 encodes as 0xff)', () => {
    for (let b = 0; b < 256; b++) {
      expect(encodeAlaw(ALAW_TO_INT16[b]!)).toBe(b);
      expect(encodeMulaw(MULAW_TO_INT16[b]!)).toBe(b === 0x7f ? 0xff : b);
    }
  });
  it('every int16 encodes to one of the two code values bracketing it (a true quantiser), sign kept', () => {
    for (const [name, table, enc] of [
      ['mu-law', MULAW_TO_INT16, encodeMulaw],
      ['A-law', ALAW_TO_INT16, encodeAlaw],
    ] as const) {
      const levels = [...new Set(table)].sort((a, b) => a - b);
      let lo = 0;
      for (let v = -32768; v <= 32767; v++) {
        while (lo + 1 < levels.length && levels[lo + 1]! <= v) lo++;
        const below = levels[lo]! <= v ? levels[lo]! : levels[0]!;
        const above = levels[Math.min(lo + (levels[lo]! < v ? 1 : 0), levels.length - 1)]!;
        const got = table[enc(v)]!;
        if (got !== below && got !== above) expect.fail(`${name}: ${v} decoded to ${got}, not ${below} or ${above}`);
        if (v >= 16 && got <= 0) expect.fail(`${name}: ${v} decoded to ${got}`);
        if (v <= -16 && got >= 0) expect.fail(`${name}: ${v} decoded to ${got}`);
      }
    }
  });
  it('clamps out-of-range input and encodes float samples', () => {
    expect(encodeMulaw(100000)).toBe(0x80);
    expect(encodeMulaw(-100000)).toBe(0x00);
    expect(encodeAlaw(100000)).toBe(0xaa);
    expect(encodeAlaw(-100000)).toBe(0x2a);
    expect(Array.from(encodeAlawSamples(Float32Array.of(0, 1, -1)))).toEqual([0xd5, 0xaa, 0x2a]);
  });
});
