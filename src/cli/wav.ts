/**
 * Minimal RIFF/WAVE reader for the CLI: 16-bit PCM or 32-bit IEEE float, mono or stereo, 8000-48000 Hz, including
 * WAVE_FORMAT_EXTENSIBLE with a PCM / float sub-format, and RF64 (EBU Tech 3306: sizes past 4 GiB in a `ds64` chunk,
 * written by ffmpeg `-rf64` and broadcast recorders even for short files). The sample bytes are returned as they are
 * in the file (little-endian, interleaved), i.e. already in the wire encodings `pcm_s16le` / `pcm_f32le` of Protocol v1.
 * Format reference: http://www-mmsp.ece.mcgill.ca/Documents/AudioFormats/WAVE/WAVE.html
 */
import { readFile } from 'node:fs/promises';
import { GatewayError } from '../protocol/errors.js';
import { PROTOCOL_LIMITS, type AudioEncoding } from '../protocol/messages.js';

export interface WavAudio {
  encoding: Extract<AudioEncoding, 'pcm_s16le' | 'pcm_f32le'>;
  sampleRateHz: number;
  channels: 1 | 2;
  /** Interleaved little-endian samples (a view into the file's bytes). */
  data: Uint8Array;
  /** Bytes of one sample frame (all channels). */
  frameBytes: number;
  durationMs: number;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

function bad(source: string, why: string): GatewayError {
  return new GatewayError('GW_ERR_BAD_MESSAGE', `${source}: ${why}`);
}

/**
 * Where the samples of a `data` chunk whose body starts at `body` end. A writer that cannot seek back (sox or ffmpeg
 * to a pipe, a recorder killed mid-take) leaves a placeholder size: sox 0x7FFFF000, ffmpeg 0xFFFFFFFF (also RF64
 * without ds64), others 0. So any size past the end of the file means the rest of the file, which also reads a file
 * cut short (a broken download) as far as it goes, its last partial sample frame dropped: refusing it would refuse
 * every piped file. A 0 size is a placeholder only while the RIFF size is one too (it does not span the file): a
 * writer that went back to fill in sizes filled in both, so there 0 is an empty chunk and the bytes after it are
 * further chunks (LIST metadata), not audio.
 */
function dataEnd(bytes: Uint8Array, view: DataView, body: number, dataSize: number): number {
  const riffSpansFile = view.getUint32(4, true) + 8 === bytes.byteLength;
  if (dataSize === 0 && !riffSpansFile) return bytes.byteLength;
  return Math.min(body + dataSize, bytes.byteLength);
}

/** Parses a WAV file's bytes. Throws GW_ERR_BAD_MESSAGE naming `source` and the unsupported value. */
export function parseWav(bytes: Uint8Array, source = 'WAV'): WavAudio {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (off: number): string => String.fromCharCode(...bytes.subarray(off, off + 4));
  const rf64 = bytes.byteLength >= 12 && tag(0) === 'RF64';
  if (bytes.byteLength < 12 || (tag(0) !== 'RIFF' && !rf64) || tag(8) !== 'WAVE') {
    throw bad(source, 'not a RIFF/WAVE file');
  }
  let fmt: { format: number; channels: number; rate: number; bits: number } | null = null;
  let data: Uint8Array | null = null;
  let ds64DataSize: number | null = null;
  for (let off = 12; off + 8 <= bytes.byteLength;) {
    const id = tag(off);
    const size = view.getUint32(off + 4, true);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16) throw bad(source, `fmt chunk of ${size} bytes is too short`);
      const inFile = Math.min(size, bytes.byteLength - body);
      if (inFile < 16) throw bad(source, `fmt chunk is truncated: ${inFile} of ${size} bytes in the file`);
      let format = view.getUint16(body, true);
      if (format === WAVE_FORMAT_EXTENSIBLE && size >= 40) {
        if (inFile < 40) throw bad(source, `extensible fmt chunk is truncated: ${inFile} of ${size} bytes in the file`);
        format = view.getUint16(body + 24, true); // sub-format GUID
      }
      fmt = { format, channels: view.getUint16(body + 2, true), rate: view.getUint32(body + 4, true),
        bits: view.getUint16(body + 14, true) };
    } else if (id === 'ds64' && rf64 && size >= 16 && body + 16 <= bytes.byteLength) {
      ds64DataSize = view.getUint32(body + 8, true) + view.getUint32(body + 12, true) * 2 ** 32;
    } else if (id === 'data') {
      const dataSize = size === 0xffffffff && ds64DataSize !== null ? ds64DataSize : size;
      data = bytes.subarray(body, dataEnd(bytes, view, body, dataSize));
      break;
    }
    off = body + size + (size % 2); // chunks are word-aligned
  }
  if (fmt === null) throw bad(source, 'no fmt chunk');
  if (data === null) throw bad(source, 'no data chunk');
  let encoding: WavAudio['encoding'];
  if (fmt.format === WAVE_FORMAT_PCM && fmt.bits === 16) encoding = 'pcm_s16le';
  else if (fmt.format === WAVE_FORMAT_IEEE_FLOAT && fmt.bits === 32) encoding = 'pcm_f32le';
  else throw bad(source, `only 16-bit PCM or 32-bit float is supported, got format ${fmt.format} with ${fmt.bits} bits`);
  if (fmt.channels !== 1 && fmt.channels !== 2) throw bad(source, `channels must be 1 or 2, got ${fmt.channels}`);
  if (fmt.rate < PROTOCOL_LIMITS.minSampleRateHz || fmt.rate > PROTOCOL_LIMITS.maxSampleRateHz) {
    throw bad(source, `sample rate must be in [${PROTOCOL_LIMITS.minSampleRateHz}, ${PROTOCOL_LIMITS.maxSampleRateHz}] Hz, `
      + `got ${fmt.rate}`);
  }
  const frameBytes = (fmt.bits / 8) * fmt.channels;
  const whole = data.subarray(0, data.byteLength - (data.byteLength % frameBytes));
  return {
    encoding, sampleRateHz: fmt.rate, channels: fmt.channels, data: whole, frameBytes,
    durationMs: (whole.byteLength / frameBytes / fmt.rate) * 1000,
  };
}

