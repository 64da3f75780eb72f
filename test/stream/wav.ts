/** Tiny RIFF/WAVE reader for the stream tests: PCM 16-bit or IEEE float 32-bit, any channels (downmixed to mono). */
import { readFileSync } from 'node:fs';

export interface Wav {
  sampleRateHz: number;
  channels: number;
  /** Mono samples in [-1, 1]. */
  samples: Float32Array;
}

export function readWav(path: string | URL): Wav {
  const b = readFileSync(path);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const tag = (o: number): string => b.subarray(o, o + 4).toString('latin1');
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new Error(`${String(path)} is not a RIFF/WAVE file`);
  let format = 0, channels = 0, rate = 0, bits = 0;
  let o = 12;
  while (o + 8 <= b.length) {
    const id = tag(o), size = dv.getUint32(o + 4, true), body = o + 8;
    if (id === 'fmt ') {
      format = dv.getUint16(body, true);
      channels = dv.getUint16(body + 2, true);
      rate = dv.getUint32(body + 4, true);
      bits = dv.getUint16(body + 14, true);
      if (format === 0xfffe) format = dv.getUint16(body + 24, true); // WAVE_FORMAT_EXTENSIBLE sub-format
    } else if (id === 'data') {
      const bytesPer = bits / 8;
      const n = Math.floor(Math.min(size, b.length - body) / (bytesPer * channels));
      const samples = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        let sum = 0;
        for (let c = 0; c < channels; c++) {
          const p = body + (i * channels + c) * bytesPer;
          if (format === 1 && bits === 16) sum += dv.getInt16(p, true) / 32768;
          else if (format === 3 && bits === 32) sum += dv.getFloat32(p, true);
          else throw new Error(`${String(path)}: unsupported WAV format ${format} / ${bits} bits`);
        }
        samples[i] = sum / channels;
      }
      return { sampleRateHz: rate, channels, samples };
    }
    o = body + size + (size & 1);
  }
  throw new Error(`${String(path)} has no data chunk`);
}
