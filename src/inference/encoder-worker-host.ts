/**
 * EncoderWorkerHost: the main-thread handle on the encoder worker thread (encoder-worker.ts) of an EncoderPool. It
 * spawns the worker (also from TypeScript sources), runs the ready / init-error start handshake, reports the exit of a
 * started worker, keeps the crash-restart budget and performs the graceful close. Split out of encoder-pool.ts so the
 * pool holds only scheduling: this file knows nothing about streams, jobs or batches.
 *
 * Only the current worker's events count: after a restart, a late `exit` of the previous worker is ignored.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { GatewayError } from '../protocol/errors.js';
import type { EncoderWorkerData, FromWorker, ToWorker } from './encoder-worker.js';

/** Worker crashes tolerated within one minute; the next crash leaves the pool failed. */
export const MAX_RESTARTS = 3;
/** Longest wait for the worker to acknowledge `close` before it is terminated. */
const CLOSE_TIMEOUT_MS = 5000;

export function inferenceError(message: string, cause?: unknown): GatewayError {
  return new GatewayError('GW_ERR_INFERENCE', message, cause === undefined ? undefined : { cause });
}

/** What the pool hears from its worker. */
export interface EncoderWorkerEvents {
  /** The (re)started worker loaded the model and takes runs. */
  onReady(): void;
  /** Any message other than the handshake (`done`, `failed`, ...). */
  onMessage(msg: FromWorker): void;
  /** A worker that had become ready exited; `cause` is its last `error` event, if any. */
  onExit(code: number, cause: unknown): void;
}

/**
 * The worker is a tiny eval'd bootstrap that imports the worker module: compiled JS (dist/, production) imports
 * encoder-worker.js; from TypeScript sources (vitest, tsx) it loads encoder-worker.ts through tsx's API (tsx's
 * `--import` hook registers itself on the main thread only, so `--import tsx` does not reach a worker on Node 20).
 *
 * Node flags: no `execArgv` is passed, so the worker inherits the parent's options as Node sees fit. An explicit list
 * (even `process.execArgv` itself) is checked, and a worker refuses V8 and per-process flags (`--max-old-space-size`,
 * `--expose-gc`, `--abort-on-uncaught-exception`, ...): a gateway started with one could not start any encoder
 * worker. Inherited, a parent's `--input-type` (a `node --input-type=module -e` parent) is harmless to an eval'd
 * bootstrap, while a worker started from a file fails to load it: hence eval for compiled JS too.
 */
