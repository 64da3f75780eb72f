import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/protocol/errors.js';
import {
  chunkFeatureFrames, chunkFramesForMs, loadModelInfo, outputFramesFor, readOnnxMetadata, readTokens,
} from '../../src/inference/nemo-ctc-model.js';
import { MODEL_DIR } from './helpers.js';

function badConfig(fn: () => unknown, quote: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    expect((e as GatewayError).code).toBe('GW_ERR_BAD_CONFIG');
    expect((e as GatewayError).message).toMatch(quote);
    return;
  }
  throw new Error('expected a GW_ERR_BAD_CONFIG');
}

const tmp = mkdtempSync(join(tmpdir(), 'voxgate-model-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('chunkFramesForMs', () => {
  it('maps multiples of 40 ms in [80, 1280] to output frames', () => {
    expect(chunkFramesForMs(80)).toBe(2);
    expect(chunkFramesForMs(160)).toBe(4);
    expect(chunkFramesForMs(640)).toBe(16);
    expect(chunkFramesForMs(1280)).toBe(32);
  });

  it('rejects other values, quoting them', () => {
    for (const ms of [0, 40, 100, 159.5, 1320, -160, Number.NaN]) badConfig(() => chunkFramesForMs(ms), new RegExp(`got ${ms}`));
    badConfig(() => chunkFramesForMs(100), /chunkMs must be a multiple of 40 in \[80, 1280\], got 100/);
  });

  it('chunk geometry: T = 4C + 3 feature frames give C output frames', () => {
    const geo = { subsamplingFactor: 4, rightContextFeatureFrames: 3 };
    for (const c of [1, 2, 4, 8, 16, 32]) expect(outputFramesFor(chunkFeatureFrames(geo, c))).toBe(c);
    expect(outputFramesFor(6)).toBe(0);
    expect(outputFramesFor(7)).toBe(1);
    expect(outputFramesFor(10)).toBe(1);
    expect(outputFramesFor(11)).toBe(2);
  });
});

