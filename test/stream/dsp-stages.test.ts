/** Operator tests of the synchronous stages: decode-audio, resample, denoise, fbank, vad (marbles + properties). */
import { Subject, from, lastValueFrom, toArray, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { EnergyVad } from '../../src/dsp/energy-vad.js';
import { FbankExtractor, fbankFrameCount } from '../../src/dsp/fbank.js';
import { Resampler } from '../../src/dsp/resampler.js';
import { SpectralSubtractor } from '../../src/dsp/spectral-subtraction.js';
import { GatewayError } from '../../src/protocol/errors.js';
import { decodeAudio } from '../../src/stream/decode-audio.js';
import { denoise } from '../../src/stream/denoise.js';
import { fbank } from '../../src/stream/fbank.js';
import { statefulOperator, type ControlItem, type FrameBlockItem, type SamplesItem } from '../../src/stream/stream-items.js';
import { resample } from '../../src/stream/resample.js';
import { vad } from '../../src/stream/vad.js';
import { concat as joinFloat32 } from '../dsp/helpers.js';
import { concat, noise, seconds, speechClips, toS16 } from './helpers.js';

const END: ControlItem = { kind: 'end', reason: 'session_end', arrivalMs: 99, audioMs: 0 };

function samplesIn(x: Float32Array, chunk: number): (SamplesItem | ControlItem)[] {
  const items: (SamplesItem | ControlItem)[] = [];
  for (let o = 0, k = 0; o < x.length; o += chunk, k++) {
    items.push({ kind: 'samples', samples: x.slice(o, o + chunk), arrivalMs: k });
  }
  items.push(END);
  return items;
}

function collect<T>(o: Observable<T>): Promise<T[]> {
  return lastValueFrom(o.pipe(toArray()));
}

/** `a` then a finalize then `b` then the end, in chunks of `chunk` samples. */
function twoSegments(a: Float32Array, b: Float32Array, chunk: number): (SamplesItem | ControlItem)[] {
  const items = samplesIn(a, chunk);
  items[items.length - 1] = { kind: 'finalize', arrivalMs: 50, audioMs: 0 };
  return [...items, ...samplesIn(b, chunk)];
}

function joinSamples(items: readonly { kind: string }[]): Float32Array {
  return joinFloat32(items.filter((i): i is SamplesItem => i.kind === 'samples').map((i) => i.samples));
}

function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

describe('statefulOperator', () => {
  const counting = (log: string[]) => statefulOperator<number, number>(() => {
    log.push('setup');
    return {
      next(x, emit) {
        if (x < 0) throw new Error(`negative ${x}`);
        emit(2 * x);
      },
      complete: (emit) => emit(-1),
      teardown: () => void log.push('teardown'),
    };
  });

  it('state per subscription; complete handler runs before completion; teardown once (marbles)', () => {
    const log: string[] = [];
    testScheduler().run(({ cold, expectObservable }) => {
      const src = cold('-a-b|', { a: 1, b: 2 });
      expectObservable(src.pipe(counting(log))).toBe('-a-b(c|)', { a: 2, b: 4, c: -1 });
      expectObservable(src.pipe(counting(log)), '^-!').toBe('-a-', { a: 2 });
    });
    expect(log).toEqual(['setup', 'setup', 'teardown', 'teardown']);
  });

  it('a throwing handler errors as a GatewayError (GW_ERR_INTERNAL) and tears down; source errors pass through',
    () => {
      const log: string[] = [];
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const src = cold('-a-b-a', { a: 1, b: -1 });
        expectObservable(src.pipe(counting(log))).toBe('-a-#', { a: 2 }, new GatewayError('GW_ERR_INTERNAL', 'negative -1'));
        expectSubscriptions(src.subscriptions).toBe('^--!');
        const boom = new GatewayError('GW_ERR_INFERENCE', 'x');
        expectObservable(cold('-a-#', { a: 1 }, boom).pipe(counting(log))).toBe('-a-#', { a: 2 }, boom);
      });
      expect(log).toEqual(['setup', 'setup', 'teardown', 'teardown']);
    });
});

