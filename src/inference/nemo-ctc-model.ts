/**
 * The NeMo streaming-CTC model family (../shared/docs/model-interface.md, beside the repository): a model directory
 * holds `model.onnx` (fp32), optionally `model.int8.onnx`, and `tokens.txt`; the model describes itself through its
 * ONNX custom metadata (window_size, chunk_shift, subsampling_factor, vocab_size, cache dims), read here at load.
 *
 * onnxruntime-node does not expose custom metadata, so {@link readOnnxMetadata} walks the top level of the ONNX
 * ModelProto with a tiny protobuf reader: field 14 `metadata_props` is a repeated StringStringEntryProto
 * (key = field 1, value = field 2). Every other field is skipped by its wire type (the graph is one large
 * length-delimited field, skipped without being parsed).
 *
 * Chunk geometry: a chunk of C output frames (C x 40 ms) reads T = 4C + 3 feature frames and consecutive chunks
 * overlap by 3 frames (hop 4C). Any C works with the same weights (dynamic chunk attention); the metadata's
 * window_size / chunk_shift describe the C = 4 (160 ms) chunk sherpa-onnx uses.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { FBANK_SAMPLE_RATE_HZ, FBANK_SHIFT_SAMPLES } from '../dsp/fbank.js';
import { GatewayError } from '../protocol/errors.js';

/**
 * Which ONNX file to load. `auto`: what the model directory's `default-precision.txt` says (written when the model is
 * evaluated: `int8` when its WER is within 5% of fp32's, else `fp32`), else int8 when present, else fp32.
 */
export type ModelPrecision = 'int8' | 'fp32' | 'auto';

export interface NemoCtcModelOptions {
  /**
   * `fp32` loads model.onnx, `int8` loads model.int8.onnx (error if absent), `auto` follows default-precision.txt.
   * Forcing fp32 is a configuration choice of the caller (CLI flag / env, e.g. for parity checks); this module
   * reads no environment variables.
   */
  precision: ModelPrecision;
}

export const DEFAULT_NEMO_CTC_MODEL_OPTIONS: Readonly<NemoCtcModelOptions> = { precision: 'auto' };

/** Everything the pipeline needs to know about a loaded model directory. */
export interface ModelInfo {
  /** Absolute model directory. */
  dir: string;
  /** Absolute path of the ONNX file that will be run. */
  onnxPath: string;
  /** Precision actually chosen (never `auto`). */
  precision: 'int8' | 'fp32';
  /** Directory name, e.g. `voxgate-conformer-ctc-en`. */
  name: string;
  /** Token symbols by id (tokens.txt). */
  tokens: string[];
  blankId: number;
  /** Id of the word separator `▁`, or -1 if the vocabulary has none. */
  separatorId: number;
  /** Columns of log_probs (V, incl. blank) = metadata vocab_size + 1 = tokens.length. */
  vocabSize: number;
  /** Feature frames per output frame (4). */
  subsamplingFactor: number;
  /** Duration of one output frame in ms (subsampling x 10 ms = 40). */
  frameMs: number;
  /** Extra feature frames a chunk reads beyond 4C (3): T = 4C + 3. */
  rightContextFeatureFrames: number;
  /** cache_last_channel per stream: [layers, left frames, 2 x model dim]. */
  cacheChannelShape: [number, number, number];
  /** cache_last_time per stream: [layers, model dim, kernel - 1]. */
  cacheTimeShape: [number, number, number];
  /** Metadata window_size (feature frames of sherpa's chunk) and chunk_shift (its hop). */
  windowSize: number;
  chunkShift: number;
  /** All custom metadata, values as stored (strings). */
  metadata: Record<string, string>;
}

export const MIN_CHUNK_MS = 80;
export const MAX_CHUNK_MS = 1280;
/** The shift of the fbank frames the gateway computes (10 ms). */
const FEATURE_SHIFT_MS = (1000 * FBANK_SHIFT_SAMPLES) / FBANK_SAMPLE_RATE_HZ;

function badConfig(message: string): GatewayError {
  return new GatewayError('GW_ERR_BAD_CONFIG', message);
}

/** Output frames C per chunk for `chunkMs`; throws GW_ERR_BAD_CONFIG unless it is a multiple of 40 in [80, 1280]. */
export function chunkFramesForMs(chunkMs: number, frameMs = 40): number {
  if (!Number.isInteger(chunkMs) || chunkMs % frameMs !== 0 || chunkMs < MIN_CHUNK_MS || chunkMs > MAX_CHUNK_MS) {
    throw badConfig(`chunkMs must be a multiple of ${frameMs} in [${MIN_CHUNK_MS}, ${MAX_CHUNK_MS}], got ${chunkMs}`);
  }
  return chunkMs / frameMs;
}

