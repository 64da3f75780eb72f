/**
 * EncoderShards: K EncoderPools (K worker threads, one ONNX Runtime session each) behind the one-pool interface.
 *
 * Why: one encoder worker saturates one core while the event loop (DSP, fbank, beam search, sockets) leaves much of
 * the second idle, and ONNX Runtime's own intra-op threads do not help on 2 cores (spinning pool threads starve the
 * event loop; non-spinning ones gain nothing: model card, "Speed"). A second session in a second worker does use the
 * second core: batches of different streams run at the same time instead of queueing behind each other.
 *
 * Placement: each stream goes to the shard with the fewest open streams (ties: lower index) and stays there: its
 * caches live in that worker. Measured alternative, dropped: "spill" (fill the first worker until its busy fraction
 * passes a threshold, re-placing streams at utterance resets) kept batches larger at light load but let a burst of
 * new sessions pile onto one worker (100 sessions: p95 383 ms, not real time, against 93 ms balanced).
 * A stream's output never depends on its shard or its batch mates (encoder-pool.test.ts: batched == alone).
 * Failures stay per shard: a crashed worker fails and restarts only its own streams, and a shard whose pool gave up
 * (repeated crashes) gets no new streams while another works; the gateway's /readyz turns 503 when none does.
 */
import { GatewayError } from '../protocol/errors.js';
import {
  EncoderPool, validateEncoderPoolOptions, type EncoderOutput, type EncoderPoolOptions, type EncoderPoolStats,
  type EncoderStream,
} from './encoder-pool.js';
import type { WorkerExit } from './encoder-pool-options.js';

export interface EncoderShardsOptions extends EncoderPoolOptions {
  /** Worker threads, each with its own ONNX Runtime session, in [1, 16] (default 1; the gateway's default is 2). */
  workers?: number;
}

export const MAX_ENCODER_WORKERS = 16;

export interface EncoderShardsStats extends EncoderPoolStats {
  /** Open streams per shard. */
  openStreams: number[];
  /** Shards whose pool gave up after repeated worker crashes (they get no new streams). */
  failedWorkers: number;
}

export function validateEncoderShardsOptions(o: EncoderShardsOptions): void {
  const { workers = 1 } = o;
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_ENCODER_WORKERS) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `workers must be an integer in [1, ${MAX_ENCODER_WORKERS}], got ${workers}`);
  }
  validateEncoderPoolOptions(o);
}

class ShardStream implements EncoderStream {
  private closed = false;

  constructor(readonly id: number, private readonly shard: number, private readonly inner: EncoderStream,
    private readonly onClose: (shard: number) => void) {}

  run(feats: Float32Array, frames: number): Promise<EncoderOutput> {
    return this.inner.run(feats, frames);
  }

  reset(): void {
    this.inner.reset();
  }

  close(): void {
    if (!this.closed) {
      this.closed = true;
      this.onClose(this.shard);
    }
    this.inner.close();
  }
}

export class EncoderShards {
  private readonly open: number[];
  private nextStreamId = 1;
  /** A stream dropped without close() leaves its shard's count once garbage (its pool frees its caches). */
  private readonly dropped = new FinalizationRegistry<number>((shard) => {
    this.open[shard]!--;
  });

  private constructor(readonly shards: readonly EncoderPool[]) {
    this.open = shards.map(() => 0);
  }

  /** Starts every worker; if one fails to start, the ones already started are closed and the error is rethrown. */
  static async create(opts: EncoderShardsOptions): Promise<EncoderShards> {
    validateEncoderShardsOptions(opts);
    const { workers = 1, onWorkerExit, ...poolOptions } = opts;
    const started = await Promise.allSettled(Array.from({ length: workers }, (_, worker) => EncoderPool.create({
      ...poolOptions,
      ...(onWorkerExit === undefined ? {} : { onWorkerExit: (exit: WorkerExit) => onWorkerExit({ ...exit, worker }) }),
    })));
    const pools = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failure = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure !== undefined) {
      await Promise.all(pools.map((p) => p.close()));
      throw failure.reason;
    }
    return new EncoderShards(pools);
  }

  openStream(): EncoderStream {
    // The least loaded shard that still works; when every shard failed, any (its streams fail with its error).
    const all = this.shards.map((_, i) => i);
    const usable = all.filter((i) => this.shards[i]!.failure === null);
    const candidates = usable.length > 0 ? usable : all;
    let k = candidates[0]!;
    for (const i of candidates) if (this.open[i]! < this.open[k]!) k = i;
    const inner = this.shards[k]!.openStream(); // throws GW_ERR_INFERENCE when closed
    this.open[k]!++;
    const stream: ShardStream = new ShardStream(this.nextStreamId++, k, inner, (shard) => {
      this.open[shard]!--;
      this.dropped.unregister(stream);
    });
    this.dropped.register(stream, k, stream);
    return stream;
  }

  stats(): EncoderShardsStats {
    let batches = 0;
    let chunks = 0;
    let queueDepth = 0;
    for (const p of this.shards) {
      const s = p.stats();
      batches += s.batches;
      chunks += s.chunks;
      queueDepth += s.queueDepth;
    }
    return { batches, chunks, meanBatch: batches ? chunks / batches : 0, queueDepth, openStreams: this.open.slice(),
      failedWorkers: this.shards.filter((p) => p.failure !== null).length };
  }

  /** Closes every shard (see EncoderPool.close). Idempotent. */
  async close(): Promise<void> {
    await Promise.all(this.shards.map((p) => p.close()));
  }
}