describe('decodeAudio', () => {
  const bytes = (v: number[]): Uint8Array => toS16(Float32Array.from(v));

  it('decodes frames, skips empty ones, passes control items (marbles)', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const src = cold('a-b-c-(e|)', {
        a: { kind: 'bytes' as const, bytes: bytes([0.5, -0.5]), arrivalMs: 1 },
        b: { kind: 'bytes' as const, bytes: new Uint8Array(0), arrivalMs: 2 },
        c: { kind: 'finalize' as const, arrivalMs: 2, audioMs: 0 },
        e: END,
      });
      expectObservable(src.pipe(decodeAudio({ encoding: 'pcm_s16le', channels: 1 }))).toBe('a---c-(e|)', {
        a: { kind: 'samples', samples: Float32Array.from([0.5, -0.5]), arrivalMs: 1 },
        c: { kind: 'finalize', arrivalMs: 2, audioMs: 0 },
        e: END,
      });
    });
  });

  it('errors with GW_ERR_PARTIAL_SAMPLE and unsubscribes from the source', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('a-b-c', {
        a: { kind: 'bytes' as const, bytes: new Uint8Array(4), arrivalMs: 1 },
        b: { kind: 'bytes' as const, bytes: new Uint8Array(3), arrivalMs: 2 },
        c: { kind: 'bytes' as const, bytes: new Uint8Array(4), arrivalMs: 3 },
      });
      const err = new GatewayError('GW_ERR_PARTIAL_SAMPLE',
        'binary frame of 3 bytes is not a whole number of 4-byte sample frames (pcm_s16le, 2 channels)');
      expectObservable(src.pipe(decodeAudio({ encoding: 'pcm_s16le', channels: 2 })), '^ - - - -').toBe('a-#', {
        a: { kind: 'samples', samples: new Float32Array(1), arrivalMs: 1 },
      }, err);
      expectSubscriptions(src.subscriptions).toBe('^-!');
    });
  });

  it('unsubscribing tears the source subscription down', () => {
    testScheduler().run(({ hot, expectSubscriptions, expectObservable }) => {
      const src = hot('--a--a--', { a: { kind: 'bytes' as const, bytes: new Uint8Array(2), arrivalMs: 0 } });
      expectObservable(src.pipe(decodeAudio({ encoding: 'pcm_s16le', channels: 1 })), '^---!').toBe('--a-', {
        a: { kind: 'samples', samples: new Float32Array(1), arrivalMs: 0 },
      });
      expectSubscriptions(src.subscriptions).toBe('^---!');
    });
  });
});

describe('resample', () => {
  const x = noise(44100, 3, 0.2);

  it('20 x 50 ms equals 1 s at once and equals the Resampler (flushed on end)', async () => {
    const small = joinSamples(await collect(from(samplesIn(x, 2205)).pipe(resample(44100))));
    const big = joinSamples(await collect(from(samplesIn(x, 44100)).pipe(resample(44100))));
    const r = new Resampler({ inputRateHz: 44100, outputRateHz: 16000 });
    const a = r.push(x), b = r.flush();
    expect(small).toEqual(big);
    expect(small.length).toBe(16000);
    expect(Array.from(small)).toEqual([...Array.from(a), ...Array.from(b)]);
  });

  it('stamps outputs with the arrival of the input that produced them; the tail with the end arrival', async () => {
    const out = await collect(from(samplesIn(x, 4410)).pipe(resample(44100)));
    const stamps = out.map((o) => o.arrivalMs);
    expect(stamps).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99, 99]);
    expect(out.at(-1)).toBe(END);
  });

  it('finalize flushes the tail as the end does (with its arrival), then a new stream starts', async () => {
    const a = x.subarray(0, 20000), b = x.subarray(20000);
    const ref = (y: Float32Array) => {
      const r = new Resampler({ inputRateHz: 44100, outputRateHz: 16000 });
      return [...Array.from(r.push(y)), ...Array.from(r.flush())];
    };
    for (const chunk of [2205, 999]) {
      const out = await collect(from(twoSegments(a, b, chunk)).pipe(resample(44100)));
      const at = out.findIndex((o) => o.kind === 'finalize');
      expect(Array.from(joinSamples(out.slice(0, at)))).toEqual(ref(a));
      expect(Array.from(joinSamples(out.slice(at)))).toEqual(ref(b));
      expect(out[at - 1]!.arrivalMs).toBe(50);
    }
  });

  it('is the identity at 16 kHz (no copy)', async () => {
    const items = samplesIn(x.subarray(0, 1600), 800);
    const out = await collect(from(items).pipe(resample(16000)));
    expect(out).toEqual(items);
    expect((out[0] as SamplesItem).samples).toBe((items[0] as SamplesItem).samples);
  });
});

