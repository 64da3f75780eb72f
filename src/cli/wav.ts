/**
 * Minimal RIFF/WAVE reader for the CLI: 16-bit PCM or 32-bit IEEE float, mono or stereo, 8000-48000 Hz, including
 * WAVE_FORMAT_EXTENSIBLE with a PCM / float sub-format, and RF64 (EBU Tech 3306: sizes past 4 GiB in a `ds64` chunk,
 * written by ffmpeg `-rf64` and broadcast recorders even for short files), its chunks in any order (`fmt ` may follow
 * `data`). The sample bytes are returned as they are in the file (little-endian, interleaved), i.e. already in the
 * wire encodings `pcm_s16le` / `pcm_f32le` of Protocol v1.
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
/**
 * Bytes 2-15 of every KSDATAFORMAT_SUBTYPE_* GUID that stands for a plain format tag (xxxxxxxx-0000-0010-8000-
 * 00aa00389b71, the tag in the first two bytes). Other sub-formats (ambisonics, vendors) also start with small
 * numbers: read as a tag, 00000001-0721-... was taken for PCM.
 */
const SUBTYPE_TAIL = [0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71];
/** Bytes of a `fmt ` body up to and including the extensible sub-format GUID. */
const EXTENSIBLE_FMT_BYTES = 40;

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

interface WavFmt { format: number; channels: number; rate: number; bits: number }

/** The `fmt ` chunk whose body starts at `body`; an extensible one's format is its sub-format's tag. */
function readFmt(bytes: Uint8Array, view: DataView, body: number, size: number, source: string): WavFmt {
  if (size < 16) throw bad(source, `fmt chunk of ${size} bytes is too short`);
  const inFile = Math.min(size, bytes.byteLength - body);
  if (inFile < 16) throw bad(source, `fmt chunk is truncated: ${inFile} of ${size} bytes in the file`);
  let format = view.getUint16(body, true);
  if (format === WAVE_FORMAT_EXTENSIBLE) {
    if (inFile < Math.min(size, EXTENSIBLE_FMT_BYTES)) {
      throw bad(source, `extensible fmt chunk is truncated: ${inFile} of ${size} bytes in the file`);
    }
    // cbSize (the extension's length) says whether the sub-format is there; the tag alone names no sample format
    const cbSize = size >= 18 ? view.getUint16(body + 16, true) : 0;
    if (cbSize < 22 || size < EXTENSIBLE_FMT_BYTES) {
      throw bad(source, `WAVE_FORMAT_EXTENSIBLE needs cbSize 22 (a sub-format), got ${cbSize}`);
    }
    const guid = bytes.subarray(body + 24, body + EXTENSIBLE_FMT_BYTES);
    if (SUBTYPE_TAIL.some((b, i) => guid[i + 2] !== b)) {
      const hex = (from: number, to: number): string => [...guid.subarray(from, to)]
        .map((b) => b.toString(16).padStart(2, '0')).join('');
      const le = (from: number, to: number): string => hex(from, to).match(/../g)!.reverse().join('');
      throw bad(source, `unsupported WAVE_FORMAT_EXTENSIBLE sub-format ${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-`
        + `${hex(8, 10)}-${hex(10, 16)}`);
    }
    format = view.getUint16(body + 24, true);
  }
  return { format, channels: view.getUint16(body + 2, true), rate: view.getUint32(body + 4, true),
    bits: view.getUint16(body + 14, true) };
}

/** Parses a WAV file's bytes. Throws GW_ERR_BAD_MESSAGE naming `source` and the unsupported value. */
export function parseWav(bytes: Uint8Array, source = 'WAV'): WavAudio {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (off: number): string => String.fromCharCode(...bytes.subarray(off, off + 4));
  const rf64 = bytes.byteLength >= 12 && tag(0) === 'RF64';
  if (bytes.byteLength < 12 || (tag(0) !== 'RIFF' && !rf64) || tag(8) !== 'WAVE') {
    throw bad(source, 'not a RIFF/WAVE file');
  }
  let fmt: WavFmt | null = null;
  let data: Uint8Array | null = null;
  let ds64DataSize: number | null = null;
  // RIFF allows any chunk order, and some writers put fmt after data: read on until both are found
  for (let off = 12; off + 8 <= bytes.byteLength && (fmt === null || data === null);) {
    const id = tag(off);
    const size = view.getUint32(off + 4, true);
    const body = off + 8;
    if (id === 'fmt ') {
      fmt = readFmt(bytes, view, body, size, source);
    } else if (id === 'ds64' && rf64 && size >= 16 && body + 16 <= bytes.byteLength) {
      ds64DataSize = view.getUint32(body + 8, true) + view.getUint32(body + 12, true) * 2 ** 32;
    } else if (id === 'data') {
      const dataSize = size === 0xffffffff && ds64DataSize !== null ? ds64DataSize : size;
      const end = dataEnd(bytes, view, body, dataSize);
      data = bytes.subarray(body, end);
      // past the ds64 size, not the placeholder; a data chunk that runs to the end of the file leaves nothing after it
      off = Math.max(end, body + dataSize + (dataSize % 2));
      continue;
    }
    off = body + size + (size % 2); // chunks are word-aligned
  }
  if (fmt === null) throw bad(source, 'no fmt chunk');
  if (data === null) throw bad(source, 'no data chunk');
  let encoding: WavAudio['encoding'];
  if (fmt.format === WAVE_FORMAT_PCM && fmt.bits === 16) encoding = 'pcm_s16le';
  else if (fmt.format === WAVE_FORMAT_IEEE_FLOAT && fmt.bits === 32) encoding = 'pcm_f32le';
  else {
    // Protocol v1 carries neither 24- nor 32-bit integers: sent as they are they would be read as noise
    const named = fmt.format === WAVE_FORMAT_PCM ? `${fmt.bits}-bit integer PCM (format 1 with ${fmt.bits} bits)`
      : fmt.format === WAVE_FORMAT_IEEE_FLOAT ? `${fmt.bits}-bit float (format 3 with ${fmt.bits} bits)`
        : `format ${fmt.format} with ${fmt.bits} bits`;
    throw bad(source, `only 16-bit PCM or 32-bit float is supported, got ${named}; convert it, e.g. `
      + '`ffmpeg -i IN -c:a pcm_s16le OUT.wav`');
  }
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
