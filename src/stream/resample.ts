/**
 * Stage 2: source-rate samples -> 16 kHz (band-limited polyphase, zero phase).
 *
 * The filter bank is designed by dsp/resampler.ts `polyphaseBank` and run by the native resampler
 * (native/src/polyphase-resampler.cc), the compiled twin of dsp/resampler.ts `Resampler`: equal output (test/native/
 * native-resampler.test.ts) at a third to a half of the main-thread cost, which matters for 8 kHz telephony calls
 * (docs/benchmarks.md). One resampler per subscription; equal rates pass the samples through untouched (no copy).
 * Output produced while consuming chunk x carries x's arrival (it needed x's lookahead). On `finalize` and `end` the
 * tail (the last ~J input samples, up to 5.3 ms at 8 kHz) is flushed with the item's arrival before the item is
 * forwarded, so the utterance a finalize ends gets all the audio received before it; the resampler then starts a new
 * segment (zeros before its first sample, output times from the boundary: stream-items.ts, "Segments").
 */
import type { OperatorFunction } from 'rxjs';
import { createNativeResampler } from '../inference/native-addon.js';
import { statefulOperator, type ControlItem, type SamplesItem } from './stream-items.js';

export const MODEL_SAMPLE_RATE_HZ = 16000;

export function resample(inputRateHz: number): OperatorFunction<SamplesItem | ControlItem, SamplesItem | ControlItem> {
  return statefulOperator(() => {
    const resampler = inputRateHz === MODEL_SAMPLE_RATE_HZ
      ? null
      : createNativeResampler(inputRateHz, MODEL_SAMPLE_RATE_HZ);
    return {
      next(item, emit) {
        if (resampler === null) {
          emit(item);
          return;
        }
        if (item.kind === 'samples') {
          const samples = resampler.push(item.samples);
          if (samples.length > 0) emit({ kind: 'samples', samples, arrivalMs: item.arrivalMs });
          return;
        }
        const tail = resampler.flush(); // finalize or end: the segment's tail
        if (tail.length > 0) emit({ kind: 'samples', samples: tail, arrivalMs: item.arrivalMs });
        emit(item);
      },
    };
  });
}
