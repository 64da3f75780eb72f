import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/protocol/errors.js';
import { PcmDecoder } from '../../src/dsp/pcm-decoder.js';
import { MULAW_TO_INT16, ALAW_TO_INT16 } from '../../src/dsp/g711.js';

/** Copies `bytes` into a bigger buffer at an odd offset: the decoder must read through unaligned views. */
function unaligned(bytes: Uint8Array, offset = 3): Uint8Array {
  const big = new Uint8Array(bytes.length + offset + 5).fill(0xee);
  big.set(bytes, offset);
  return big.subarray(offset, offset + bytes.length);
}

function s16le(values: number[]): Uint8Array {
  const b = new Uint8Array(values.length * 2);
  const dv = new DataView(b.buffer);
  values.forEach((v, i) => dv.setInt16(2 * i, v, true));
  return b;
}

function f32le(values: number[]): Uint8Array {
  const b = new Uint8Array(values.length * 4);
  const dv = new DataView(b.buffer);
  values.forEach((v, i) => dv.setFloat32(4 * i, v, true));
  return b;
}

describe('PcmDecoder', () => {
  it('pcm_s16le mono, at an odd byteOffset', () => {
    const d = new PcmDecoder({ encoding: 'pcm_s16le', channels: 1 });
    const out = d.push(unaligned(s16le([0, 1, -1, 32767, -32768, 16384])));
    expect(Array.from(out)).toEqual([0, 1 / 32768, -1 / 32768, 32767 / 32768, -1, 0.5]);
  });

  it('pcm_s16le stereo is averaged', () => {
    const d = new PcmDecoder({ encoding: 'pcm_s16le', channels: 2 });
    expect(Array.from(d.push(unaligned(s16le([16384, 0, -32768, -32768, 100, -100]))))).toEqual([0.25, -1, 0]);
  });

  it('pcm_f32le mono and stereo; clamped to [-1, 1], non-finite values become 0', () => {
    const m = new PcmDecoder({ encoding: 'pcm_f32le', channels: 1 });
    expect(Array.from(m.push(unaligned(f32le([0.5, -0.25, NaN, Infinity, -Infinity, 1, 1.5, -3.4e38]), 1)))).toEqual([
      0.5, -0.25, 0, 0, 0, 1, 1, -1,
    ]);
    const s = new PcmDecoder({ encoding: 'pcm_f32le', channels: 2 });
    expect(Array.from(s.push(unaligned(f32le([0.5, 0.25, NaN, -0.5, 2, 0]), 2)))).toEqual([0.375, -0.25, 0.5]);
  });

  it('mulaw and alaw through the G.711 tables, mono and stereo', () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const mu = new PcmDecoder({ encoding: 'mulaw', channels: 1 }).push(unaligned(bytes));
    const a = new PcmDecoder({ encoding: 'alaw', channels: 1 }).push(unaligned(bytes));
    for (let b = 0; b < 256; b++) {
      expect(mu[b]).toBe(MULAW_TO_INT16[b]! / 32768);
      expect(a[b]).toBe(ALAW_TO_INT16[b]! / 32768);
    }
    const st = new PcmDecoder({ encoding: 'mulaw', channels: 2 }).push(Uint8Array.of(0x80, 0x80, 0x00, 0xff));
    expect(Array.from(st)).toEqual([32124 / 32768, -32124 / 65536]);
  });

  it('a frame that splits a sample frame throws GW_ERR_PARTIAL_SAMPLE quoting the byte count', () => {
    const cases: [ConstructorParameters<typeof PcmDecoder>[0], number][] = [
      [{ encoding: 'pcm_s16le', channels: 1 }, 3],
      [{ encoding: 'pcm_s16le', channels: 2 }, 6],
      [{ encoding: 'pcm_f32le', channels: 1 }, 6],
      [{ encoding: 'pcm_f32le', channels: 2 }, 12],
      [{ encoding: 'mulaw', channels: 2 }, 5],
    ];
    for (const [opts, len] of cases) {
      const d = new PcmDecoder(opts);
      let err: unknown;
      try {
        d.push(new Uint8Array(len));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).code).toBe('GW_ERR_PARTIAL_SAMPLE');
      expect((err as GatewayError).message).toContain(`${len} bytes`);
    }
    expect(new PcmDecoder({ encoding: 'pcm_s16le', channels: 1 }).push(new Uint8Array(0)).length).toBe(0);
  });

  it('rejects unknown encodings and channel counts, quoting the value', () => {
    expect(() => new PcmDecoder({ encoding: 'opus' as never, channels: 1 })).toThrow(/got "opus"/);
    try {
      new PcmDecoder({ encoding: 'pcm_s16le', channels: 3 as never });
    } catch (e) {
      expect((e as GatewayError).code).toBe('GW_ERR_UNSUPPORTED_CHANNELS');
      expect((e as GatewayError).message).toContain('got 3');
    }
  });
});
