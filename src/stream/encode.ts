/**
 * Stage 7: utterance fbank frames -> encoder chunks -> log-posteriors, through one `EncoderStream` per subscription.
 *
 * Windowing (per utterance, frames counted from its first frame): chunk k of C output frames reads
 * T = s C + r frames [s C k, s C k + T) (s = subsampling 4, r = right context 3), hop s C, so consecutive chunks
 * overlap by r frames. At `utterance.end` the frames not yet consumed become last chunks of c = ceil(n / s) <= C
 * output frames each, padded to s c + r (>= 7) frames by repeating the last frame. Then the stream is `reset()` (zero
 * caches) for the next utterance. Frames outside utterances never arrive here (endpoint.ts drops them).
 *
 * Ordering and overload: chunks run strictly in order, one at a time per session (concurrency 1); every other item
 * (speech events, utterance markers, end) queues behind the chunks before it, so the output order is the audio order.
 * The queue is bounded by the audio it holds: `meter.pendingMs` (new audio of queued and running chunks, ms) is
 * what SessionPipeline.backlogMs() reports and what the server's flow control acts on; if it would pass
 * `maxPendingMs` (a safety net above the server's backlog hard limit) the stage errors with GW_ERR_BACKLOG rather
 * than grow without bound or drop audio. Encoder failures error the stage with GW_ERR_INFERENCE. Completion waits
 * for the queue to drain; unsubscribing closes the stream and discards queued chunks (their audio stays in
 * `pendingMs`: it was never transcribed).
 */
import { Observable, type OperatorFunction } from 'rxjs';
import { FBANK_NUM_BINS, fbankFrameLevelsDb } from '../dsp/fbank.js';
import { GatewayError, toGatewayError } from '../protocol/errors.js';
import { FRAME_MS } from './endpoint.js';
import type { EncodedItem, SegmentItem, StreamEncoder, StreamEncoderStream, StreamModelInfo } from './stream-items.js';

export interface EncodeOptions {
  encoder: StreamEncoder;
  model: StreamModelInfo;
  /** Output frames per chunk, C = chunkMs / model.frameMs. */
  chunkFrames: number;
  /** Most audio (ms) the queue may hold before the stage errors with GW_ERR_BACKLOG. */
  maxPendingMs: number;
  /** Updated in place; read by the session for backlogMs() and stats(). */
  meter?: EncodeMeter;
  /** Whether chunks should carry their frames' levels (background rejection on); default never. Asked per chunk:
   *  the levels cost ~150 µs per second of audio, 13% of the fbank's own cost, for a feature that is off by default. */
  wantLevels?: () => boolean;
  now?: () => number;
}

/** Live counters of one encode subscription. */
export interface EncodeMeter {
  /** New audio in queued + running chunks, ms. */
  pendingMs: number;
  /** Largest pendingMs seen. */
  peakPendingMs: number;
  /** Chunks run / output frames produced. */
  chunks: number;
  outputFrames: number;
  /** Wall time awaiting the encoder, ms. */
  busyMs: number;
}

export function createEncodeMeter(): EncodeMeter {
  return { pendingMs: 0, peakPendingMs: 0, chunks: 0, outputFrames: 0, busyMs: 0 };
}

interface ChunkJob {
  kind: 'chunk';
  feats: Float32Array;
  frames: number;
  newMs: number;
  endFrame: number;
  arrivalMs: number;
  levels: { firstFrame: number; db: Float32Array } | undefined;
}

type Job = ChunkJob | Exclude<EncodedItem, { kind: 'logprobs' }>;

const D = FBANK_NUM_BINS;

