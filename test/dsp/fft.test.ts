import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/protocol/errors.js';
import { RealFft } from '../../src/dsp/fft.js';
import { gaussian } from './helpers.js';

describe('RealFft', () => {
  for (const size of [8, 16, 64, 512, 1024]) {
    it(`size ${size}: forward matches a naive DFT; inverse(forward(x)) == x`, () => {
      const x = Float64Array.from(gaussian(size, size));
      const fft = new RealFft(size);
      const re = new Float64Array(size / 2 + 1), im = new Float64Array(size / 2 + 1);
      fft.forward(x, re, im);
      let err = 0;
      for (let k = 0; k <= size / 2; k++) {
        let r = 0, q = 0;
        for (let n = 0; n < size; n++) {
          r += x[n]! * Math.cos((2 * Math.PI * k * n) / size);
          q -= x[n]! * Math.sin((2 * Math.PI * k * n) / size);
        }
        err = Math.max(err, Math.abs(r - re[k]!), Math.abs(q - im[k]!));
      }
      expect(err).toBeLessThan(1e-9);
      const y = new Float64Array(size);
      fft.inverse(re, im, y);
      for (let n = 0; n < size; n++) expect(Math.abs(y[n]! - x[n]!)).toBeLessThan(1e-12);
      const p = new Float32Array(size / 2 + 1);
      fft.power(x, p, re, im);
      const p3 = re[3]! ** 2 + im[3]! ** 2;
      expect(Math.abs(p[3]! - p3) / p3).toBeLessThan(1e-6); // Float32 storage
    });
  }

  it('rejects sizes that are not powers of two, quoting them', () => {
    expect(() => new RealFft(400)).toThrow(GatewayError);
    expect(() => new RealFft(400)).toThrow(/got 400/);
  });
});