function spawnWorker(workerData: EncoderWorkerData): Worker {
  const self = import.meta.url;
  const fromSources = new URL(self).pathname.endsWith('.ts');
  const script = new URL(fromSources ? './encoder-worker.ts' : './encoder-worker.js', self).href;
  // A failed import must kill the worker (its start then rejects), not leave it idle without a model.
  const rethrow = '.catch((e) => { process.nextTick(() => { throw e; }); });';
  if (!fromSources) return new Worker(`import(${JSON.stringify(script)})${rethrow}`, { eval: true, workerData });
  // The ESM build of tsx's API (createRequire would resolve its CJS build, whose loader paths break in a worker).
  const api = pathToFileURL(join(dirname(createRequire(self).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
  const boot = `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(script)}, `
    + `${JSON.stringify(self)}))${rethrow}`;
  return new Worker(boot, { eval: true, workerData });
}

/** Start handshakes under way in this process, of every pool (see encoderStartsSettled). */
const startsUnderWay = new Set<Promise<void>>();

/**
 * Resolves once no encoder worker of this process is inside ONNX Runtime's model load: process.exit() under one
 * aborts the process (SIGABRT, exit 134) as terminating that worker does (see close()), so a command exiting on a
 * signal waits for this first.
 */
export async function encoderStartsSettled(): Promise<void> {
  while (startsUnderWay.size > 0) await Promise.allSettled([...startsUnderWay]);
}

export class EncoderWorkerHost {
  private current!: Worker;
  private readyNow = false;
  /** The current worker's start handshake while it runs (close() waits for it). */
  private starting: Promise<void> | null = null;
  private restarts: number[] = [];

  constructor(private readonly workerData: EncoderWorkerData, private readonly events: EncoderWorkerEvents) {}

  /** The current worker thread (the latest one spawned). */
  get worker(): Worker {
    return this.current;
  }

  /** The current worker has loaded the model and has not exited (or been closed). */
  get ready(): boolean {
    return this.readyNow;
  }

  /**
   * Spawns a worker and resolves once it has loaded the model; rejects with GW_ERR_INFERENCE if the OS refuses the
   * thread, ONNX Runtime cannot load the model or the worker exits first. Never throws.
   */
  start(): Promise<void> {
    const onnxPath = this.workerData.onnxPath;
    let worker: Worker;
    try {
      worker = spawnWorker(this.workerData);
    } catch (e) {
      // `new Worker` throws ERR_WORKER_INIT_FAILED when the thread cannot be created (address space, thread limits).
      // A restart runs inside the dead worker's 'exit' event: thrown, it was an uncaught exception and the pool,
      // never marked failed, left its runs waiting for good. `current` stays the exited worker (close() handles it).
      const { code, message } = e as NodeJS.ErrnoException; // message: the OS error alone ("EAGAIN")
      return Promise.reject(inferenceError(`cannot start an encoder worker thread (${code}: ${message})`, e));
    }
    this.current = worker;
    let lastError: unknown;
    const handshake = new Promise<void>((resolve, reject) => {
      let started = false;
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          started = true;
          this.readyNow = true;
          resolve();
          this.events.onReady();
        } else if (msg.type === 'init-error') {
          reject(inferenceError(`cannot load ${onnxPath} in ONNX Runtime: ${msg.message}`));
          void worker.terminate();
        } else {
          this.events.onMessage(msg);
        }
      });
      worker.on('error', (e) => {
        lastError = e;
      });
      worker.on('exit', (code) => {
        if (this.current !== worker) return;
        this.readyNow = false;
        if (!started) {
          reject(inferenceError(`encoder worker exited during start (code ${code})`, lastError));
          return;
        }
        this.events.onExit(code, lastError);
      });
    });
    this.starting = handshake;
    startsUnderWay.add(handshake);
    const settled = (): void => {
      startsUnderWay.delete(handshake);
      if (this.starting === handshake) this.starting = null;
    };
    handshake.then(settled, settled);
    return handshake;
  }

  /**
   * After a crash: starts a fresh worker, or returns null when {@link MAX_RESTARTS} restarts were already made within
   * the last minute (the budget is spent; nothing is started).
   */
  restart(): Promise<void> | null {
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < 60_000);
    if (this.restarts.length >= MAX_RESTARTS) return null;
    this.restarts.push(now);
    return this.start();
  }

  post(msg: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.current.postMessage(msg, transfer);
  }

  /**
   * Lets a start in progress (a restart after a crash) finish, asks a ready worker to release its session (waiting at
   * most CLOSE_TIMEOUT_MS for `closed` or its exit), then terminates it. Call with no batch in flight.
   */
  async close(): Promise<void> {
    // Terminating a worker while it loads the model (inside onnxruntime-node's native code) aborts the whole process
    // (a C++ Napi::Error thrown in the dying environment: std::terminate): a gateway draining just after a worker
    // crash would die with SIGABRT. A failed start needs nothing more: its worker is terminated or gone.
    await this.starting?.catch(() => undefined);
    const worker = this.current;
    if (this.readyNow) {
      const closed = new Promise<void>((resolve) => {
        const t = setTimeout(resolve, CLOSE_TIMEOUT_MS);
        worker.on('message', (m: FromWorker) => {
          if (m.type === 'closed') {
            clearTimeout(t);
            resolve();
          }
        });
        worker.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
      this.post({ type: 'close' });
      await closed;
    }
    this.readyNow = false;
    await worker.terminate();
  }
}
