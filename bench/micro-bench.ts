/**
 * Micro-benchmarks of the per-session hot path: DSP stages (ms of wall time per second of audio, best of N, fed in
 * 20 ms chunks as a session would; `fbank` and `resampler_<rate>` are the native stages the gateway runs,
 * `*_typescript*` their references in dsp/; 16 kHz input is a copy) and the native CTC prefix beam search (CPU µs
 * per decoder per second of audio, 200 decoders interleaved chunk by chunk as the gateway runs them, at the serving
 * beam width; without and with the shipped token LM, and with a 5-text n-best list read at every final, i.e. once
 * per second of audio: the worst case) next to the TypeScript reference and the greedy (best-path) decoder; then the
 * decoder's step against the beam widths the server accepts (`--beam-size` up to 256): CPU µs per 320 ms chunk (the
 * default latency) and decoder on the shipped model's posteriors of a 4.5 s speech clip (test/fixtures/model), with
 * the token LM and 50 hotwords. `--only beams` runs just that.
 *
 *   npx tsx bench/micro-bench.ts [--runs N] [--json FILE] [--only beams]
 *
 * Numbers only; no pass/fail. Speed targets are tracked by comparing these numbers across commits on one machine.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { EnergyVad } from '../src/dsp/energy-vad.js';
import { FbankExtractor } from '../src/dsp/fbank.js';
import { Resampler, polyphaseBank } from '../src/dsp/resampler.js';
import { SpectralSubtractor } from '../src/dsp/spectral-subtraction.js';
import { CtcDecoder, type CtcSearch, type Hotword } from '../src/inference/ctc-decoder.js';
import { CtcGreedyDecoder } from '../src/inference/ctc-greedy-decoder.js';
import { createNativeResampler, loadNativeAddon } from '../src/inference/native-addon.js';
import { CtcPrefixBeamSearch } from '../src/inference/ctc-prefix-beam-search.js';
import { nBestTexts } from '../src/inference/n-best.js';
import { TOKEN_LM_FILE, TokenLm } from '../src/inference/token-lm.js';
import { defaultModelDir } from '../src/server/config.js';
import { DEFAULT_PIPELINE_DEPS } from '../src/stream/session-pipeline.js';
import { CTC_VOCAB_SIZE as V, peakyLogProbs, randomLogProbs, rng, speechLike } from './bench-random.js';
import { argValue, bestMs, checkBenchArgs, round, table } from './bench-stats.js';

/** The common rates, and one nearly coprime with 16 kHz (47999: an interpolated bank, two branch sums per output). */
const INPUT_RATES_HZ = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 47999] as const;
const CHUNK_MS = 20;
const DECODERS = 200;
const REFERENCE_DECODERS = 40;
const DECODE_FRAMES = 25; // 1 s at 40 ms per output frame
const DECODE_CHUNK_FRAMES = 4; // 160 ms chunks
const BEAM = DEFAULT_PIPELINE_DEPS.beamSize;
const SWEEP_BEAMS = [8, 16, 32, 64, 256] as const; // 256: the largest --beam-size (server/config.ts)
const SWEEP_DECODERS = 40;
const SWEEP_CHUNK_FRAMES = 8; // 320 ms

interface Stage { push(x: Float32Array): unknown; flush(): unknown }

function split(x: Float32Array, size: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let o = 0; o < x.length; o += size) out.push(x.subarray(o, Math.min(x.length, o + size)));
  return out;
}

/** Wall ms to push 1 s of audio at `rateHz` through `stage` in 20 ms chunks and flush, best of `runs`. */
function msPerAudioSecond(stage: Stage, rateHz: number, runs: number): number {
  const parts = split(speechLike(1, rateHz, 7), Math.round((rateHz * CHUNK_MS) / 1000));
  return bestMs(() => {
    for (const p of parts) stage.push(p);
    stage.flush();
  }, runs);
}

function hotwords(count: number, rand: () => number): Hotword[] {
  return Array.from({ length: count }, () => ({
    tokenIds: Array.from({ length: 4 + Math.floor(rand() * 7) }, () => 1 + Math.floor(rand() * (V - 1))),
    boost: 1.5,
  }));
}

/** Token strings for the n-best texts: blank, separator, apostrophe, a-z (the shipped model's layout). */
const TOKENS = ['<blk>', '▁', "'", ...'abcdefghijklmnopqrstuvwxyz'].slice(0, V);

