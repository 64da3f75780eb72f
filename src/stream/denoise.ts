/**
 * Stage 3 (optional): spectral subtraction on 16 kHz samples (dsp/spectral-subtraction.ts) when the session asked
 * for `denoise: 'spectral'`; the identity operator otherwise (no state, no copy).
 *
 * The denoiser's output is time-aligned with its input and lags it by one hop (16-32 ms): output produced while
 * consuming chunk x carries x's arrival. On `finalize` and `end` the tail is flushed (total output length = total
 * input length) before the item is forwarded, so the utterance a finalize ends gets all the audio received before it
 * (see resample.ts). After a finalize the next segment keeps the noise estimate (`flushSegment`): the room's noise
 * outlasts the cut; its first frame reads the last 16 ms before the cut, not zeros (a step to a DC offset or a hum
 * there was a click the VAD took for speech).
 */
import { identity, type OperatorFunction } from 'rxjs';
import { SpectralSubtractor } from '../dsp/spectral-subtraction.js';
import type { DenoiseMode } from '../protocol/messages.js';
import { statefulOperator, type ControlItem, type SamplesItem } from './stream-items.js';

export function denoise(mode: DenoiseMode): OperatorFunction<SamplesItem | ControlItem, SamplesItem | ControlItem> {
  if (mode !== 'spectral') return identity;
  return statefulOperator(() => {
    const subtractor = new SpectralSubtractor();
    return {
      next(item, emit) {
        if (item.kind === 'samples') {
          const samples = subtractor.push(item.samples);
          if (samples.length > 0) emit({ kind: 'samples', samples, arrivalMs: item.arrivalMs });
          return;
        }
        const tail = item.kind === 'end' ? subtractor.flush() : subtractor.flushSegment();
        if (tail.length > 0) emit({ kind: 'samples', samples: tail, arrivalMs: item.arrivalMs });
        emit(item);
      },
    };
  });
}