describe('loadModelInfo (real model)', () => {
  it('reads the ONNX custom metadata and tokens', () => {
    const info = loadModelInfo(MODEL_DIR, { precision: 'fp32' });
    expect(info.precision).toBe('fp32');
    expect(info.onnxPath).toBe(join(info.dir, 'model.onnx'));
    expect(info.name).toBe('voxgate-conformer-ctc-en');
    expect(info.tokens.slice(0, 4)).toEqual(['<blk>', '▁', "'", 'a']);
    expect(info.tokens[28]).toBe('z');
    expect(info).toMatchObject({
      blankId: 0, separatorId: 1, vocabSize: 29, subsamplingFactor: 4, frameMs: 40, rightContextFeatureFrames: 3,
      windowSize: 19, chunkShift: 16,
    });
    // Cache dims come from the metadata and agree with the model config they describe.
    const m = info.metadata;
    expect(info.cacheChannelShape).toEqual([+m.cache_last_channel_dim1!, +m.cache_last_channel_dim2!, +m.cache_last_channel_dim3!]);
    expect(info.cacheTimeShape).toEqual([+m.cache_last_time_dim1!, +m.cache_last_time_dim2!, +m.cache_last_time_dim3!]);
    expect(info.cacheChannelShape[0]).toBe(info.cacheTimeShape[0]);
    expect(info.cacheChannelShape[1]).toBe(Number(m.left_context_frames));
    expect(info.cacheChannelShape[2]).toBe(2 * info.cacheTimeShape[1]);
    // Every key sherpa-onnx requires is present, as a string.
    for (const k of ['window_size', 'chunk_shift', 'subsampling_factor', 'vocab_size', 'cache_last_channel_dim1',
      'cache_last_channel_dim2', 'cache_last_channel_dim3', 'cache_last_time_dim1', 'cache_last_time_dim2',
      'cache_last_time_dim3']) {
      expect(typeof m[k]).toBe('string');
    }
    expect(m.vocab_size).toBe('28');
  });

  it("'auto' picks the int8 file when present and no default-precision.txt decides; int8 metadata matches fp32", () => {
    const dir = join(tmp, 'both');
    modelDirWithoutInt8(dir);
    symlinkSync(resolve(MODEL_DIR, 'model.int8.onnx'), join(dir, 'model.int8.onnx'));
    const auto = loadModelInfo(dir, { precision: 'auto' });
    expect(auto.precision).toBe('int8');
    expect(auto.onnxPath.endsWith('model.int8.onnx')).toBe(true);
    const fp32 = loadModelInfo(MODEL_DIR, { precision: 'fp32' });
    expect(auto.cacheChannelShape).toEqual(fp32.cacheChannelShape);
    expect(auto.metadata).toEqual(fp32.metadata);
  });

  it("'auto' follows default-precision.txt (decided by the model's evaluation) and rejects other words", () => {
    const dir = join(tmp, 'decided');
    modelDirWithoutInt8(dir);
    symlinkSync(resolve(MODEL_DIR, 'model.int8.onnx'), join(dir, 'model.int8.onnx'));
    writeFileSync(join(dir, 'default-precision.txt'), 'fp32\n');
    expect(loadModelInfo(dir, { precision: 'auto' }).precision).toBe('fp32');
    expect(loadModelInfo(dir, { precision: 'int8' }).precision).toBe('int8');
    writeFileSync(join(dir, 'default-precision.txt'), 'int8\n');
    expect(loadModelInfo(dir, { precision: 'auto' }).precision).toBe('int8');
    writeFileSync(join(dir, 'default-precision.txt'), 'fp16\n');
    badConfig(() => loadModelInfo(dir, { precision: 'auto' }), /default-precision\.txt must say "int8" or "fp32", got "fp16"/);
  });

  it("'auto' falls back to fp32 without an int8 file; 'int8' then fails quoting the path", () => {
    const dir = join(tmp, 'fp32-only');
    modelDirWithoutInt8(dir);
    expect(loadModelInfo(dir, { precision: 'auto' }).precision).toBe('fp32');
    badConfig(() => loadModelInfo(dir, { precision: 'int8' }), /model\.int8\.onnx does not exist/);
  });

  it('rejects bad directories, options, token lists and files with GW_ERR_BAD_CONFIG', () => {
    badConfig(() => loadModelInfo(join(tmp, 'nope'), { precision: 'fp32' }), /nope does not exist/);
    badConfig(() => loadModelInfo(MODEL_DIR, { precision: 'fp16' as never }), /precision must be .* got "fp16"/);
    const dir = join(tmp, 'bad-tokens');
    modelDirWithoutInt8(dir);
    writeFileSync(join(dir, 'tokens.txt'), '<blk> 0\na 1\n');
    badConfig(() => loadModelInfo(dir, { precision: 'fp32' }), /vocab_size \+ 1 = 29 but .*tokens\.txt has 2 tokens/);
    writeFileSync(join(dir, 'tokens.txt'), '<blk> 0\n\n b 2\n');
    badConfig(() => loadModelInfo(dir, { precision: 'fp32' }), /tokens\.txt:3: expected "symbol id"|token id 1 is missing/);
    const junk = join(tmp, 'junk.onnx');
    writeFileSync(junk, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x7f, 0x01]));
    badConfig(() => readOnnxMetadata(junk), /junk\.onnx is not a valid ONNX model/);
  });

  it('reads a tokens.txt saved with a byte order mark (the first token stays "<blk>")', () => {
    const dir = join(tmp, 'bom-tokens');
    modelDirWithoutInt8(dir);
    const plain = readFileSync(join(MODEL_DIR, 'tokens.txt'), 'utf8');
    writeFileSync(join(dir, 'tokens.txt'), `\uFEFF${plain}`);
    expect(readTokens(join(dir, 'tokens.txt'))).toEqual(readTokens(join(MODEL_DIR, 'tokens.txt')));
    expect(loadModelInfo(dir, { precision: 'fp32' }).blankId).toBe(0);
  });

  // ids past 2^32 - 2 are no array index: tokens[id] became a plain property, and the line was dropped silently
  it.each(['4294967295', '99999999999999999999', '30'])('refuses a token id %s past the dense range', (id) => {
    const path = join(tmp, `tokens-${id.length}.txt`);
    writeFileSync(path, `${readFileSync(join(MODEL_DIR, 'tokens.txt'), 'utf8')}x ${id}\n`);
    badConfig(() => readTokens(path), new RegExp(`tokens-${id.length}\\.txt: token id 29 is missing`));
  });

  it('an unreadable default-precision.txt fails with GW_ERR_BAD_CONFIG naming it', () => {
    const dir = join(tmp, 'precision-dir');
    modelDirWithoutInt8(dir);
    mkdirSync(join(dir, 'default-precision.txt')); // exists, but reading it fails (EISDIR)
    badConfig(() => loadModelInfo(dir, { precision: 'auto' }), /cannot read .*default-precision\.txt/);
  });

  // The gateway's features are fixed 10 ms fbank frames, and a metadata value is a decimal string (sherpa's reading).
  it.each([
    ['frame_shift_ms', '20', /frame_shift_ms must be 10 .*got 20/],
    ['frame_shift_ms', '0', /frame_shift_ms must be 10 .*got 0/],
    ['cache_last_time_dim3', '', /cache_last_time_dim3 must be a non-negative integer, got ""/],
    ['right_context_feature_frames', '', /right_context_feature_frames must be a non-negative integer, got ""/],
    ['vocab_size', ' 28 ', /vocab_size must be a non-negative integer, got " 28 "/],
    ['window_size', '0x13', /window_size must be a non-negative integer, got "0x13"/],
  ])('refuses ONNX metadata %s = %j, quoting it', (key, value, quote) => {
    const dir = join(tmp, `meta-${key}-${value.length}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(MODEL_DIR, 'tokens.txt'), join(dir, 'tokens.txt'));
    const meta = { ...readOnnxMetadata(join(MODEL_DIR, 'model.onnx')), [key]: value };
    writeFileSync(join(dir, 'model.onnx'), onnxWithMetadataOnly(meta));
    expect(readOnnxMetadata(join(dir, 'model.onnx'))).toEqual(meta);
    badConfig(() => loadModelInfo(dir, { precision: 'fp32' }), quote);
  });
});

/** A ModelProto holding only metadata_props (field 14: key = field 1, value = field 2): all loadModelInfo reads. */
function onnxWithMetadataOnly(meta: Record<string, string>): Buffer {
  const varint = (n: number): number[] => (n < 128 ? [n] : [(n & 127) | 128, ...varint(Math.floor(n / 128))]);
  const field = (tag: number, bytes: Buffer): Buffer => Buffer.concat([Buffer.from([tag, ...varint(bytes.length)]), bytes]);
  return Buffer.concat(Object.entries(meta).map(([k, v]) =>
    field(14 * 8 + 2, Buffer.concat([field(1 * 8 + 2, Buffer.from(k)), field(2 * 8 + 2, Buffer.from(v))]))));
}

/** A model dir with tokens.txt (a copy) and model.onnx only (a symlink to the real fp32 file). */
function modelDirWithoutInt8(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  symlinkSync(resolve(MODEL_DIR, 'model.onnx'), join(dir, 'model.onnx'));
  copyFileSync(join(MODEL_DIR, 'tokens.txt'), join(dir, 'tokens.txt'));
}
