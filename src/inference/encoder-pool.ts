/**
 * EncoderPool: ONE onnxruntime-node InferenceSession in a worker thread (encoder-worker.ts), shared by every stream;
 * per-stream encoder caches live in the worker, start at zero and are carried chunk to chunk.
 *
 * Scheduling (main thread, no inference here): each stream has a FIFO of runs and resets and never more than one
 * chunk in flight, so results come back in submission order. When the worker is idle, the head chunks of all streams
 * that are ready are grouped by their feature length T; the group holding the oldest chunk is sent as one model call
 * of up to `maxBatch` rows (caches gathered into (B, ...) tensors in the worker). A head's age counts from the later of
 * its submission and its stream's previous run, so a stream with a backlog takes turns with the others. One batch is
 * in flight at a time: chunks that arrive while the worker computes wait and form the next, larger batch.
 * `batchWindowMs` > 0 additionally waits until the oldest ready chunk has waited that long before sending.
 *
 * Buffers: `run` copies the caller's features (the caller may reuse its array at once); that copy is transferred to the
 * worker, and each result's log-probs come back in a buffer transferred to the caller, who owns it.
 *
 * Failures: an ONNX Runtime error fails the chunks of that batch with GW_ERR_INFERENCE and leaves their caches as they
 * were; the pool goes on. If the worker dies, every pending run (in flight or queued, all streams) rejects with
 * GW_ERR_INFERENCE and a fresh worker is started (at most MAX_RESTARTS per minute, then the pool stays failed);
 * streams that had state in the dead worker reject their next runs until `reset()` is called on them (their caches
 * are gone, continuing would silently mis-decode). `close()` always works, also on a failed pool.
 *
 * Lifetime: a stream whose handle is dropped without `close()` is closed once it is garbage and has no run queued or in
 * flight (the handle and the state the pool keeps are apart: encoder-pool-stream.ts), so its caches leave the worker.
 *
 * The worker thread itself (spawning, start handshake, restart budget, graceful close) is handled by
 * encoder-worker-host.ts; this file is the scheduling around it.
 */
import type { Worker } from 'node:worker_threads';
import { FBANK_NUM_BINS } from '../dsp/fbank.js';
import { GatewayError } from '../protocol/errors.js';
import type { CacheReport, FromWorker, RunItem, ToWorker } from './encoder-worker.js';
import { EncoderWorkerHost, inferenceError, MAX_RESTARTS } from './encoder-worker-host.js';
import {
  DEFAULT_ENCODER_POOL_OPTIONS, validateEncoderPoolOptions, type EncoderPoolOptions,
} from './encoder-pool-options.js';
import type { ModelInfo } from './nemo-ctc-model.js';
import { PoolStream, PoolStreamHandle, type PoolStreamOwner, type RunJob } from './encoder-pool-stream.js';

// Callers import the options with the pool.
export { DEFAULT_ENCODER_POOL_OPTIONS, validateEncoderPoolOptions, type EncoderPoolOptions };

/** One chunk's encoder output. `logProbs` is `frames x vocabSize` row-major natural-log posteriors, owned by the caller. */
export interface EncoderOutput {
  logProbs: Float32Array;
  frames: number;
  vocabSize: number;
}

export interface EncoderStream {
  readonly id: number;
  /**
   * feats: `frames x 80` row-major fbank frames, frames = 4C + 3 (or fewer, >= 7, for an utterance's last chunk).
   * Every value must be finite. Copied at the call. Resolves in submission order per stream; rejects with
   * GW_ERR_INFERENCE.
   */
  run(feats: Float32Array, frames: number): Promise<EncoderOutput>;
  /** Zeroes this stream's caches (new utterance); applies after the runs already submitted. */
  reset(): void;
  /**
   * Frees the stream's caches; its queued (not yet started) runs reject with GW_ERR_INFERENCE. A stream never closed
   * is freed only when the garbage collector gets to its handle: call this.
   */
  close(): void;
}

export interface EncoderPoolStats {
  batches: number;
  chunks: number;
  meanBatch: number;
  /** Runs submitted but not yet sent to the worker. */
  queueDepth: number;
}