/** Feature frames T a full chunk of `chunkFrames` output frames reads: 4C + 3. */
export function chunkFeatureFrames(info: Pick<ModelInfo, 'subsamplingFactor' | 'rightContextFeatureFrames'>,
  chunkFrames: number): number {
  return info.subsamplingFactor * chunkFrames + info.rightContextFeatureFrames;
}

/** Output frames for T feature frames: (T - 7) // 4 + 1, 0 below 7 (two unpadded 3x3 stride-2 convolutions). */
export function outputFramesFor(featureFrames: number): number {
  return featureFrames < 7 ? 0 : Math.floor((featureFrames - 7) / 4) + 1;
}

/** Minimal protobuf reader over the top level of a ModelProto. */
class ProtoReader {
  pos = 0;
  constructor(private readonly buf: Uint8Array, private readonly path: string) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** Varint as a JS number (exact up to 2^53, enough for lengths and field tags). */
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw this.corrupt('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw this.corrupt('varint longer than 10 bytes');
  }

  bytes(): Uint8Array {
    const len = this.varint();
    if (this.pos + len > this.buf.length) throw this.corrupt(`field of ${len} bytes runs past the end`);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0: this.varint(); return;
      case 1: this.pos += 8; return;
      case 2: this.bytes(); return;
      case 5: this.pos += 4; return;
      default: throw this.corrupt(`unsupported wire type ${wireType}`);
    }
  }

  corrupt(why: string): GatewayError {
    return badConfig(`${this.path} is not a valid ONNX model (${why} at byte ${this.pos})`);
  }
}

/** Reads the custom metadata (ModelProto.metadata_props) of an ONNX file. */
export function readOnnxMetadata(onnxPath: string): Record<string, string> {
  let buf: Uint8Array;
  try {
    buf = readFileSync(onnxPath);
  } catch (e) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `cannot read ONNX model ${onnxPath}: ${(e as Error).message}`, { cause: e });
  }
  const utf8 = new TextDecoder('utf-8');
  const r = new ProtoReader(buf, onnxPath);
  const out: Record<string, string> = {};
  while (!r.done) {
    const tag = r.varint();
    const field = Math.floor(tag / 8), wire = tag & 7;
    if (field !== 14 || wire !== 2) {
      r.skip(wire);
      continue;
    }
    const entry = new ProtoReader(r.bytes(), onnxPath);
    let key = '', value = '';
    while (!entry.done) {
      const t = entry.varint();
      const f = Math.floor(t / 8), w = t & 7;
      if (w === 2 && (f === 1 || f === 2)) {
        const s = utf8.decode(entry.bytes());
        if (f === 1) key = s;
        else value = s;
      } else {
        entry.skip(w);
      }
    }
    out[key] = value;
  }
  return out;
}

/** Reads tokens.txt (`symbol id` per line, ids dense from 0). */
export function readTokens(tokensPath: string): string[] {
  let text: string;
  try {
    text = readFileSync(tokensPath, 'utf8');
  } catch (e) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `cannot read ${tokensPath}: ${(e as Error).message}`, { cause: e });
  }
  const tokens: string[] = [];
  // A byte order mark (editors on Windows write one) would become part of the first symbol, e.g. the blank's.
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  const count = lines.filter((line) => line.trim() !== '').length;
  lines.forEach((line, n) => {
    if (line.trim() === '') return;
    const m = /^(.*\S)\s+(\d+)\s*$/.exec(line);
    if (m === null) throw badConfig(`${tokensPath}:${n + 1}: expected "symbol id", got ${JSON.stringify(line)}`);
    const id = Number(m[2]);
    if (tokens[id] !== undefined) throw badConfig(`${tokensPath}:${n + 1}: duplicate token id ${id}`);
    tokens[id] = m[1]!;
  });
  // Dense means ids 0..count-1, not 0..tokens.length-1: an id past 2^32 - 2 is no array index, so tokens[id] is a
  // property that length never shows, and such a line would otherwise be dropped silently.
  for (let i = 0; i < count; i++) {
    if (tokens[i] === undefined) throw badConfig(`${tokensPath}: token id ${i} is missing (ids must be 0..N-1)`);
  }
  return tokens;
}

