/**
 * Stage 1: binary audio frames -> mono Float32 samples at the source rate (dsp/pcm-decoder.ts).
 *
 * One `PcmDecoder` per subscription. A frame that splits a sample frame errors the stream with
 * `GW_ERR_PARTIAL_SAMPLE` (SessionPipeline checks the length first and throws it synchronously instead). Empty frames
 * emit nothing. Control items pass through unchanged (the decoder holds no tail).
 */
import type { OperatorFunction } from 'rxjs';
import { PcmDecoder } from '../dsp/pcm-decoder.js';
import type { AudioEncoding } from '../protocol/messages.js';
import { statefulOperator, type AudioBytesItem, type ControlItem, type SamplesItem } from './stream-items.js';

export interface DecodeAudioOptions {
  encoding: AudioEncoding;
  channels: 1 | 2;
}

const BYTES_PER_SAMPLE: Readonly<Record<AudioEncoding, number>> = { pcm_s16le: 2, pcm_f32le: 4, mulaw: 1, alaw: 1 };

/** Bytes per interleaved sample frame (bytes per sample x channels). */
export function sampleFrameBytes(encoding: AudioEncoding, channels: 1 | 2): number {
  return BYTES_PER_SAMPLE[encoding] * channels;
}

export function decodeAudio(
  options: DecodeAudioOptions,
): OperatorFunction<AudioBytesItem | ControlItem, SamplesItem | ControlItem> {
  return statefulOperator(() => {
    const decoder = new PcmDecoder(options);
    return {
      next(item, emit) {
        if (item.kind !== 'bytes') {
          emit(item);
          return;
        }
        const samples = decoder.push(item.bytes);
        if (samples.length > 0) emit({ kind: 'samples', samples, arrivalMs: item.arrivalMs });
      },
    };
  });
}
