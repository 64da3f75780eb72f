/**
 * Worker-thread side of the EncoderPool (encoder-pool.ts): owns the one onnxruntime-node InferenceSession and the
 * per-stream encoder caches, and runs batches the main thread assembles. Nothing here touches the main event loop.
 *
 * Protocol (structured clone; feature and log-prob buffers are transferred, never copied across threads):
 *   main -> worker  {type: 'run', batchId, frames, items: [{streamId, reset, feats: ArrayBuffer (T x 80)}]}
 *                   {type: 'drop', streamId}   {type: 'close'}   {type: 'crash'} (tests: EncoderPool.simulateCrash)
 *                   {type: 'caches'} (tests, bench:churn: EncoderPool.cacheReport)
 *   worker -> main  {type: 'ready', inputNames, outputNames} | {type: 'init-error', message}
 *                   {type: 'done', batchId, outFrames, logProbs: ArrayBuffer[] (T' x V each)}
 *                   {type: 'failed', batchId, message} | {type: 'closed'} | {type: 'caches', streams, bytes}
 * Messages are handled strictly in order (a promise chain), so a `drop` never races a batch that is still running.
 *
 * Caches: a stream's state is a view into the previous run's output tensors (no scatter copy); a batch gathers the
 * states of its streams into (B, ...) inputs (zeros for a new or reset stream). When the states are consecutive rows
 * of one output in batch order (always so at B = 1), those rows are fed back as is. A view keeps its whole (B, ...)
 * output alive, so once some rows of an output belong to no stream any more, the streams still on it get their own
 * copies ({@link compact}). A failed run leaves every cache as it was before the batch.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

export interface EncoderWorkerData {
  onnxPath: string;
  intraOpThreads: number;
  featDim: number;
  vocabSize: number;
  cacheChannelShape: [number, number, number];
  cacheTimeShape: [number, number, number];
}

export interface RunItem {
  streamId: number;
  reset: boolean;
  feats: ArrayBuffer;
}

export type ToWorker =
  | { type: 'run'; batchId: number; frames: number; items: RunItem[] }
  | { type: 'drop'; streamId: number }
  | { type: 'close' }
  | { type: 'crash' }
  | { type: 'caches' };

export type FromWorker =
  | { type: 'ready'; inputNames: readonly string[]; outputNames: readonly string[] }
  | { type: 'init-error'; message: string }
  | { type: 'done'; batchId: number; outFrames: number; logProbs: ArrayBuffer[] }
  | { type: 'failed'; batchId: number; message: string }
  | { type: 'closed' }
  | ({ type: 'caches' } & CacheReport);

/** The worker's caches: streams holding some, and the bytes of the buffers they keep alive (each counted once). */
export interface CacheReport {
  streams: number;
  bytes: number;
}

interface StreamState {
  channel: Float32Array;
  time: Float32Array;
  len: bigint;
}

const port = parentPort!;
const data = workerData as EncoderWorkerData;
const channelSize = data.cacheChannelShape.reduce((a, b) => a * b, 1);
const timeSize = data.cacheTimeShape.reduce((a, b) => a * b, 1);
const states = new Map<number, StreamState>();
let session: ort.InferenceSession | null = null;