export async function readWavFile(filePath: string): Promise<WavAudio> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(filePath);
  } catch (e) {
    throw new GatewayError('GW_ERR_BAD_MESSAGE', `cannot read ${filePath}: ${(e as Error).message}`, { cause: e });
  }
  return parseWav(bytes, filePath);
}

/** Splits the audio into chunks of `chunkMs` (whole sample frames; the last may be shorter). Views, no copies. */
export function* wavChunks(wav: WavAudio, chunkMs = 50): Generator<Uint8Array> {
  const step = Math.max(1, Math.round((wav.sampleRateHz * chunkMs) / 1000)) * wav.frameBytes;
  for (let off = 0; off < wav.data.byteLength; off += step) {
    yield wav.data.subarray(off, Math.min(off + step, wav.data.byteLength));
  }
}

/** A 16-bit PCM (or 32-bit float) WAV file's bytes for `samples` interleaved in [-1, 1] (tests, fixtures). */
export function encodeWav(samples: Float32Array, sampleRateHz: number, channels: 1 | 2 = 1,
  encoding: WavAudio['encoding'] = 'pcm_s16le'): Uint8Array {
  const bytesPerSample = encoding === 'pcm_s16le' ? 2 : 4;
  const dataBytes = samples.length * bytesPerSample;
  const out = new Uint8Array(44 + dataBytes);
  const v = new DataView(out.buffer);
  const put = (off: number, s: string): void => { for (let i = 0; i < 4; i++) out[off + i] = s.charCodeAt(i); };
  put(0, 'RIFF'); v.setUint32(4, 36 + dataBytes, true); put(8, 'WAVE');
  put(12, 'fmt '); v.setUint32(16, 16, true);
  v.setUint16(20, encoding === 'pcm_s16le' ? WAVE_FORMAT_PCM : WAVE_FORMAT_IEEE_FLOAT, true);
  v.setUint16(22, channels, true); v.setUint32(24, sampleRateHz, true);
  v.setUint32(28, sampleRateHz * channels * bytesPerSample, true); v.setUint16(32, channels * bytesPerSample, true);
  v.setUint16(34, bytesPerSample * 8, true);
  put(36, 'data'); v.setUint32(40, dataBytes, true);
  for (let i = 0; i < samples.length; i++) {
    const x = Math.max(-1, Math.min(1, samples[i]!));
    if (encoding === 'pcm_s16le') v.setInt16(44 + 2 * i, Math.round(x * 32767), true);
    else v.setFloat32(44 + 4 * i, x, true);
  }
  return out;
}