export function encode(options: EncodeOptions): OperatorFunction<SegmentItem, EncodedItem> {
  const s = options.model.subsamplingFactor, r = options.model.rightContextFeatureFrames, C = options.chunkFrames;
  if (!(Number.isInteger(C) && C >= 1)) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `chunkFrames must be an integer >= 1, got ${C}`);
  }
  const W = s * C + r;
  const meter = options.meter ?? createEncodeMeter();
  const now = options.now ?? (() => performance.now());
  return (source) =>
    new Observable<EncodedItem>((subscriber) => {
      let stream: StreamEncoderStream | null = null;
      let closed = false;
      // Unconsumed frames of the open utterance: acc[0] is absolute frame accFirst; accArrival per frame.
      let acc = new Float32Array(4 * W * D);
      let accArrival = new Float64Array(4 * W);
      let accLen = 0, accFirst = 0;
      const queue: Job[] = [];
      let running = false, sourceDone = false;

      const release = (): void => {
        if (closed) return;
        closed = true;
        queue.length = 0;
        // pendingMs keeps the audio that was never run through the model: the session's processed_audio_ms shows it
        stream?.close();
      };
      const fail = (e: unknown, code: 'GW_ERR_INFERENCE' | 'GW_ERR_INTERNAL'): void => {
        if (closed) return;
        release();
        subscriber.error(toGatewayError(e, code));
      };

      const enqueueChunk = (c: number, real: number, consumed: number): void => {
        const frames = s * c + r;
        const feats = new Float32Array(frames * D);
        feats.set(acc.subarray(0, real * D));
        for (let f = real; f < frames; f++) feats.copyWithin(f * D, (real - 1) * D, real * D);
        const newFrames = Math.min(consumed, real);
        const job: ChunkJob = { kind: 'chunk', feats, frames, newMs: newFrames * FRAME_MS,
          endFrame: accFirst + newFrames, arrivalMs: accArrival[real - 1]!,
          levels: options.wantLevels?.() === true ? { firstFrame: accFirst, db: fbankFrameLevelsDb(acc, real, D) } : undefined };
        acc.copyWithin(0, consumed * D, accLen * D);
        accArrival.copyWithin(0, consumed, accLen);
        accLen -= consumed;
        accFirst += consumed;
        meter.pendingMs += job.newMs;
        meter.peakPendingMs = Math.max(meter.peakPendingMs, meter.pendingMs);
        if (meter.pendingMs > options.maxPendingMs) {
          fail(new GatewayError('GW_ERR_BACKLOG', `encoder queue holds ${meter.pendingMs} ms of audio, over the `
            + `limit of ${options.maxPendingMs} ms`), 'GW_ERR_INTERNAL');
          return;
        }
        queue.push(job);
      };

      const append = (feats: Float32Array, frames: number, firstFrame: number, arrivalMs: number): void => {
        if (accLen === 0) accFirst = firstFrame;
        if ((accLen + frames) * D > acc.length) {
          const cap = 2 * (accLen + frames);
          const a = new Float32Array(cap * D);
          a.set(acc.subarray(0, accLen * D));
          acc = a;
          const b = new Float64Array(cap);
          b.set(accArrival.subarray(0, accLen));
          accArrival = b;
        }
        acc.set(feats, accLen * D);
        accArrival.fill(arrivalMs, accLen, accLen + frames);
        accLen += frames;
        while (accLen >= W && !closed) enqueueChunk(C, W, s * C);
      };

      const pump = async (): Promise<void> => {
        running = true;
        while (queue.length > 0 && !closed) {
          const job = queue[0]!;
          if (job.kind === 'chunk') {
            const t0 = now();
            let res;
            try {
              res = await stream!.run(job.feats, job.frames);
            } catch (e) {
              fail(e, 'GW_ERR_INFERENCE');
              return;
            }
            if (closed) return;
            meter.busyMs += now() - t0;
            meter.chunks++;
            meter.outputFrames += res.frames;
            meter.pendingMs -= job.newMs;
            queue.shift();
            subscriber.next({ kind: 'logprobs', logProbs: res.logProbs, frames: res.frames, vocabSize: res.vocabSize,
              endFrame: job.endFrame, arrivalMs: job.arrivalMs, ...(job.levels ? { levels: job.levels } : {}) });
          } else {
            queue.shift();
            if (job.kind === 'utterance.end') stream!.reset();
            subscriber.next(job);
          }
        }
        running = false;
        if (sourceDone && !closed) {
          release();
          subscriber.complete();
        }
      };

      const kick = (): void => {
        if (!running && queue.length > 0 && !closed) {
          pump().catch((e: unknown) => fail(e, 'GW_ERR_INTERNAL'));
        }
      };

      try {
        stream = options.encoder.openStream();
      } catch (e) {
        fail(e, 'GW_ERR_INFERENCE');
        return undefined;
      }

      const subscription = source.subscribe({
        next: (item) => {
          if (closed) return;
          try {
            if (item.kind === 'utterance.frames') {
              append(item.feats, item.frames, item.firstFrame, item.arrivalMs);
            } else {
              if (item.kind === 'utterance.end' || item.kind === 'end') {
                while (accLen > 0 && !closed) {
                  const c = Math.min(C, Math.ceil(accLen / s));
                  enqueueChunk(c, Math.min(accLen, s * c + r), Math.min(accLen, s * c));
                }
                accLen = 0;
              }
              if (closed) return;
              queue.push(item);
            }
            kick();
          } catch (e) {
            fail(e, 'GW_ERR_INTERNAL');
          }
        },
        error: (e: unknown) => {
          release();
          subscriber.error(e);
        },
        complete: () => {
          sourceDone = true;
          if (!running && !closed) {
            release();
            subscriber.complete();
          }
        },
      });
      return () => {
        subscription.unsubscribe();
        release();
      };
    });
}
