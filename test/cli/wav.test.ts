/**
 * The CLI's WAV reader on the layouts recorders and converters write, built byte by byte here.
 */
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeWav, parseWav, readWavHeader } from '../../src/cli/wav.js';

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
const u16 = (n: number): number[] => [n & 0xff, n >>> 8];
const chunk = (id: string, body: number[], declared = body.length): number[] =>
  [...ascii(id), ...u32(declared), ...body, ...(body.length % 2 === 1 ? [0] : [])];

/** 100 frames of a 16-bit mono 16 kHz file: its `fmt ` body and its sample bytes. */
const base = encodeWav(Float32Array.from({ length: 100 }, (_, i) => Math.sin(i / 5) * 0.5), 16000);
const fmtBody = [...base.subarray(20, 36)];
const samples = [...base.subarray(44)];
const riff = (...chunks: number[][]): Uint8Array => {
  const body = [...ascii('WAVE'), ...chunks.flat()];
  return Uint8Array.from([...ascii('RIFF'), ...u32(body.length), ...body]);
};

describe('wav reader layouts', () => {
  it('reads RF64 (EBU Tech 3306; ffmpeg -rf64, broadcast recorders): the data size comes from ds64', () => {
    const ds64 = [...u32(0), ...u32(0), ...u32(samples.length), ...u32(0), ...u32(100), ...u32(0), ...u32(0)];
    const body = [...ascii('WAVE'), ...chunk('ds64', ds64), ...chunk('fmt ', fmtBody),
      ...chunk('data', samples, 0xffffffff), ...chunk('LIST', [...ascii('INFO')])];
    const wav = parseWav(Uint8Array.from([...ascii('RF64'), ...u32(0xffffffff), ...body]));
    expect(wav).toMatchObject({ encoding: 'pcm_s16le', sampleRateHz: 16000, channels: 1 });
    expect([...wav.data]).toEqual(samples); // the LIST chunk after the audio is not audio
  });

  it('skips odd-sized chunks with their pad byte, finds fmt after unknown chunks, reads WAVE_FORMAT_EXTENSIBLE', () => {
    const odd = parseWav(riff(chunk('JUNK', [1, 2, 3]), chunk('fmt ', fmtBody), chunk('LIST', [...ascii('INFO'), 7]),
      chunk('data', samples)));
    expect([...odd.data]).toEqual(samples);
    const guid = (tag: number): number[] => [...u16(tag), 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71];
    const extensible = (tag: number, bits: number): number[] => [...u16(0xfffe), ...u16(2), ...u32(48000),
      ...u32(48000 * 2 * bits / 8), ...u16(2 * bits / 8), ...u16(bits), ...u16(22), ...u16(bits), ...u32(3), ...guid(tag)];
    expect(parseWav(riff(chunk('fmt ', extensible(1, 16)), chunk('data', samples))))
      .toMatchObject({ encoding: 'pcm_s16le', sampleRateHz: 48000, channels: 2, frameBytes: 4 });
    expect(parseWav(riff(chunk('fmt ', extensible(3, 32)), chunk('data', samples))))
      .toMatchObject({ encoding: 'pcm_f32le', sampleRateHz: 48000, channels: 2, frameBytes: 8 });
    // a recorder that never went back to patch the size
    expect([...parseWav(riff(chunk('fmt ', fmtBody), chunk('data', samples, 0xffffffff))).data]).toEqual(samples);
  });

  it('reads a fmt chunk that comes after the data chunk (valid RIFF: chunks may come in any order)', () => {
    expect([...parseWav(riff(chunk('data', samples), chunk('fmt ', fmtBody))).data]).toEqual(samples);
    // an odd-sized data chunk (a cut last sample) and an odd LIST chunk before fmt: their pad bytes are skipped
    const odd = parseWav(riff(chunk('data', [...samples, 9]), chunk('LIST', [...ascii('INFO'), 7]),
      chunk('fmt ', fmtBody)));
    expect(odd).toMatchObject({ encoding: 'pcm_s16le', sampleRateHz: 16000, channels: 1 });
    expect([...odd.data]).toEqual(samples);
  });

  describe('WAVE_FORMAT_EXTENSIBLE', () => {
    /** KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT: the format tag, then the fixed tail 0000-0010-8000-00AA00389B71. */
    const guid = (tag: number): number[] => [...u16(tag), 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71];
    const extensible = (cbSize: number, bits: number, subFormat: number[]): number[] => [...u16(0xfffe), ...u16(1),
      ...u32(16000), ...u32(16000 * bits / 8), ...u16(bits / 8), ...u16(bits), ...u16(cbSize),
      ...(cbSize >= 22 ? [...u16(bits), ...u32(4), ...subFormat] : [])];
    const refusal = (body: number[]): unknown => {
      try {
        parseWav(riff(chunk('fmt ', body), chunk('data', samples)), 'x.wav');
      } catch (e) {
        return e;
      }
      return 'read';
    };

    it('refuses an extensible fmt chunk without its sub-format (cbSize under 22) naming cbSize', () => {
      expect(refusal(extensible(0, 16, []))).toMatchObject({ code: 'GW_ERR_BAD_MESSAGE',
        message: 'x.wav: WAVE_FORMAT_EXTENSIBLE needs cbSize 22 (a sub-format), got 0' });
      // a 40-byte chunk whose cbSize says the sub-format is not there
      const short = extensible(22, 16, guid(1));
      short.splice(16, 2, ...u16(10));
      expect(refusal(short))
        .toMatchObject({ message: 'x.wav: WAVE_FORMAT_EXTENSIBLE needs cbSize 22 (a sub-format), got 10' });
    });

    it('refuses a sub-format GUID other than PCM / float: its first bytes are no format tag', () => {
      // KSDATAFORMAT_SUBTYPE_AMBISONIC_B_FORMAT_PCM, 00000001-0721-11D3-8644-C8C1CA000000: starts like PCM
      const ambisonic = [1, 0, 0, 0, 0x21, 0x07, 0xd3, 0x11, 0x86, 0x44, 0xc8, 0xc1, 0xca, 0, 0, 0];
      expect(refusal(extensible(22, 16, ambisonic))).toMatchObject({ code: 'GW_ERR_BAD_MESSAGE',
        message: 'x.wav: unsupported WAVE_FORMAT_EXTENSIBLE sub-format 00000001-0721-11d3-8644-c8c1ca000000' });
    });

    it('names 24- and 32-bit integer PCM (also extensible) in words: the protocol carries neither', () => {
      for (const bits of [24, 32]) {
        expect(refusal(extensible(22, bits, guid(1)))).toMatchObject({ code: 'GW_ERR_BAD_MESSAGE',
          message: expect.stringContaining(`got ${bits}-bit integer PCM (format 1 with ${bits} bits)`) });
      }
    });
  });

  describe('G.711 (telephony recordings): the bytes are sent as they are, as mulaw / alaw', () => {
    /** As `sox IN -r 8000 -e mu-law OUT.wav` writes it: an 18-byte fmt chunk (cbSize 0), then a fact chunk. */
    const g711 = (tag: number, channels: number, bits = 8): Uint8Array => riff(chunk('fmt ', [...u16(tag),
      ...u16(channels), ...u32(8000), ...u32(8000 * channels), ...u16(channels), ...u16(bits), ...u16(0)]),
    chunk('fact', u32(samples.length / channels)), chunk('data', samples));

    it('reads format 7 (mu-law) and 6 (A-law), mono and stereo, 1 byte per sample', () => {
      expect(parseWav(g711(7, 1))).toMatchObject({ encoding: 'mulaw', sampleRateHz: 8000, channels: 1, frameBytes: 1,
        durationMs: (samples.length / 8000) * 1000 });
      expect([...parseWav(g711(7, 1)).data]).toEqual(samples);
      expect(parseWav(g711(6, 2))).toMatchObject({ encoding: 'alaw', channels: 2, frameBytes: 2,
        durationMs: (samples.length / 2 / 8000) * 1000 });
      expect([...parseWav(g711(6, 2)).data]).toEqual(samples);
    });

    it('reads the WAVE_FORMAT_EXTENSIBLE sub-formats of mu-law and A-law', () => {
      const guid = (tag: number): number[] => [...u16(tag), 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71];
      const extensible = (tag: number): number[] => [...u16(0xfffe), ...u16(1), ...u32(8000), ...u32(8000), ...u16(1),
        ...u16(8), ...u16(22), ...u16(8), ...u32(4), ...guid(tag)];
      expect(parseWav(riff(chunk('fmt ', extensible(7)), chunk('data', samples)))).toMatchObject({ encoding: 'mulaw' });
      expect(parseWav(riff(chunk('fmt ', extensible(6)), chunk('data', samples)))).toMatchObject({ encoding: 'alaw' });
    });

    it('refuses G.711 of any width but 8 bits, naming it', () => {
      expect(() => parseWav(g711(7, 1, 16), 'x.wav')).toThrow(expect.objectContaining({ code: 'GW_ERR_BAD_MESSAGE',
        message: expect.stringContaining('got 16-bit mu-law (format 7 with 16 bits)') }));
    });
  });

  it('refuses what it cannot carry with GW_ERR_BAD_MESSAGE naming the value', () => {
    const fmt = (format: number, channels: number, rate: number, bits: number): number[] => [...u16(format),
      ...u16(channels), ...u32(rate), ...u32(rate * channels * bits / 8), ...u16(channels * bits / 8), ...u16(bits)];
    const cases: [number[], RegExp][] = [
      [fmt(1, 1, 16000, 24), /format 1 with 24 bits/],
      [fmt(1, 1, 16000, 32), /format 1 with 32 bits/],
      [fmt(3, 1, 16000, 64), /format 3 with 64 bits/],
      [fmt(1, 3, 16000, 16), /channels must be 1 or 2, got 3/],
      [fmt(1, 1, 7999, 16), /got 7999/],
    ];
    for (const [body, message] of cases) {
      expect(() => parseWav(riff(chunk('fmt ', body), chunk('data', samples)), 'x.wav'))
        .toThrow(expect.objectContaining({ code: 'GW_ERR_BAD_MESSAGE', message: expect.stringMatching(message) }));
    }
    expect(() => parseWav(base.subarray(0, 30), 'x.wav')).toThrow(/x\.wav: fmt chunk is truncated/);
  });

  describe('data sizes a writer could not or did not fill in', () => {
    /** A RIFF file whose header sizes are given as they are, not computed. */
    const riffSized = (riffSize: number, ...chunks: number[][]): Uint8Array =>
      Uint8Array.from([...ascii('RIFF'), ...u32(riffSize), ...ascii('WAVE'), ...chunks.flat()]);
    const info = chunk('LIST', [...ascii('INFO'), ...ascii('ICMT'), ...u32(4), ...ascii('note')]);

    it('placeholders of pipe writers are the rest of the file: sox 0x7FFFF000, ffmpeg 0xFFFFFFFF, unpatched 0', () => {
      // as `sox ... -t wav -` writes (RIFF 0x7FFFF024) and ffmpeg to a pipe (both 0xFFFFFFFF)
      expect([...parseWav(riffSized(0x7ffff024, chunk('fmt ', fmtBody), chunk('data', samples, 0x7ffff000))).data])
        .toEqual(samples);
      expect([...parseWav(riffSized(0xffffffff, chunk('fmt ', fmtBody), chunk('data', samples, 0xffffffff))).data])
        .toEqual(samples);
      // a recorder that died before going back to fill in either size
      expect([...parseWav(riffSized(0, chunk('fmt ', fmtBody), chunk('data', samples, 0))).data]).toEqual(samples);
      expect([...parseWav(riffSized(36, chunk('fmt ', fmtBody), chunk('data', samples, 0))).data]).toEqual(samples);
    });

    it('a 0 size in a file whose RIFF size was filled in is an empty data chunk, not the chunks after it', () => {
      const empty = riffSized(4 + 24 + 8, chunk('fmt ', fmtBody), chunk('data', []));
      expect(parseWav(empty)).toMatchObject({ durationMs: 0, data: new Uint8Array(0) });
      const withInfo = riffSized(4 + 24 + 8 + info.length, chunk('fmt ', fmtBody), chunk('data', []), info);
      expect(parseWav(withInfo)).toMatchObject({ durationMs: 0, data: new Uint8Array(0) });
    });

    it('a file cut short keeps the whole sample frames it has', () => {
      const cut = riff(chunk('fmt ', fmtBody), chunk('data', samples, samples.length * 2)).subarray(0, 44 + 101);
      const wav = parseWav(cut);
      expect([...wav.data]).toEqual(samples.slice(0, 100));
      expect(wav.durationMs).toBe((50 / 16000) * 1000);
    });
  });

  describe('readWavHeader (eval checks every file of a manifest up front)', () => {
    it('reads the chunk headers only: fmt after a 3 GiB data chunk is found, the audio is not read', async () => {
      const file = path.join(await mkdtemp(path.join(tmpdir(), 'voxgate-wav-')), 'big.wav');
      const dataBytes = 3 * 2 ** 30;
      const fh = await open(file, 'w');
      try {
        // a sparse file: reading it whole would take 3 GiB (readFile refuses over 2 GiB)
        await fh.write(Uint8Array.from([...ascii('RIFF'), ...u32(4 + 8 + dataBytes + 8 + 16), ...ascii('WAVE'),
          ...ascii('data'), ...u32(dataBytes)]), 0, 20, 0);
        await fh.write(Uint8Array.from(chunk('fmt ', fmtBody)), 0, 24, 20 + dataBytes);
      } finally {
        await fh.close();
      }
      try {
        expect(await readWavHeader(file, 'big.wav')).toEqual({ encoding: 'pcm_s16le', sampleRateHz: 16000,
          channels: 1, frameBytes: 2, durationMs: (dataBytes / 2 / 16000) * 1000, file, source: 'big.wav',
          dataStart: 20, dataBytes });
      } finally {
        await rm(path.dirname(file), { recursive: true });
      }
    });

    it('a directory is said to be one (it was "not a regular file (a pipe?) ... save it to a file first")', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'voxgate-wav-'));
      try {
        await expect(readWavHeader(dir, 'calls/')).rejects.toMatchObject({ code: 'GW_ERR_BAD_MESSAGE',
          message: expect.stringMatching(/^calls\/: is a directory/) });
      } finally {
        await rm(dir, { recursive: true });
      }
    });

    it('refuses what parseWav refuses, with the same message', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'voxgate-wav-'));
      const fmt24 = [...fmtBody];
      fmt24.splice(14, 2, ...u16(24));
      const cases = [riff(chunk('fmt ', fmt24), chunk('data', samples)), Uint8Array.from(ascii('RIFF')),
        base.subarray(0, 30), riff(chunk('fmt ', fmtBody)), riff(chunk('data', samples))];
      for (const [i, bytes] of cases.entries()) {
        const file = path.join(dir, `${i}.wav`);
        await writeFile(file, bytes);
        let expected: unknown;
        try {
          parseWav(bytes, 'x.wav');
        } catch (e) {
          expected = e;
        }
        await expect(readWavHeader(file, 'x.wav'), String(i)).rejects.toEqual(expected);
      }
    });
  });
});
