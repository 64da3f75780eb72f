/**
 * The only file that loads the native binary `build/Release/voxgate_native.node` (built by `node-gyp rebuild`,
 * the package's `install` script, from binding.gyp and native/).
 *
 * The binary is loaded lazily on first use and cached, so importing the inference layer never fails on a machine
 * without a build; the first decoder construction does, with GW_ERR_DECODER and the paths that were tried.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { DEFAULT_RESAMPLER_OPTIONS, polyphaseBank, validateResamplerOptions } from '../dsp/resampler.js';
import { GatewayError } from '../protocol/errors.js';

export interface NativeCtcDecoderOptions {
  vocabSize: number;
  blankId: number;
  /** Word separator: hotwords match whole words at it; -1 (the addon's default): a phrase matches anywhere. */
  separatorId?: number;
  beamSize: number;
  tokenThreshold: number;
  /** Shallow fusion with a shared token LM (see inference/token-lm.ts); absent: none. */
  lm?: NativeTokenLm;
  lmWeight?: number;
  lmTokenBonus?: number;
}

/** native/binding/addon.cc `TokenLm`: the tables of a token-lm.bin, copied and validated (GW_ERR_DECODER). */
export interface NativeTokenLm {
  readonly numStates: number;
}

/**
 * native/binding/addon.cc `CtcDecoder`. A result crosses as one ArrayBuffer (`tokens | frames | probs`, n x 4 bytes
 * each: Int32, Int32, Float32) owned by the caller, plus `[score, stablePrefixLength, trailingBlankFrames,
 * framesDecoded]` written into the caller's `scalars` (Float64Array(4)). Every method throws an Error with
 * `code: 'GW_ERR_DECODER'` on bad input or out of memory and leaves the decoder state unchanged, but for a chunk that
 * ran out of memory part way: then decodeChunk, current, finalize and finalAlternatives refuse until `reset()`.
 */
export interface NativeCtcDecoder {
  decodeChunk(logProbs: Float32Array, frames: number, vocabSize: number, scalars: Float64Array): ArrayBuffer;
  current(scalars: Float64Array): ArrayBuffer;
  finalize(scalars: Float64Array): ArrayBuffer;
  /** Int32 [count, lengths..., tokens...] of every live hypothesis, best first; `scores[i]` gets their final scores. */
  finalAlternatives(scores: Float64Array): ArrayBuffer;
  reset(): void;
  /** tokenIds: all phrases concatenated; lengths[i]: tokens of phrase i; boosts[i]: per-token bonus of phrase i. */
  setHotwords(tokenIds: Int32Array, lengths: Int32Array, boosts: Float64Array): void;
  readonly framesDecoded: number;
}

/**
 * native/binding/dsp-binding.cc `FbankExtractor`: native/src/kaldi-fbank.cc, the compiled twin of dsp/fbank.ts
 * `FbankExtractor` with the same methods and equal output. A bad argument or out of memory throws GW_ERR_INTERNAL
 * (a failed push or flush changes nothing).
 */
export interface NativeFbankExtractor {
  push(samples: Float32Array): Float32Array;
  flush(): Float32Array;
  reset(): void;
  readonly framesEmitted: number;
}

/**
 * native/binding/dsp-binding.cc `Resampler`: native/src/polyphase-resampler.cc running a bank designed by
 * dsp/resampler.ts `polyphaseBank` (`new Resampler(bank.up, bank.down, bank.halfTaps, bank.tablePhases,
 * bank.taps)`), the compiled twin of dsp/resampler.ts `Resampler` with equal output. A bad argument or out of
 * memory throws GW_ERR_INTERNAL (a failed push or flush changes nothing).
 */
export interface NativeResampler {
  push(input: Float32Array): Float32Array;
  flush(): Float32Array;
  reset(): void;
}

export interface NativeAddon {
  CtcDecoder: new (options: NativeCtcDecoderOptions) => NativeCtcDecoder;
  FbankExtractor: new () => NativeFbankExtractor;
  Resampler: new (up: number, down: number, halfTaps: number, tablePhases: number, taps: Float32Array) => NativeResampler;
  TokenLm: new (
    header: { vocabSize: number; blankId: number; startState: number },
    arcStart: Int32Array, backoffState: Int32Array, backoffLogWeight: Float32Array, finalLogProb: Float32Array,
    arcToken: Int32Array, arcNext: Int32Array, arcLogProb: Float32Array,
  ) => NativeTokenLm;
  abiVersion: number;
}

const BINARY = 'build/Release/voxgate_native.node';
const ABI_VERSION = 7;

let cached: NativeAddon | undefined;

/**
 * Where to look: `VOXGATE_NATIVE_PATH` alone when set; else the repository root seen from src/inference (tsx,
 * vitest) and from dist/src/inference (compiled).
 */
function candidatePaths(): string[] {
  const override = process.env['VOXGATE_NATIVE_PATH'];
  if (override) return [resolve(override)];
  const here = dirname(fileURLToPath(import.meta.url));
  return [resolve(here, '../..', BINARY), resolve(here, '../../..', BINARY)];
}

/** Loads (once) and returns the native addon. Throws GatewayError GW_ERR_DECODER when it is missing or broken. */
export function loadNativeAddon(): NativeAddon {
  if (cached) return cached;
  const paths = candidatePaths();
  const found = paths.find((p) => existsSync(p));
  if (found === undefined) {
    throw new GatewayError(
      'GW_ERR_DECODER',
      `native addon not found (tried ${paths.join(', ')}); build it with \`npm run install\` (node-gyp rebuild) in the repository root`,
    );
  }
  const require = createRequire(import.meta.url);
  let addon: NativeAddon;
  try {
    addon = require(found) as NativeAddon;
  } catch (e) {
    throw new GatewayError('GW_ERR_DECODER', `native addon ${found} failed to load: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (typeof addon.CtcDecoder !== 'function' || addon.abiVersion !== ABI_VERSION) {
    throw new GatewayError('GW_ERR_DECODER', `native addon ${found} is stale (abiVersion ${String(addon.abiVersion)}, want ${ABI_VERSION}); rebuild it`);
  }
  cached = addon;
  return addon;
}

/**
 * A native resampler between two different rates, running the bank dsp/resampler.ts designs for them; the rates are
 * validated there (GW_ERR_BAD_CONFIG). Equal rates need no resampler: callers pass the samples through.
 */
export function createNativeResampler(inputRateHz: number, outputRateHz: number): NativeResampler {
  validateResamplerOptions({ ...DEFAULT_RESAMPLER_OPTIONS, inputRateHz, outputRateHz });
  const bank = polyphaseBank(inputRateHz, outputRateHz);
  return new (loadNativeAddon().Resampler)(bank.up, bank.down, bank.halfTaps, bank.tablePhases, bank.taps);
}