/** CPU µs per decoder per second of audio (decoders interleaved chunk by chunk, then finalised, with an n-best list
 * of `alternatives` texts read first when > 1), best of `reps`. Each input holds `frames` frames. */
function decoderUs(make: () => CtcSearch, inputs: readonly Float32Array[], hot: readonly Hotword[], reps: number,
  alternatives = 1, { frames = DECODE_FRAMES, chunkFrames = DECODE_CHUNK_FRAMES } = {}): number {
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const decoders = inputs.map(() => make());
    for (const d of decoders) d.setHotwords(hot);
    const t0 = process.cpuUsage(); // CPU time, not wall: the dev machine is shared with other jobs
    for (let at = 0; at < frames; at += chunkFrames) {
      const n = Math.min(chunkFrames, frames - at);
      decoders.forEach((d, i) => d.decodeChunk(inputs[i]!.subarray(at * V, (at + n) * V), n));
    }
    for (const d of decoders) {
      if (alternatives > 1) nBestTexts(d.finalAlternatives(), alternatives, TOKENS, 1);
      d.finalize();
    }
    const used = process.cpuUsage(t0);
    best = Math.min(best, (used.user + used.system) / decoders.length / (frames * 0.04));
  }
  return best;
}

/** CPU µs per 320 ms chunk step and decoder at each of SWEEP_BEAMS, with `lm` and `hot`, best of `reps`. */
function beamSweep(lm: TokenLm, hot: readonly Hotword[], reps: number): Record<string, number | null> {
  const bytes = readFileSync(join(process.cwd(), 'test/fixtures/model/logp_c4.bin'));
  const clip = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const inputs = Array.from({ length: SWEEP_DECODERS }, () => clip);
  const out: Record<string, number | null> = {};
  for (const beamSize of SWEEP_BEAMS) {
    const usPerSecond = decoderUs(() => new CtcDecoder({ vocabSize: V, beamSize, lm }), inputs, hot, reps, 1,
      { frames: clip.length / V, chunkFrames: SWEEP_CHUNK_FRAMES });
    out[`beam_${beamSize}`] = round(usPerSecond * SWEEP_CHUNK_FRAMES * 0.04, 1);
  }
  return out;
}

function printBeamSweep(sweep: Record<string, number | null>, reps: number): void {
  console.log(`\nCTC decoder step: CPU µs per ${SWEEP_CHUNK_FRAMES * 40} ms chunk and decoder, ${SWEEP_DECODERS} ` +
    `interleaved decoders, the model's posteriors of a speech clip, token LM + 50 hotwords, best of ${reps}`);
  console.log(table([['beam', 'µs/chunk'], ...Object.entries(sweep).map(([k, v]) => [k, v === null ? '-' : v.toFixed(1)])]));
}