export class EncoderPool implements PoolStreamOwner {
  private readonly host: EncoderWorkerHost;
  private readonly streams = new Map<number, PoolStream>();
  private readonly ready = new Set<PoolStream>();
  private inflight: { batchId: number; startedMs: number; jobs: Array<[PoolStream, RunJob, boolean]> } | null = null;
  private timer: { cancel: () => void } | null = null;
  private nextStreamId = 1;
  private nextBatchId = 1;
  private seq = 0;
  private batches = 0;
  private chunks = 0;
  private failed: GatewayError | null = null;
  private closing: Promise<void> | null = null;
  private idleWaiters: Array<() => void> = [];
  private cacheWaiters: Array<(report: CacheReport) => void> = [];
  private readonly maxBatch: number;
  private readonly batchWindowMs: number;
  private readonly events: Pick<EncoderPoolOptions, 'onBatch' | 'onWorkerExit'>;
  /** A stream whose handle was dropped without close() is closed once idle (then or when its last run ends). */
  private readonly dropped = new FinalizationRegistry<PoolStream>((s) => {
    s.orphaned = true;
    this.releaseIfOrphaned(s);
  });

  private constructor(readonly info: ModelInfo, opts: EncoderPoolOptions) {
    this.maxBatch = opts.maxBatch ?? DEFAULT_ENCODER_POOL_OPTIONS.maxBatch;
    this.batchWindowMs = opts.batchWindowMs ?? DEFAULT_ENCODER_POOL_OPTIONS.batchWindowMs;
    this.events = opts;
    const intraOpThreads = opts.intraOpThreads ?? DEFAULT_ENCODER_POOL_OPTIONS.intraOpThreads;
    this.host = new EncoderWorkerHost({
      onnxPath: info.onnxPath, intraOpThreads, featDim: FBANK_NUM_BINS, vocabSize: info.vocabSize,
      cacheChannelShape: info.cacheChannelShape, cacheTimeShape: info.cacheTimeShape,
    }, {
      onReady: () => this.schedule(),
      onMessage: (msg) => this.onMessage(msg),
      onExit: (code, cause) => this.onExit(code, cause),
    });
  }

  /** Starts the worker and loads the model; rejects with GW_ERR_INFERENCE if ONNX Runtime cannot load it. */
  static async create(opts: EncoderPoolOptions): Promise<EncoderPool> {
    validateEncoderPoolOptions(opts);
    const pool = new EncoderPool(opts.model, opts);
    await pool.host.start();
    return pool;
  }

  openStream(): EncoderStream {
    if (this.closing) throw inferenceError('encoder pool is closed');
    const s = new PoolStream(this.nextStreamId++);
    this.streams.set(s.id, s);
    const handle = new PoolStreamHandle(s, this);
    this.dropped.register(handle, s);
    return handle;
  }

  stats(): EncoderPoolStats {
    let queueDepth = 0;
    for (const s of this.streams.values()) for (const j of s.queue) if (j.kind === 'run') queueDepth++;
    return { batches: this.batches, chunks: this.chunks, meanBatch: this.batches ? this.chunks / this.batches : 0, queueDepth };
  }

  /** Set once the pool gave up (its worker crashed more than MAX_RESTARTS times a minute, or failed to restart). */
  get failure(): GatewayError | null {
    return this.failed;
  }

  /** @internal The current worker thread (tests watch it being replaced after a crash). */
  get worker(): Worker {
    return this.host.worker;
  }

  /**
   * @internal Tests: the worker thread dies as in a crash (exit code 1, the batch in flight lost); resolves once it
   * has exited. Not `worker.terminate()`: terminating a thread inside its synchronous ONNX Runtime call aborts the
   * whole process (onnxruntime-node throws a C++ Napi::Error in the dying environment: std::terminate), which a
   * stress run hit within 60 crashes; this exit happens between two runs, and 500 such crashes passed.
   */
  simulateCrash(): Promise<void> {
    const worker = this.host.worker;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage({ type: 'crash' } satisfies ToWorker);
    return exited;
  }

  /**
   * @internal Tests and `npm run bench:churn`: how many streams' caches the worker holds once it has handled every
   * message sent before (a closed stream's are dropped), and the bytes they keep alive; 0 while no worker runs.
   */
  cacheReport(): Promise<CacheReport> {
    if (!this.host.ready || this.closing) return Promise.resolve({ streams: 0, bytes: 0 });
    return new Promise((resolve) => {
      this.cacheWaiters.push(resolve);
      this.host.post({ type: 'caches' });
    });
  }

  /** @internal The `streams` of {@link cacheReport}. */
  async cachedStreams(): Promise<number> {
    return (await this.cacheReport()).streams;
  }

