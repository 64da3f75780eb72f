/** EncoderPool's options (encoder-pool.ts), their defaults and their check. */
import { GatewayError } from '../protocol/errors.js';
import type { ModelInfo } from './nemo-ctc-model.js';

export interface EncoderPoolOptions {
  model: ModelInfo;
  /** ONNX Runtime intra-op threads of the one session (default 1). */
  intraOpThreads?: number;
  /** Most chunks stacked into one model call (default 32). */
  maxBatch?: number;
  /** Extra wait (ms) after the first ready chunk to fill a batch; 0 = next event-loop turn (default 0). */
  batchWindowMs?: number;
  /** Called after every successful model call with its batch size and wall time (ms), e.g. to feed metrics. */
  onBatch?: (rows: number, ms: number) => void;
  /** Called when the worker thread died (not at close()), so the crash is logged where it happened. */
  onWorkerExit?: (exit: WorkerExit) => void;
}

/** A worker thread's death: why, and whether a fresh one is being started (false: the pool gave up). */
export interface WorkerExit {
  /** Which worker: 0 for a lone pool; EncoderShards numbers its pools. */
  worker: number;
  message: string;
  restarting: boolean;
}

export const DEFAULT_ENCODER_POOL_OPTIONS = { intraOpThreads: 1, maxBatch: 32, batchWindowMs: 0 } as const;

/** Largest values the pool takes (server/config.ts checks the same before the port opens). */
export const ENCODER_POOL_MAX = { intraOpThreads: 64, maxBatch: 256, batchWindowMs: 50 } as const;

export function validateEncoderPoolOptions(o: EncoderPoolOptions): void {
  const bad = (m: string): never => {
    throw new GatewayError('GW_ERR_BAD_CONFIG', m);
  };
  const { intraOpThreads = 1, maxBatch = 32, batchWindowMs = 0 } = o;
  const max = ENCODER_POOL_MAX;
  if (!Number.isInteger(intraOpThreads) || intraOpThreads < 1 || intraOpThreads > max.intraOpThreads) {
    bad(`intraOpThreads must be an integer in [1, ${max.intraOpThreads}], got ${intraOpThreads}`);
  }
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > max.maxBatch) {
    bad(`maxBatch must be an integer in [1, ${max.maxBatch}], got ${maxBatch}`);
  }
  if (!Number.isFinite(batchWindowMs) || batchWindowMs < 0 || batchWindowMs > max.batchWindowMs) {
    bad(`batchWindowMs must be in [0, ${max.batchWindowMs}], got ${batchWindowMs}`);
  }
}