function main(argv: readonly string[]): void {
  checkBenchArgs(argv, { runs: 'number', json: 'text', only: 'text' });
  const runs = Number(argValue(argv, 'runs') ?? 20);
  const jsonPath = argValue(argv, 'json');
  const lm = TokenLm.load(join(defaultModelDir(), TOKEN_LM_FILE), 0);
  const reps = Math.max(3, Math.min(10, Math.round(runs / 4)));
  const sweepHot = hotwords(50, rng(43));
  if (argValue(argv, 'only') === 'beams') {
    printBeamSweep(beamSweep(lm, sweepHot, reps), reps);
    return;
  }
  const dsp: Record<string, number | null> = {};
  dsp.fbank = round(msPerAudioSecond(new (loadNativeAddon().FbankExtractor)(), 16000, runs), 3);
  dsp.fbank_typescript = round(msPerAudioSecond(new FbankExtractor(), 16000, runs), 3);
  // What a session naming 47999 Hz costs the main thread at session.start (the bank is cached after).
  const designStartMs = performance.now();
  polyphaseBank(47999, 16000);
  const designMs47999 = round(performance.now() - designStartMs, 3);
  for (const rate of INPUT_RATES_HZ) {
    const stage = rate === 16000 ? new Resampler({ inputRateHz: rate }) : createNativeResampler(rate, 16000);
    dsp[`resampler_${rate}`] = round(msPerAudioSecond(stage, rate, runs), 3);
  }
  for (const rate of INPUT_RATES_HZ.filter((r) => r !== 16000)) {
    dsp[`resampler_typescript_${rate}`] = round(msPerAudioSecond(new Resampler({ inputRateHz: rate }), rate, runs), 3);
  }
  dsp.spectral_subtraction = round(msPerAudioSecond(new SpectralSubtractor(), 16000, runs), 3);
  dsp.energy_vad = round(msPerAudioSecond(new EnergyVad(), 16000, runs), 3);

  const rand = rng(42);
  const peaky = Array.from({ length: DECODERS }, () => peakyLogProbs(DECODE_FRAMES, rand, 0.5).logProbs);
  const flat = Array.from({ length: DECODERS }, () => randomLogProbs(DECODE_FRAMES, rand, 3));
  const hot = hotwords(50, rand);
  const native = (): CtcSearch => new CtcDecoder({ vocabSize: V, beamSize: BEAM });
  const nativeLm = (): CtcSearch => new CtcDecoder({ vocabSize: V, beamSize: BEAM, lm });
  const reference = (): CtcSearch => new CtcPrefixBeamSearch({ vocabSize: V, beamSize: BEAM });
  const greedy = (): CtcSearch => new CtcGreedyDecoder({ vocabSize: V, blankId: 0 });
  const refInputs = (x: Float32Array[]): Float32Array[] => x.slice(0, REFERENCE_DECODERS);
  const us = (x: number): number | null => round(x, 1);
  const ctc: Record<string, number | null> = {
    native_peaky: us(decoderUs(native, peaky, [], reps)),
    native_peaky_50_hotwords: us(decoderUs(native, peaky, hot, reps)),
    native_flat: us(decoderUs(native, flat, [], reps)),
    native_flat_50_hotwords: us(decoderUs(native, flat, hot, reps)),
    native_peaky_token_lm: us(decoderUs(nativeLm, peaky, [], reps)),
    native_flat_token_lm: us(decoderUs(nativeLm, flat, [], reps)),
    native_flat_token_lm_50_hotwords: us(decoderUs(nativeLm, flat, hot, reps)),
    native_flat_token_lm_5_alternatives: us(decoderUs(nativeLm, flat, [], reps, 5)),
    reference_peaky: us(decoderUs(reference, refInputs(peaky), [], 3)),
    reference_peaky_50_hotwords: us(decoderUs(reference, refInputs(peaky), hot, 3)),
    reference_flat: us(decoderUs(reference, refInputs(flat), [], 3)),
    reference_flat_50_hotwords: us(decoderUs(reference, refInputs(flat), hot, 3)),
    greedy_peaky: us(decoderUs(greedy, peaky, [], reps)),
    greedy_flat: us(decoderUs(greedy, flat, [], reps)),
  };

  const fmt = (v: number | null, d: number): string => (v === null ? '-' : v.toFixed(d));
  console.log(`DSP stages: wall ms per second of audio, ${CHUNK_MS} ms chunks, best of ${runs}`);
  console.log(table([['stage', 'ms/s', 'x real time'], ...Object.entries(dsp).map(([k, v]) => [
    k, fmt(v, 3), v ? `${Math.round(1000 / v)}x` : '-'])]));
  console.log(`resampler filter design at 47999 Hz (once per process, main thread): ${fmt(designMs47999, 3)} ms`);
  console.log(`\nCTC decoder: CPU µs per decoder per second of audio, beam ${BEAM}, ${DECODERS} interleaved decoders ` +
    `(reference: ${REFERENCE_DECODERS}), ${DECODE_CHUNK_FRAMES * 40} ms chunks, best of ${reps} (reference: 3)`);
  console.log(table([['decoder', 'µs/s'], ...Object.entries(ctc).map(([k, v]) => [k, fmt(v, 1)])]));
  const sweep = beamSweep(lm, sweepHot, reps);
  printBeamSweep(sweep, reps);

  if (jsonPath) {
    const out = {
      runs, chunk_ms: CHUNK_MS, dsp_ms_per_audio_second: dsp, resampler_design_ms_47999: designMs47999,
      ctc: { decoders: DECODERS, beam: BEAM, reference_decoders: REFERENCE_DECODERS, us_per_decoder_per_audio_second: ctc },
      ctc_step_us_per_320ms_chunk: sweep,
      node: process.version, date: new Date().toISOString(),
    };
    writeFileSync(jsonPath, `${JSON.stringify(out, null, 2)}\n`);
    console.log(`\nwrote ${jsonPath}`);
  }
}

main(process.argv.slice(2));
