/**
 * One stream of an EncoderPool (encoder-pool.ts), in two objects: the scheduling state the pool keeps (its FIFO of
 * runs and resets, what the worker holds for it) and the handle its caller holds. Kept apart so that a handle dropped
 * without close() can be noticed (the pool's FinalizationRegistry on the handle) while the pool still holds the state:
 * otherwise the stream's caches would stay in the worker for the life of the process.
 */
import type { GatewayError } from '../protocol/errors.js';
import type { EncoderOutput, EncoderStream } from './encoder-pool.js';

export type Job =
  | { kind: 'run'; feats: ArrayBuffer; frames: number; seq: number; submittedMs: number;
      resolve: (o: EncoderOutput) => void; reject: (e: GatewayError) => void }
  | { kind: 'reset' };
export type RunJob = Extract<Job, { kind: 'run' }>;

export class PoolStream {
  queue: Job[] = [];
  busy = false;
  needsReset = false;
  /** The worker holds caches for this stream (a run succeeded since the last reset). */
  hasState = false;
  /** Its caches died with a crashed worker: runs fail until a reset. */
  lost = false;
  closed = false;
  /** Its handle was garbage collected without close(): it is closed once no run of it is queued or in flight. */
  orphaned = false;
  /** The pool's `seq` when its last run settled: a backlogged run queues from then, not from its submission. */
  turn = 0;

  constructor(readonly id: number) {}

  /** No run queued or in flight. */
  get idle(): boolean {
    return !this.busy && !this.queue.some((j) => j.kind === 'run');
  }
}

/** What a handle asks of its pool. */
export interface PoolStreamOwner {
  submit(s: PoolStream, feats: Float32Array, frames: number): Promise<EncoderOutput>;
  wake(s: PoolStream): void;
  closeStream(s: PoolStream): void;
}

/** The caller's side: holds its state, never the other way round. */
export class PoolStreamHandle implements EncoderStream {
  readonly id: number;

  constructor(private readonly state: PoolStream, private readonly owner: PoolStreamOwner) {
    this.id = state.id;
  }

  run(feats: Float32Array, frames: number): Promise<EncoderOutput> {
    return this.owner.submit(this.state, feats, frames);
  }

  reset(): void {
    if (this.state.closed) return;
    this.state.queue.push({ kind: 'reset' });
    this.owner.wake(this.state);
  }

  close(): void {
    this.owner.closeStream(this.state);
  }
}
