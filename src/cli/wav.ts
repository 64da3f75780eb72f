/**
 * Minimal RIFF/WAVE reader for the CLI: 16-bit PCM, 32-bit IEEE float or 8-bit G.711 (mu-law, A-law: telephony
 * recordings), mono or stereo, 8000-48000 Hz, including WAVE_FORMAT_EXTENSIBLE with one of those sub-formats, and
 * RF64 (EBU Tech 3306: sizes past 4 GiB in a `ds64` chunk, written by ffmpeg `-rf64` and broadcast recorders even for
 * short files), its chunks in any order (`fmt ` may follow `data`). The sample bytes are returned as they are in the
 * file (little-endian, interleaved), i.e. already in the wire encodings `pcm_s16le` / `pcm_f32le` / `mulaw` / `alaw`
 * of Protocol v1.
 * Format reference: http://www-mmsp.ece.mcgill.ca/Documents/AudioFormats/WAVE/WAVE.html
 */
import type { Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { GatewayError } from '../protocol/errors.js';
import { PROTOCOL_LIMITS, type AudioEncoding } from '../protocol/messages.js';

/** A WAV file's format, as session.start `audio` carries it. */
export interface WavHeader {
  encoding: AudioEncoding;
  sampleRateHz: number;
  channels: 1 | 2;
  /** Bytes of one sample frame (all channels). */
  frameBytes: number;
  durationMs: number;
}

export interface WavAudio extends WavHeader {
  /** Interleaved samples as the file has them (a view into the file's bytes), whole sample frames. */
  data: Uint8Array;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_ALAW = 6;
const WAVE_FORMAT_MULAW = 7;
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
function dataEnd(fileBytes: number, riffSpansFile: boolean, body: number, dataSize: number): number {
  if (dataSize === 0 && !riffSpansFile) return fileBytes;
  return Math.min(body + dataSize, fileBytes);
}

interface WavFmt { format: number; channels: number; rate: number; bits: number }

/** The `fmt ` chunk of `size` bytes, `body` its first bytes in the file (up to EXTENSIBLE_FMT_BYTES); an extensible
 *  one's format is its sub-format's tag. */
function readFmt(body: Uint8Array, size: number, source: string): WavFmt {
  if (size < 16) throw bad(source, `fmt chunk of ${size} bytes is too short`);
  const inFile = body.byteLength;
  if (inFile < 16) throw bad(source, `fmt chunk is truncated: ${inFile} of ${size} bytes in the file`);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let format = view.getUint16(0, true);
  if (format === WAVE_FORMAT_EXTENSIBLE) {
    if (inFile < Math.min(size, EXTENSIBLE_FMT_BYTES)) {
      throw bad(source, `extensible fmt chunk is truncated: ${inFile} of ${size} bytes in the file`);
    }
    // cbSize (the extension's length) says whether the sub-format is there; the tag alone names no sample format
    const cbSize = size >= 18 ? view.getUint16(16, true) : 0;
    if (cbSize < 22 || size < EXTENSIBLE_FMT_BYTES) {
      throw bad(source, `WAVE_FORMAT_EXTENSIBLE needs cbSize 22 (a sub-format), got ${cbSize}`);
    }
    const guid = body.subarray(24, EXTENSIBLE_FMT_BYTES);
    if (SUBTYPE_TAIL.some((b, i) => guid[i + 2] !== b)) {
      const hex = (from: number, to: number): string => [...guid.subarray(from, to)]
        .map((b) => b.toString(16).padStart(2, '0')).join('');
      const le = (from: number, to: number): string => hex(from, to).match(/../g)!.reverse().join('');
      throw bad(source, `unsupported WAVE_FORMAT_EXTENSIBLE sub-format ${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-`
        + `${hex(8, 10)}-${hex(10, 16)}`);
    }
    format = view.getUint16(24, true);
  }
  return { format, channels: view.getUint16(2, true), rate: view.getUint32(4, true), bits: view.getUint16(14, true) };
}

/** A byte range of the file that the chunk walk needs next; at the end of the file it gets fewer bytes. */
interface ByteRange { offset: number; length: number }

/** Where the audio of a file lies, and its format. */
interface WavLayout { fmt: WavFmt; dataStart: number; dataEnd: number }

const u32At = (b: Uint8Array, off: number): number =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
const tagAt = (b: Uint8Array, off: number): string => String.fromCharCode(...b.subarray(off, off + 4));

/**
 * Walks the chunks of a file of `fileBytes` bytes, asking for the bytes it reads (chunk headers, the `fmt ` and
 * `ds64` bodies), never the audio: so a whole file in memory (parseWav) and the header check of a manifest's files
 * (readWavHeader: a few small reads per file, whatever its size) read alike.
 */
function* walkWav(fileBytes: number, source: string): Generator<ByteRange, WavLayout, Uint8Array> {
  const head = yield { offset: 0, length: 12 };
  const rf64 = head.byteLength >= 12 && tagAt(head, 0) === 'RF64';
  if (head.byteLength < 12 || (tagAt(head, 0) !== 'RIFF' && !rf64) || tagAt(head, 8) !== 'WAVE') {
    throw bad(source, 'not a RIFF/WAVE file');
  }
  const riffSpansFile = u32At(head, 4) + 8 === fileBytes;
  let fmt: WavFmt | null = null;
  let data: { start: number; end: number } | null = null;
  let ds64DataSize: number | null = null;
  // RIFF allows any chunk order, and some writers put fmt after data: read on until both are found
  for (let off = 12; off + 8 <= fileBytes && (fmt === null || data === null);) {
    const header = yield { offset: off, length: 8 };
    const id = tagAt(header, 0);
    const size = u32At(header, 4);
    const body = off + 8;
    if (id === 'fmt ') {
      fmt = readFmt(yield { offset: body, length: Math.min(size, EXTENSIBLE_FMT_BYTES) }, size, source);
    } else if (id === 'ds64' && rf64 && size >= 16) {
      const ds64 = yield { offset: body, length: 16 };
      if (ds64.byteLength === 16) ds64DataSize = u32At(ds64, 8) + u32At(ds64, 12) * 2 ** 32;
    } else if (id === 'data') {
      const dataSize = size === 0xffffffff && ds64DataSize !== null ? ds64DataSize : size;
      data = { start: body, end: dataEnd(fileBytes, riffSpansFile, body, dataSize) };
      // past the ds64 size, not the placeholder; a data chunk that runs to the end of the file leaves nothing after it
      off = Math.max(data.end, body + dataSize + (dataSize % 2));
      continue;
    }
    off = body + size + (size % 2); // chunks are word-aligned
  }
  if (fmt === null) throw bad(source, 'no fmt chunk');
  if (data === null) throw bad(source, 'no data chunk');
  return { fmt, dataStart: data.start, dataEnd: data.end };
}

/** The wire encoding of each WAVE format tag, in the one sample width Protocol v1 carries it in. */
const WIRE_FORMATS: ReadonlyMap<number, { bits: number; encoding: AudioEncoding; name: string }> = new Map([
  [WAVE_FORMAT_PCM, { bits: 16, encoding: 'pcm_s16le', name: 'integer PCM' }],
  [WAVE_FORMAT_IEEE_FLOAT, { bits: 32, encoding: 'pcm_f32le', name: 'float' }],
  // telephony recordings: sent as they are, so the server's own G.711 decoder hears them
  [WAVE_FORMAT_MULAW, { bits: 8, encoding: 'mulaw', name: 'mu-law' }],
  [WAVE_FORMAT_ALAW, { bits: 8, encoding: 'alaw', name: 'A-law' }],
]);

/** The header of the audio whose walk gave `layout`. Throws GW_ERR_BAD_MESSAGE naming `source` and the value. */
function wavHeader(layout: WavLayout, source: string): WavHeader {
  const { fmt } = layout;
  const wire = WIRE_FORMATS.get(fmt.format);
  if (wire === undefined || wire.bits !== fmt.bits) {
    // Protocol v1 carries neither 24- nor 32-bit integers: sent as they are they would be read as noise
    const named = wire === undefined ? `format ${fmt.format} with ${fmt.bits} bits`
      : `${fmt.bits}-bit ${wire.name} (format ${fmt.format} with ${fmt.bits} bits)`;
    throw bad(source, `only 16-bit PCM, 32-bit float or 8-bit G.711 is supported, got ${named}; convert it, e.g. `
      + '`ffmpeg -i IN -c:a pcm_s16le OUT.wav`');
  }
  if (fmt.channels !== 1 && fmt.channels !== 2) throw bad(source, `channels must be 1 or 2, got ${fmt.channels}`);
  if (fmt.rate < PROTOCOL_LIMITS.minSampleRateHz || fmt.rate > PROTOCOL_LIMITS.maxSampleRateHz) {
    throw bad(source, `sample rate must be in [${PROTOCOL_LIMITS.minSampleRateHz}, ${PROTOCOL_LIMITS.maxSampleRateHz}] Hz, `
      + `got ${fmt.rate}`);
  }
  const frameBytes = (fmt.bits / 8) * fmt.channels;
  const frames = Math.floor((layout.dataEnd - layout.dataStart) / frameBytes);
  return { encoding: wire.encoding, sampleRateHz: fmt.rate, channels: fmt.channels, frameBytes,
    durationMs: (frames / fmt.rate) * 1000 };
}

/** Parses a WAV file's bytes. Throws GW_ERR_BAD_MESSAGE naming `source` and the unsupported value. */
export function parseWav(bytes: Uint8Array, source = 'WAV'): WavAudio {
  const walk = walkWav(bytes.byteLength, source);
  let step = walk.next();
  while (step.done !== true) step = walk.next(bytes.subarray(step.value.offset, step.value.offset + step.value.length));
  const header = wavHeader(step.value, source);
  const data = bytes.subarray(step.value.dataStart, step.value.dataEnd);
  return { ...header, data: data.subarray(0, data.byteLength - (data.byteLength % header.frameBytes)) };
}

function unreadable(source: string, e: unknown): GatewayError {
  return new GatewayError('GW_ERR_BAD_MESSAGE', `cannot read ${source}: ${(e as Error).message}`, { cause: e });
}

/** A WAV file whose audio stays on the disk until it is sent ({@link wavFileChunks}). */
export interface WavFile extends WavHeader {
  file: string;
  /** Name in errors. */
  source: string;
  /** Where the audio starts in the file, and its bytes (whole sample frames). */
  dataStart: number;
  dataBytes: number;
}

/** `file.read` of `length` bytes at `offset`, fewer at the end of the file; errors as GW_ERR_BAD_MESSAGE. */
async function readAt(file: FileHandle, offset: number, length: number, source: string): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  try {
    return buf.subarray(0, (await file.read(buf, 0, length, offset)).bytesRead);
  } catch (e) {
    throw unreadable(source, e);
  }
}

/**
 * What {@link parseWav} would say of the file, read from its chunk headers only (a few reads of a few bytes, none of
 * the audio, nothing kept): `eval` checks thousands of files so before the first is transcribed, and a file of any
 * size is sent from the disk (Node's readFile refuses files past 2 GiB: hours of audio, RF64 recordings).
 */
export async function readWavHeader(filePath: string, source = filePath): Promise<WavFile> {
  // checked before the open too: opening a FIFO (`transcribe <(...)`) waits for its writer, so it was refused only then
  let before: Stats;
  try {
    before = await stat(filePath);
  } catch (e) {
    throw unreadable(source, e);
  }
  checkRegularFile(before, source);
  let file: FileHandle;
  try {
    file = await open(filePath, 'r');
  } catch (e) {
    throw unreadable(source, e);
  }
  try {
    let stats: Stats;
    try {
      stats = await file.stat();
    } catch (e) {
      throw unreadable(source, e);
    }
    checkRegularFile(stats, source); // what was opened, which may not be what was checked
    const fileBytes = stats.size;
    const walk = walkWav(fileBytes, source);
    let step = walk.next();
    while (step.done !== true) step = walk.next(await readAt(file, step.value.offset, step.value.length, source));
    const header = wavHeader(step.value, source);
    const dataBytes = step.value.dataEnd - step.value.dataStart;
    return { ...header, file: filePath, source, dataStart: step.value.dataStart,
      dataBytes: dataBytes - (dataBytes % header.frameBytes) };
  } finally {
    await file.close();
  }
}

/** Chunks are found, and audio read, by position: a pipe failed with a bare "ESPIPE: invalid seek". */
function checkRegularFile(stats: Stats, source: string): void {
  if (stats.isDirectory()) throw bad(source, 'is a directory, not a WAV file');
  if (!stats.isFile()) {
    throw bad(source, 'not a regular file (a pipe?): the audio is read from the disk as it is sent; save it to a file '
      + 'first');
  }
}

/** Bytes read from the disk at a time by {@link wavFileChunks}: few reads, little memory. */
const READ_BLOCK_BYTES = 1 << 20;

/** {@link wavChunks} of a file's audio, read from the disk a block at a time as the chunks are taken. */
export async function* wavFileChunks(wav: WavFile, chunkMs = 50): AsyncGenerator<Uint8Array> {
  const step = chunkBytes(wav, chunkMs);
  const block = Math.max(1, Math.floor(READ_BLOCK_BYTES / step)) * step;
  let file: FileHandle;
  try {
    file = await open(wav.file, 'r');
  } catch (e) {
    throw unreadable(wav.source, e);
  }
  try {
    for (let off = 0; off < wav.dataBytes; off += block) {
      const want = Math.min(block, wav.dataBytes - off);
      const bytes = await readAt(file, wav.dataStart + off, want, wav.source);
      if (bytes.byteLength < want) throw unreadable(wav.source, new Error('the file got shorter since it was checked'));
      for (let at = 0; at < want; at += step) yield bytes.subarray(at, Math.min(at + step, want));
    }
  } finally {
    await file.close();
  }
}

/** Bytes of `chunkMs` of audio, in whole sample frames (at least one). */
function chunkBytes(wav: WavHeader, chunkMs: number): number {
  return Math.max(1, Math.round((wav.sampleRateHz * chunkMs) / 1000)) * wav.frameBytes;
}

/** Splits the audio into chunks of `chunkMs` (whole sample frames; the last may be shorter). Views, no copies. */
export function* wavChunks(wav: WavAudio, chunkMs = 50): Generator<Uint8Array> {
  const step = chunkBytes(wav, chunkMs);
  for (let off = 0; off < wav.data.byteLength; off += step) {
    yield wav.data.subarray(off, Math.min(off + step, wav.data.byteLength));
  }
}

/** A 16-bit PCM (or 32-bit float) WAV file's bytes for `samples` interleaved in [-1, 1] (tests, fixtures). */
export function encodeWav(samples: Float32Array, sampleRateHz: number, channels: 1 | 2 = 1,
  encoding: Extract<AudioEncoding, 'pcm_s16le' | 'pcm_f32le'> = 'pcm_s16le'): Uint8Array {
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