function send(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

/**
 * The streams' states when they are consecutive rows, in batch order, of one earlier output (the whole of it when the
 * batch is that call's streams in order: every B = 1 call after the first; or a run of them, e.g. the first two of
 * the three that ran last): a view of those rows is the input as is, no copy.
 */
function consecutiveRows(items: RunItem[], pick: (s: StreamState) => Float32Array, size: number): Float32Array | null {
  let first: Float32Array | null = null;
  for (let b = 0; b < items.length; b++) {
    const s = items[b]!.reset ? undefined : states.get(items[b]!.streamId);
    if (s === undefined) return null;
    const v = pick(s);
    if (v.length !== size) return null;
    if (b === 0) first = v;
    else if (v.buffer !== first!.buffer || v.byteOffset !== first!.byteOffset + b * size * 4) return null;
  }
  return new Float32Array(first!.buffer, first!.byteOffset, items.length * size);
}

/**
 * Where `gather` copies rows, per cache input, reused from call to call: a fresh (B, ...) buffer each call made the
 * kernel map and zero a page for every 4 KiB written, which cost as much again as the copy. Capacity doubles when a
 * batch outgrows it (grown to the exact size, each new largest batch faulted its whole buffer in again); only the
 * rows written take memory, at most those of the largest batch (~26 MB for both inputs at 32 rows). Only a model
 * call reads it, never a stream's state, which lives in outputs or in its own copy.
 */
const scratch = new Map<(s: StreamState) => Float32Array, Float32Array>();
const channelOf = (s: StreamState): Float32Array => s.channel;
const timeOf = (s: StreamState): Float32Array => s.time;

/** (B, ...) cache input from per-stream views. */
function gather(items: RunItem[], pick: (s: StreamState) => Float32Array, size: number): Float32Array {
  const rows = consecutiveRows(items, pick, size);
  if (rows !== null) return rows;
  const n = items.length * size;
  let buf = scratch.get(pick);
  // Uninitialised memory (a zero-filled array would write the batch twice): every row is set below.
  if (buf === undefined || buf.length < n) {
    const capacity = Math.max(n, 2 * (buf?.length ?? 0));
    scratch.set(pick, buf = new Float32Array(Buffer.allocUnsafeSlow(capacity * 4).buffer));
  }
  const out = buf.subarray(0, n);
  items.forEach((it, b) => {
    const s = it.reset ? undefined : states.get(it.streamId);
    if (s !== undefined) out.set(pick(s), b * size);
    else out.fill(0, b * size, (b + 1) * size); // a new or reset stream starts from zeros
  });
  return out;
}

/**
 * Copies out the caches of every stream whose output also holds rows of no stream (its batch mates ran again since,
 * or were dropped), so that output can be freed: otherwise one stream waiting for its next chunk keeps up to maxBatch
 * streams' caches alive (26 MB at 32 with the shipped model). A batch that stays together, the steady case, copies
 * nothing.
 */
function compact(): void {
  const users = new Map<ArrayBufferLike, number>();
  for (const st of states.values()) users.set(st.channel.buffer, (users.get(st.channel.buffer) ?? 0) + 1);
  for (const st of states.values()) {
    // channel and time come from the same call: one count serves both
    if (users.get(st.channel.buffer)! * channelSize * 4 < st.channel.buffer.byteLength) {
      st.channel = st.channel.slice();
      st.time = st.time.slice();
    }
  }
}

async function run(batchId: number, frames: number, items: RunItem[]): Promise<void> {
  const B = items.length;
  const { featDim } = data;
  // (T x 80) row-major per item -> audio_signal (B, 80, T).
  const audio = new Float32Array(B * featDim * frames);
  items.forEach((it, b) => {
    const f = new Float32Array(it.feats);
    const base = b * featDim * frames;
    for (let t = 0; t < frames; t++) {
      const row = t * featDim;
      for (let d = 0; d < featDim; d++) audio[base + d * frames + t] = f[row + d]!;
    }
  });
  const lens = new BigInt64Array(B);
  items.forEach((it, b) => {
    const s = it.reset ? undefined : states.get(it.streamId);
    lens[b] = s === undefined ? 0n : s.len;
  });
  const s = session!;
  const [c1, c2, c3] = data.cacheChannelShape;
  const [t1, t2, t3] = data.cacheTimeShape;
  const feeds: Record<string, ort.Tensor> = {
    [s.inputNames[0]!]: new ort.Tensor('float32', audio, [B, featDim, frames]),
    [s.inputNames[1]!]: new ort.Tensor('int64', new BigInt64Array(B).fill(BigInt(frames)), [B]),
    [s.inputNames[2]!]: new ort.Tensor('float32', gather(items, channelOf, channelSize), [B, c1, c2, c3]),
    [s.inputNames[3]!]: new ort.Tensor('float32', gather(items, timeOf, timeSize), [B, t1, t2, t3]),
    [s.inputNames[4]!]: new ort.Tensor('int64', lens, [B]),
  };
  const out = await s.run(feeds);
  const logp = out[s.outputNames[0]!]!;
  const nextChannel = out[s.outputNames[2]!]!.data as Float32Array;
  const nextTime = out[s.outputNames[3]!]!.data as Float32Array;
  const nextLen = out[s.outputNames[4]!]!.data as BigInt64Array;
  const [, outFrames, V] = logp.dims as [number, number, number];
  if (logp.dims.length !== 3 || logp.dims[0] !== B || V !== data.vocabSize) {
    throw new Error(`log_probs has shape [${logp.dims.join(', ')}], expected [${B}, T', ${data.vocabSize}]`);
  }
  const lp = logp.data as Float32Array;
  const per = outFrames * V;
  const results: ArrayBuffer[] = [];
  items.forEach((it, b) => {
    states.set(it.streamId, {
      channel: nextChannel.subarray(b * channelSize, (b + 1) * channelSize),
      time: nextTime.subarray(b * timeSize, (b + 1) * timeSize),
      len: nextLen[b]!,
    });
    results.push(B === 1 && lp.byteOffset === 0 && lp.byteLength === lp.buffer.byteLength
      ? (lp.buffer as ArrayBuffer) : lp.slice(b * per, (b + 1) * per).buffer);
  });
  send({ type: 'done', batchId, outFrames, logProbs: results }, results);
  compact(); // after the results went out: the copies need not delay them
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'run':
      try {
        await run(msg.batchId, msg.frames, msg.items);
      } catch (e) {
        send({ type: 'failed', batchId: msg.batchId, message: e instanceof Error ? e.message : String(e) });
      }
      return;
    case 'drop':
      states.delete(msg.streamId);
      compact();
      return;
    case 'caches': {
      const buffers = new Set<ArrayBufferLike>();
      for (const st of states.values()) buffers.add(st.channel.buffer).add(st.time.buffer);
      send({ type: 'caches', streams: states.size, bytes: [...buffers].reduce((n, b) => n + b.byteLength, 0) });
      return;
    }
    case 'close':
      states.clear();
      try {
        await session?.release();
      } finally {
        session = null;
        send({ type: 'closed' });
      }
      return;
  }
}

