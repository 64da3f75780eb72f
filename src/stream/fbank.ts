/**
 * Stage 4: 16 kHz samples -> blocks of 80-bin Kaldi fbank frames, 10 ms per frame.
 *
 * It runs the native extractor (native/src/kaldi-fbank.cc), the compiled twin of dsp/fbank.ts: the same arithmetic
 * with the same output (bit-identical on the test signals, test/native/kaldi-fbank.test.ts) at a third of the
 * main-thread cost, which at 100 sessions was 45% of the main thread's busy time (docs/benchmarks.md).
 *
 * A block is emitted for every samples item (even with zero frames, because the VAD stage needs the samples) and
 * carries the absolute index of its first frame. Frame i covers samples [160 i - 120, 160 i + 280) and becomes
 * available once sample 160 i + 279 has arrived (17.5 ms lookahead). On `end` the frames that read the reflected end
 * of signal are flushed (in total (N + 80) // 160 frames for N samples) before the end item is forwarded.
 */
import type { OperatorFunction } from 'rxjs';
import { FBANK_NUM_BINS } from '../dsp/fbank.js';
import { loadNativeAddon } from '../inference/native-addon.js';
import { statefulOperator, type ControlItem, type FrameBlockItem, type SamplesItem } from './stream-items.js';

const NO_SAMPLES = new Float32Array(0);

export function fbank(): OperatorFunction<SamplesItem | ControlItem, FrameBlockItem | ControlItem> {
  return statefulOperator(() => {
    const extractor = new (loadNativeAddon().FbankExtractor)();
    const block = (feats: Float32Array, samples: Float32Array, arrivalMs: number): FrameBlockItem => {
      const frames = feats.length / FBANK_NUM_BINS;
      return { kind: 'frames', feats, frames, firstFrame: extractor.framesEmitted - frames, samples, speech: null,
        arrivalMs };
    };
    return {
      next(item, emit) {
        if (item.kind === 'samples') {
          emit(block(extractor.push(item.samples), item.samples, item.arrivalMs));
          return;
        }
        if (item.kind === 'end') {
          const firstFrame = extractor.framesEmitted;
          const tail = extractor.flush(); // also resets the extractor
          if (tail.length > 0) {
            emit({ kind: 'frames', feats: tail, frames: tail.length / FBANK_NUM_BINS, firstFrame, samples: NO_SAMPLES,
              speech: null, arrivalMs: item.arrivalMs });
          }
        }
        emit(item);
      },
    };
  });
}