  /** Rejects queued runs, lets the batch in flight finish, releases the session and stops the worker. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** @internal */
  submit(s: PoolStream, feats: Float32Array, frames: number): Promise<EncoderOutput> {
    if (s.closed) return Promise.reject(inferenceError(`encoder stream ${s.id} is closed`));
    if (this.closing) return Promise.reject(inferenceError('encoder pool is closed'));
    if (this.failed) return Promise.reject(this.failed);
    const dim = FBANK_NUM_BINS;
    if (!Number.isInteger(frames) || frames < 7 || feats.length !== frames * dim) {
      return Promise.reject(inferenceError(
        `stream ${s.id}: feats must hold frames x ${dim} values with frames >= 7, got ${feats.length} values `
        + `for frames = ${frames}`));
    }
    // One NaN in a model call stays in this stream's caches and makes every later output NaN; the pipeline's features
    // are finite (the audio decoder sanitises), so this guards the pool's own contract at ~1.5k compares per chunk.
    for (let i = 0; i < feats.length; i++) {
      if (!Number.isFinite(feats[i])) {
        return Promise.reject(inferenceError(`stream ${s.id}: feats hold a non-finite value ${feats[i]} at frame `
          + `${Math.floor(i / dim)}, bin ${i % dim}`));
      }
    }
    return new Promise<EncoderOutput>((resolve, reject) => {
      s.queue.push({ kind: 'run', feats: feats.slice().buffer, frames, seq: this.seq++, submittedMs: performance.now(),
        resolve, reject });
      this.wake(s);
    });
  }

  /** @internal */
  wake(s: PoolStream): void {
    if (!s.busy) this.ready.add(s);
    this.schedule();
  }

  /** @internal */
  closeStream(s: PoolStream): void {
    if (s.closed) return;
    s.closed = true;
    for (const j of s.queue.splice(0)) if (j.kind === 'run') j.reject(inferenceError(`encoder stream ${s.id} closed`));
    this.ready.delete(s);
    this.streams.delete(s.id);
    // Ordered after any batch already sent (the worker handles messages in order).
    if (this.host.ready && !this.closing) this.host.post({ type: 'drop', streamId: s.id });
  }

  /** Called wherever a run ends, answered or refused (a crash, lost caches): else a collected stream stays for good. */
  private releaseIfOrphaned(s: PoolStream): void {
    if (s.orphaned && s.idle) this.closeStream(s);
  }

  private schedule(): void {
    if (this.timer || this.inflight || !this.host.ready || this.closing || this.ready.size === 0) return;
    const fire = (): void => {
      this.timer = null;
      this.dispatch();
    };
    // The window counts from the oldest waiting chunk: one that waited out a batch in flight goes as the worker frees.
    const wait = this.batchWindowMs > 0 ? this.batchWindowMs - (performance.now() - this.oldestSubmittedMs()) : 0;
    if (wait > 0) {
      const t = setTimeout(fire, wait);
      this.timer = { cancel: () => clearTimeout(t) };
    } else {
      const t = setImmediate(fire);
      this.timer = { cancel: () => clearImmediate(t) };
    }
  }

  /** When the oldest run of a ready stream was submitted (now, when they hold only resets). */
  private oldestSubmittedMs(): number {
    let oldest = performance.now();
    for (const s of this.ready) {
      const j = s.queue.find((x) => x.kind === 'run');
      if (j?.kind === 'run') oldest = Math.min(oldest, j.submittedMs);
    }
    return oldest;
  }

  /** The stream's next run job, after applying leading resets and failing runs of a stream that lost its state. */
  private head(s: PoolStream): RunJob | undefined {
    for (;;) {
      const j = s.queue[0];
      if (j === undefined) {
        this.ready.delete(s);
        if (s.needsReset && s.hasState && this.host.ready) {
          this.host.post({ type: 'drop', streamId: s.id }); // free the caches now; the next run starts from zeros anyway
          s.hasState = false;
        }
        this.releaseIfOrphaned(s); // its last runs may have been refused just above
        return undefined;
      }
      if (j.kind === 'reset') {
        s.queue.shift();
        s.needsReset = true;
        s.lost = false;
        continue;
      }
      if (s.lost && !s.needsReset) {
        s.queue.shift();
        j.reject(inferenceError(`encoder stream ${s.id} lost its caches in an encoder worker crash`));
        continue;
      }
      return j;
    }
  }

  private dispatch(): void {
    if (this.inflight || !this.host.ready || this.closing) return;
    // A head's age (see the header): by submission alone, one stream's backlog of one chunk length held back every
    // other length until all of it had run.
    const heads: Array<[PoolStream, RunJob, number]> = [];
    for (const s of [...this.ready]) {
      const j = this.head(s);
      if (j !== undefined) heads.push([s, j, Math.max(j.seq, s.turn)]);
    }
    if (heads.length === 0) return;
    const oldest = heads.reduce((a, b) => (b[2] < a[2] ? b : a));
    const group = heads.filter(([, j]) => j.frames === oldest[1].frames)
      .sort((a, b) => a[2] - b[2]).slice(0, this.maxBatch);
    const items: RunItem[] = [];
    const jobs: Array<[PoolStream, RunJob, boolean]> = [];
    for (const [s, j] of group) {
      s.queue.shift();
      s.busy = true;
      this.ready.delete(s);
      items.push({ streamId: s.id, reset: s.needsReset, feats: j.feats });
      jobs.push([s, j, s.needsReset]);
      s.needsReset = false;
    }
    this.inflight = { batchId: this.nextBatchId++, startedMs: performance.now(), jobs };
    this.host.post({ type: 'run', batchId: this.inflight.batchId, frames: oldest[1].frames, items }, items.map((i) => i.feats));
  }