describe('denoise', () => {
  const x = concat([seconds(0.3), noise(8000, 5, 0.1)]);

  it("'off' is the identity operator", async () => {
    const items = samplesIn(x, 800);
    expect(await collect(from(items).pipe(denoise('off')))).toEqual(items);
  });

  it("'spectral' equals SpectralSubtractor in any chunking; output length = input length", async () => {
    const ref = new SpectralSubtractor();
    const expected = [...Array.from(ref.push(x)), ...Array.from(ref.flush())];
    for (const chunk of [800, 16000, 333]) {
      const y = joinSamples(await collect(from(samplesIn(x, chunk)).pipe(denoise('spectral'))));
      expect(y.length).toBe(x.length);
      expect(Array.from(y)).toEqual(expected);
    }
  });

  it("'spectral' flushes the tail on finalize, as on the end; the next segment keeps the noise estimate", async () => {
    const a = x.subarray(0, 7000), b = x.subarray(7000);
    const ref = new SpectralSubtractor();
    const first = [...Array.from(ref.push(a)), ...Array.from(ref.flushSegment())];
    const second = [...Array.from(ref.push(b)), ...Array.from(ref.flush())];
    for (const chunk of [800, 333]) {
      const out = await collect(from(twoSegments(a, b, chunk)).pipe(denoise('spectral')));
      const at = out.findIndex((o) => o.kind === 'finalize');
      expect(Array.from(joinSamples(out.slice(0, at)))).toEqual(first);
      expect(Array.from(joinSamples(out.slice(at)))).toEqual(second);
    }
  });
});

describe('fbank + vad', () => {
  const clip = speechClips()[0]!;
  const x = concat([seconds(0.4), clip.samples, seconds(0.4)]);

  async function blocks(chunk: number): Promise<FrameBlockItem[]> {
    const out = await collect(from(samplesIn(x, chunk)).pipe(fbank(), vad()));
    return out.filter((o): o is FrameBlockItem => o.kind === 'frames');
  }

  it('emits (N + 80) // 160 contiguous frames equal to FbankExtractor, any chunking', async () => {
    const ref = new FbankExtractor();
    const a = ref.push(x), b = ref.flush();
    for (const chunk of [800, 177, x.length]) {
      const bs = await blocks(chunk);
      let next = 0;
      const feats: number[] = [];
      for (const blk of bs) {
        expect(blk.firstFrame).toBe(next);
        next += blk.frames;
        feats.push(...blk.feats);
      }
      expect(next).toBe(fbankFrameCount(x.length));
      expect(feats).toEqual([...a, ...b]);
    }
  });

  it('aligns one VAD decision to each fbank frame (decision i = EnergyVad frame i)', async () => {
    const ref = new EnergyVad({ hangoverFrames: 1 });
    const d = [...ref.push(x).isSpeech, ...ref.flush().isSpeech];
    for (const chunk of [800, 177]) {
      const speech = (await blocks(chunk)).flatMap((b) => Array.from(b.speech!));
      expect(speech.length).toBe(fbankFrameCount(x.length));
      expect(speech).toEqual(d.slice(0, speech.length));
      expect(speech.some((s) => s === 1)).toBe(true);
    }
  });

  it('flushes the last frames and their VAD decisions on finalize, as on the end; frames count on after it, '
    + 'from a fresh extractor and a VAD that keeps its noise floor', async () => {
    const a = x.slice(8000, 9600), b = x.slice(9600, 11300);
    const s = new Subject<SamplesItem | ControlItem>();
    const out: string[] = [];
    const blocks: FrameBlockItem[] = [];
    const ended: number[][] = [];
    s.pipe(fbank({ segmentEnded: (frame, ms) => ended.push([frame, ms]) }), vad()).subscribe((o) => {
      out.push(o.kind === 'frames' ? `f${o.frames}@${o.firstFrame}` : o.kind);
      if (o.kind === 'frames') blocks.push(o);
    });
    s.next({ kind: 'samples', samples: a, arrivalMs: 0 });
    s.next({ kind: 'finalize', arrivalMs: 0, audioMs: 100 });
    s.next({ kind: 'samples', samples: b, arrivalMs: 1 });
    s.next({ ...END, audioMs: 206.25 });
    // frame i needs sample 160 i + 279; a segment of N samples has (N + 80) // 160 frames
    expect(out).toEqual(['f9@0', 'f1@9', 'finalize', 'f9@10', 'f2@19', 'end']);
    expect(ended).toEqual([[10, 100], [21, 206.25]]);
    const fresh = (y: Float32Array) => {
      const e = new FbankExtractor();
      return [...Array.from(e.push(y)), ...Array.from(e.flush())];
    };
    expect(blocks.flatMap((k) => Array.from(k.feats))).toEqual([...fresh(a), ...fresh(b)]);
    const ref = new EnergyVad({ hangoverFrames: 1 });
    const d = [...ref.push(a).isSpeech, ...ref.flushSegment().isSpeech, ...ref.push(b).isSpeech,
      ...ref.flush().isSpeech];
    expect(blocks.flatMap((k) => Array.from(k.speech!))).toEqual(d);
  });
});