async function init(): Promise<void> {
  try {
    session = await ort.InferenceSession.create(data.onnxPath, {
      intraOpNumThreads: data.intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
    });
  } catch (e) {
    send({ type: 'init-error', message: e instanceof Error ? e.message : String(e) });
    return;
  }
  if (session.inputNames.length !== 5 || session.outputNames.length < 5) {
    send({ type: 'init-error', message: `expected 5 inputs and 5 outputs (NeMo streaming CTC layout), got `
      + `${session.inputNames.length} inputs [${session.inputNames.join(', ')}] and ${session.outputNames.length} outputs` });
    return;
  }
  let chain = Promise.resolve();
  port.on('message', (msg: ToWorker) => {
    // A crash on receipt, outside the ordered chain: a message event can only run between two runs (each is one
    // synchronous call into ONNX Runtime), so the batch in flight is lost as in a real crash, yet the thread never
    // dies inside the native call (worker.terminate() there aborts the whole process from onnxruntime-node).
    if (msg.type === 'crash') process.exit(1);
    // handle() reports its own errors; the catch only keeps the chain alive (a rejected chain would stall it).
    chain = chain.then(() => handle(msg)).catch(() => undefined);
  });
  send({ type: 'ready', inputNames: session.inputNames, outputNames: session.outputNames });
}

void init();