  private settle(ok: boolean): Array<[PoolStream, RunJob, boolean]> {
    const jobs = this.inflight?.jobs ?? [];
    this.inflight = null;
    for (const [s, , wasReset] of jobs) {
      s.busy = false;
      s.turn = this.seq++;
      if (ok) s.hasState = true;
      else if (wasReset) s.needsReset = true; // the worker did not apply it
      if (s.queue.length > 0 && !s.closed) this.ready.add(s);
      this.releaseIfOrphaned(s);
    }
    if (ok) {
      this.batches++;
      this.chunks += jobs.length;
    }
    for (const w of this.idleWaiters.splice(0)) w();
    this.schedule();
    return jobs;
  }

  private onMessage(msg: FromWorker): void {
    if (msg.type === 'done' && this.inflight?.batchId === msg.batchId) {
      const ms = performance.now() - this.inflight.startedMs;
      const jobs = this.settle(true);
      jobs.forEach(([, j], i) => j.resolve({
        logProbs: new Float32Array(msg.logProbs[i]!), frames: msg.outFrames, vocabSize: this.info.vocabSize,
      }));
      // Last, once the pool and the batch are settled: a callback that throws (an uncaught exception, which the
      // gateway survives) must not leave the batch in flight forever, stalling every stream and close().
      this.events.onBatch?.(jobs.length, ms);
    } else if (msg.type === 'failed' && this.inflight?.batchId === msg.batchId) {
      const jobs = this.settle(false);
      for (const [s, j] of jobs) j.reject(inferenceError(`encoder failed for stream ${s.id}: ${msg.message}`));
    } else if (msg.type === 'caches') {
      this.cacheWaiters.shift()?.({ streams: msg.streams, bytes: msg.bytes });
    }
  }

  /** The started worker exited: a crash, or the end of `close()` (which may leave a batch to reject). */
  private onExit(code: number, cause: unknown): void {
    for (const w of this.cacheWaiters.splice(0)) w({ streams: 0, bytes: 0 }); // the caches died with the worker
    if (!this.closing) {
      this.onCrash(code, cause);
    } else {
      for (const [, j] of this.settle(false)) j.reject(inferenceError('encoder pool closed'));
    }
  }

  private onCrash(code: number, cause: unknown): void {
    const why = `encoder worker died (exit code ${code}${cause instanceof Error ? `: ${cause.message}` : ''})`;
    const jobs = this.settle(false);
    for (const [, j] of jobs) j.reject(inferenceError(why, cause));
    for (const s of this.streams.values()) {
      for (const j of s.queue) if (j.kind === 'run') j.reject(inferenceError(why, cause));
      s.queue = s.queue.filter((j) => j.kind === 'reset'); // a queued reset still clears `lost` below
      s.lost = s.lost || (s.hasState && !s.needsReset);
      s.hasState = false;
      if (s.queue.length === 0) this.ready.delete(s);
      this.releaseIfOrphaned(s);
    }
    const restarted = this.host.restart();
    this.events.onWorkerExit?.({ worker: 0, message: why, restarting: restarted !== null });
    if (restarted === null) {
      this.failed = inferenceError(`${why}; ${MAX_RESTARTS} restarts within a minute, giving up`, cause);
      return;
    }
    restarted.catch((e: unknown) => {
      const failed = e instanceof GatewayError ? e : inferenceError(String(e), e);
      this.failed = failed;
      this.events.onWorkerExit?.({ worker: 0, message: `restart failed: ${failed.message}`, restarting: false });
      for (const s of this.streams.values()) {
        for (const j of s.queue.splice(0)) if (j.kind === 'run') j.reject(failed);
        this.releaseIfOrphaned(s);
      }
    });
  }

  private async shutdown(): Promise<void> {
    this.timer?.cancel();
    this.timer = null;
    for (const s of this.streams.values()) {
      for (const j of s.queue.splice(0)) if (j.kind === 'run') j.reject(inferenceError('encoder pool closed'));
    }
    this.ready.clear();
    if (this.inflight) await new Promise<void>((r) => this.idleWaiters.push(r));
    await this.host.close();
  }
}
