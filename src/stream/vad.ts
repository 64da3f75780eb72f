/**
 * Stage 5: energy VAD decisions aligned to fbank frames (dsp/energy-vad.ts).
 *
 * VAD frame i covers samples [160 i, 160 i + 160), centred where fbank frame i is centred, so decision i belongs to
 * fbank frame i. The VAD decides frame i once sample 160 i + 159 has arrived, before the fbank frame (which needs
 * 160 i + 279), so decisions are queued and popped one per fbank frame: `speech[k]` of an output block is the
 * decision of frame `firstFrame + k`. Only at the end of a segment (finalize) or of the stream can the fbank's
 * reflected last frame outrun the VAD; then the VAD decides its partial frame, which covers it: of N samples the
 * fbank makes floor((N + 80) / 160) frames and the VAD ceil(N / 160), never fewer. After a finalize the detector
 * starts a new segment, frames counted from the boundary as the fbank's are, keeping its noise floor and the state
 * of its energy's high-pass (dsp/energy-vad.ts `startSegment`: a new frame grid must not change what a mains hum
 * reads); after `end` it starts from scratch.
 *
 * The detector runs without hangover (`hangoverFrames` 1 by default here): the endpointer counts trailing
 * non-speech itself against the session's `silence_ms`, so the two do not add up.
 *
 * Mode `off` marks every frame as speech: the whole stream is one utterance, cut only by max_utterance_ms,
 * `session.finalize` or the end (push-to-talk clients that endpoint themselves; evaluation of the model and decoder
 * on whole clips, as the PyTorch evaluation reads them).
 */
import { map, type OperatorFunction } from 'rxjs';
import { GatewayError } from '../protocol/errors.js';
import { EnergyVad, type EnergyVadFrames, type EnergyVadOptions } from '../dsp/energy-vad.js';
import { statefulOperator, type ControlItem, type FrameBlockItem } from './stream-items.js';

export const DEFAULT_STREAM_VAD_OPTIONS: Readonly<Partial<EnergyVadOptions>> = { hangoverFrames: 1 };

export type VadMode = 'energy' | 'off';
export const VAD_MODES: readonly VadMode[] = ['energy', 'off'];

export function vad(
  options: Partial<EnergyVadOptions> = DEFAULT_STREAM_VAD_OPTIONS,
  mode: VadMode = 'energy',
): OperatorFunction<FrameBlockItem | ControlItem, FrameBlockItem | ControlItem> {
  if (mode === 'off') {
    return map((item) => (item.kind === 'frames' ? { ...item, speech: new Uint8Array(item.frames).fill(1) } : item));
  }
  return statefulOperator(() => {
    const detector = new EnergyVad({ ...DEFAULT_STREAM_VAD_OPTIONS, ...options });
    let queue = new Uint8Array(64);
    let head = 0;
    let length = 0;
    const enqueue = (d: EnergyVadFrames): void => {
      const n = d.isSpeech.length;
      if (head + length + n > queue.length) {
        const bigger = new Uint8Array(Math.max(queue.length, 2 * (length + n)));
        bigger.set(queue.subarray(head, head + length));
        queue = bigger;
        head = 0;
      }
      queue.set(d.isSpeech, head + length);
      length += n;
    };
    return {
      next(item, emit) {
        if (item.kind !== 'frames') {
          if (item.kind === 'end') detector.reset();
          else detector.startSegment();
          head = length = 0;
          emit(item);
          return;
        }
        if (item.samples.length > 0) enqueue(detector.push(item.samples));
        if (length < item.frames) enqueue(detector.flushSegment()); // a segment's or the stream's end (see header)
        if (length < item.frames) {
          throw new GatewayError('GW_ERR_INTERNAL', `VAD has ${length} decisions for ${item.frames} fbank frames`);
        }
        const speech = queue.slice(head, head + item.frames);
        head += item.frames;
        length -= item.frames;
        if (length === 0) head = 0;
        emit({ ...item, speech });
      },
    };
  });
}
