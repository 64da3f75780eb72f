/**
 * Stage 4: 16 kHz samples -> blocks of 80-bin Kaldi fbank frames, 10 ms per frame.
 *
 * It runs the native extractor (native/src/kaldi-fbank.cc), the compiled twin of dsp/fbank.ts: the same arithmetic
 * with the same output (bit-identical on the test signals, test/native/kaldi-fbank.test.ts) at a third of the
 * main-thread cost, which at 100 sessions was 45% of the main thread's busy time (docs/benchmarks.md).
 *
 * A block is emitted for every samples item (even with zero frames, because the VAD stage needs the samples) and
 * carries the absolute index of its first frame. Frame i of a segment covers its samples [160 i - 120, 160 i + 280)
 * and becomes available once sample 160 i + 279 has arrived (17.5 ms lookahead). On `finalize` and `end` the frames
 * that read the reflected end of the segment are flushed (in total (N + 80) // 160 frames for N samples) before the
 * item is forwarded, and `boundaries` learns where the segment ended; after a finalize the extractor starts a new
 * segment (reflected at its start, as at the stream start) while frame indices count on.
 */
import type { OperatorFunction } from 'rxjs';
import { FBANK_NUM_BINS } from '../dsp/fbank.js';
import { loadNativeAddon } from '../inference/native-addon.js';
import {
  statefulOperator, type ControlItem, type FrameBlockItem, type SamplesItem, type SegmentBoundaries,
} from './stream-items.js';

const NO_SAMPLES = new Float32Array(0);

export function fbank(
  boundaries?: SegmentBoundaries,
): OperatorFunction<SamplesItem | ControlItem, FrameBlockItem | ControlItem> {
  return statefulOperator(() => {
    const extractor = new (loadNativeAddon().FbankExtractor)();
    let segmentFirstFrame = 0; // index of the current segment's frame 0
    const block = (feats: Float32Array, samples: Float32Array, arrivalMs: number): FrameBlockItem => {
      const frames = feats.length / FBANK_NUM_BINS;
      return { kind: 'frames', feats, frames, firstFrame: segmentFirstFrame + extractor.framesEmitted - frames,
        samples, speech: null, arrivalMs };
    };
    return {
      next(item, emit) {
        if (item.kind === 'samples') {
          emit(block(extractor.push(item.samples), item.samples, item.arrivalMs));
          return;
        }
        const firstFrame = segmentFirstFrame + extractor.framesEmitted;
        const tail = extractor.flush(); // also resets the extractor: the next sample starts a segment
        const frames = tail.length / FBANK_NUM_BINS;
        segmentFirstFrame = firstFrame + frames;
        // before the tail goes on: an utterance the tail ends may be reported at once, and its end is this one
        boundaries?.segmentEnded(segmentFirstFrame, item.audioMs);
        if (frames > 0) {
          emit({ kind: 'frames', feats: tail, frames, firstFrame, samples: NO_SAMPLES, speech: null,
            arrivalMs: item.arrivalMs });
        }
        emit(item);
      },
    };
  });
}