function metaInt(meta: Record<string, string>, key: string, onnxPath: string, fallback?: number): number {
  const raw = meta[key];
  if (raw === undefined) {
    if (fallback !== undefined) return fallback;
    throw badConfig(`${onnxPath}: ONNX metadata key ${JSON.stringify(key)} is missing`);
  }
  // Decimal digits only: Number() would read "" and " " as 0 and "0x13" as 19.
  const v = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(v)) {
    throw badConfig(`${onnxPath}: ONNX metadata ${key} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  }
  return v;
}

/** Throws GW_ERR_BAD_CONFIG quoting the bad value. */
export function validateNemoCtcModelOptions(o: NemoCtcModelOptions): void {
  if (o.precision !== 'int8' && o.precision !== 'fp32' && o.precision !== 'auto') {
    throw badConfig(`precision must be "int8", "fp32" or "auto", got ${JSON.stringify(o.precision)}`);
  }
}

function autoPrecision(dir: string, hasInt8: boolean): 'int8' | 'fp32' {
  const file = join(dir, 'default-precision.txt');
  if (!existsSync(file)) return hasInt8 ? 'int8' : 'fp32';
  let said: string;
  try {
    said = readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (said !== 'int8' && said !== 'fp32') throw badConfig(`${file} must say "int8" or "fp32", got ${JSON.stringify(said)}`);
  return said;
}

function pickOnnx(dir: string, precision: ModelPrecision): { onnxPath: string; precision: 'int8' | 'fp32' } {
  const fp32 = join(dir, 'model.onnx');
  const int8 = join(dir, 'model.int8.onnx');
  const want = precision === 'auto' ? autoPrecision(dir, existsSync(int8)) : precision;
  const onnxPath = want === 'int8' ? int8 : fp32;
  if (!existsSync(onnxPath)) throw badConfig(`model file ${onnxPath} does not exist (precision ${precision})`);
  return { onnxPath, precision: want };
}

/** Loads and checks a model directory. Throws GW_ERR_BAD_CONFIG quoting the path and the offending value. */
export function loadModelInfo(modelDir: string,
  options: NemoCtcModelOptions = DEFAULT_NEMO_CTC_MODEL_OPTIONS): ModelInfo {
  validateNemoCtcModelOptions(options);
  const dir = resolve(modelDir);
  if (!existsSync(dir)) throw badConfig(`model directory ${dir} does not exist`);
  const { onnxPath, precision } = pickOnnx(dir, options.precision);
  const tokensPath = join(dir, 'tokens.txt');
  const tokens = readTokens(tokensPath);
  const meta = readOnnxMetadata(onnxPath);
  const int = (k: string, fallback?: number): number => metaInt(meta, k, onnxPath, fallback);

  const vocabSize = int('vocab_size') + 1;
  if (vocabSize !== tokens.length) {
    throw badConfig(`${onnxPath}: metadata vocab_size + 1 = ${vocabSize} but ${tokensPath} has ${tokens.length} tokens`);
  }
  const blankId = tokens.findIndex((t) => t === '<blk>' || t === '<blank>' || t === '<eps>');
  if (blankId < 0) throw badConfig(`${tokensPath} has no blank token (<blk>, <blank> or <eps>)`);
  const subsamplingFactor = int('subsampling_factor');
  if (subsamplingFactor !== 4) {
    throw badConfig(`${onnxPath}: subsampling_factor must be 4 (10 ms frames x 4), got ${subsamplingFactor}`);
  }
  const cacheChannelShape: [number, number, number] =
    [int('cache_last_channel_dim1'), int('cache_last_channel_dim2'), int('cache_last_channel_dim3')];
  const cacheTimeShape: [number, number, number] =
    [int('cache_last_time_dim1'), int('cache_last_time_dim2'), int('cache_last_time_dim3')];
  for (const [k, s] of [['cache_last_channel', cacheChannelShape], ['cache_last_time', cacheTimeShape]] as const) {
    if (s.some((d) => d <= 0)) throw badConfig(`${onnxPath}: ${k} dims must be positive, got [${s.join(', ')}]`);
  }
  // A model trained on another frame shift would get features it never saw and report wrong timestamps.
  const frameShiftMs = int('frame_shift_ms', FEATURE_SHIFT_MS);
  if (frameShiftMs !== FEATURE_SHIFT_MS) {
    throw badConfig(`${onnxPath}: frame_shift_ms must be ${FEATURE_SHIFT_MS} (the gateway's fbank shift), `
      + `got ${frameShiftMs}`);
  }
  const rightContextFeatureFrames = int('right_context_feature_frames', 3);
  const windowSize = int('window_size');
  const chunkShift = int('chunk_shift');
  if (chunkShift % subsamplingFactor !== 0 || windowSize !== chunkShift + rightContextFeatureFrames) {
    throw badConfig(`${onnxPath}: window_size ${windowSize} / chunk_shift ${chunkShift} do not describe `
      + `T = ${subsamplingFactor}C + ${rightContextFeatureFrames} windows with hop ${subsamplingFactor}C`);
  }
  return {
    dir,
    onnxPath,
    precision,
    name: basename(dir),
    tokens,
    blankId,
    separatorId: tokens.indexOf('▁'),
    vocabSize,
    subsamplingFactor,
    frameMs: subsamplingFactor * frameShiftMs,
    rightContextFeatureFrames,
    cacheChannelShape,
    cacheTimeShape,
    windowSize,
    chunkShift,
    metadata: meta,
  };
}
