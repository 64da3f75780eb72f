/**
 * The loaded model shared by every session of a process: ModelInfo + the encoder (EncoderShards: `encoderWorkers`
 * worker threads, each batching across the sessions placed on it) + a factory of per-session SessionPipelines. Used
 * by the gateway and by the CLI's in-process mode, so the pipeline wiring exists once.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { WorkerExit } from '../inference/encoder-pool-options.js';
import { EncoderShards, type EncoderShardsStats } from '../inference/encoder-shards.js';
import { loadModelInfo, type ModelInfo } from '../inference/nemo-ctc-model.js';
import { TOKEN_LM_FILE, TokenLm } from '../inference/token-lm.js';
import type { SessionConfig } from '../protocol/session-config.js';
import type { DecoderKind } from '../stream/ctc-decode.js';
import { MultichannelPipeline } from '../stream/multichannel-pipeline.js';
import { SessionPipeline } from '../stream/session-pipeline.js';
import type { VadMode } from '../stream/vad.js';
import type { Precision } from './config.js';
import type { SessionPipelinePort, SessionServices } from './session-pipeline-port.js';

export interface SpeechEngineOptions {
  modelDir: string;
  precision: Precision;
  intraOpThreads?: number | undefined;
  /** Encoder worker threads (default 1). */
  encoderWorkers?: number | undefined;
  maxBatch?: number | undefined;
  /** Wait (ms) after a worker's first ready chunk to fill its batch (default 0: call at once). */
  batchWindowMs?: number | undefined;
  beamSize?: number | undefined;
  /** Bound of each session's encoder queue in ms of audio (SessionPipeline's maxPendingMs, default 20 000). */
  maxPendingMs?: number | undefined;
  /** `beam` (default) or `greedy` (no LM is loaded). */
  decoder?: DecoderKind | undefined;
  vad?: VadMode | undefined;
  /** Scale of the model directory's token-lm.bin in the beam search (default 0.8); 0 or no file: no LM. */
  lmWeight?: number | undefined;
  lmTokenBonus?: number | undefined;
  /** Per model call: batch size and wall time (ms); the gateway feeds its encoder histograms with it. */
  onBatch?: ((rows: number, ms: number) => void) | undefined;
}

export interface SpeechEngine extends SessionServices {
  readonly info: ModelInfo;
  /** The token LM in use, or null (lmWeight 0, the greedy decoder, or the model directory has none). */
  readonly lm: TokenLm | null;
  stats(): EncoderShardsStats;
  /** Calls `listener` whenever an encoder worker thread dies; returns the unsubscribe. */
  watchWorkers(listener: (exit: WorkerExit) => void): () => void;
  /** @internal The shared encoder (tests crash its worker threads). */
  readonly encoder: EncoderShards;
  /** Closes the encoder (its workers). Idempotent. */
  close(): Promise<void>;
}

/** Loads the model directory (GW_ERR_BAD_CONFIG when unusable) and starts the shared encoder (its worker threads). */
export async function loadSpeechEngine(options: SpeechEngineOptions): Promise<SpeechEngine> {
  const info = loadModelInfo(options.modelDir, { precision: options.precision });
  const lmPath = join(info.dir, TOKEN_LM_FILE);
  const wantsLm = options.lmWeight !== 0 && options.decoder !== 'greedy';
  const lm = wantsLm && existsSync(lmPath) ? TokenLm.load(lmPath, info.blankId, info.vocabSize) : null;
  if (lm !== null) lm.native(); // build the shared native copy now: a broken addon fails at startup, not per session
  const fusion = lm === null ? undefined : {
    lm, ...(options.lmWeight === undefined ? {} : { lmWeight: options.lmWeight }),
    ...(options.lmTokenBonus === undefined ? {} : { lmTokenBonus: options.lmTokenBonus }),
  };
  const workerWatchers = new Set<(exit: WorkerExit) => void>();
  const encoder = await EncoderShards.create({
    model: info,
    ...(options.encoderWorkers === undefined ? {} : { workers: options.encoderWorkers }),
    ...(options.intraOpThreads === undefined ? {} : { intraOpThreads: options.intraOpThreads }),
    ...(options.maxBatch === undefined ? {} : { maxBatch: options.maxBatch }),
    ...(options.batchWindowMs === undefined ? {} : { batchWindowMs: options.batchWindowMs }),
    ...(options.onBatch === undefined ? {} : { onBatch: options.onBatch }),
    onWorkerExit: (exit) => { for (const l of workerWatchers) l(exit); },
  });
  const language = info.metadata['language'] ?? languageFromName(info.name);
  let closing: Promise<void> | null = null;
  return {
    info,
    lm,
    modelName: info.name,
    language,
    createPipeline(config: SessionConfig): SessionPipelinePort {
      const mono = (c: SessionConfig): SessionPipeline => new SessionPipeline(c, {
        encoder,
        model: info,
        ...(options.beamSize === undefined ? {} : { beamSize: options.beamSize }),
        ...(options.maxPendingMs === undefined ? {} : { maxPendingMs: options.maxPendingMs }),
        ...(options.decoder === undefined ? {} : { decoder: options.decoder }),
        ...(options.vad === undefined ? {} : { vad: options.vad }),
        ...(fusion === undefined ? {} : { lm: fusion }),
      });
      return config.multichannel ? new MultichannelPipeline(config, mono) : mono(config);
    },
    stats: () => encoder.stats(),
    watchWorkers(listener) {
      workerWatchers.add(listener);
      return () => workerWatchers.delete(listener);
    },
    encoder,
    close(): Promise<void> {
      closing ??= encoder.close();
      return closing;
    },
  };
}

/** `voxgate-conformer-ctc-en` -> `en`; `en` when the name carries no language suffix. */
function languageFromName(name: string): string {
  const m = /-([a-z]{2,3})$/i.exec(name);
  return m === null ? 'en' : m[1]!.toLowerCase();
}
