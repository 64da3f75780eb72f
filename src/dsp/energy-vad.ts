/**
 * Streaming energy voice-activity detector on 16 kHz audio, one decision per 10 ms frame.
 *
 * Why energy-based and not a neural VAD (Silero, WebRTC GMM): it needs no extra model download or runtime, costs
 * about a microsecond per frame (160 samples through a 2-pole filter and one log), and its job here is modest: gate
 * the encoder for long silences and give the endpointer a first hint. The decisive endpointing evidence comes from
 * the acoustic model itself (a run of trailing CTC blanks after the last token), which is far more robust to noise
 * than any frame-energy rule; this detector only has to be cheap, causal and predictable.
 *
 * Rule per frame (all in dB, energyDb = 10 log10(mean(h^2) + 1e-10), h the signal through a 60 Hz high-pass that
 * runs across frames: an offset removed, as the fbank removes it, see `measure`; digital silence, and a constant
 * level, is -100 dBFS):
 *   candidate = energyDb > floorDb + thresholdDb and energyDb > minSpeechDb;
 *   the floor then tracks the noise: it falls fast toward quieter frames (floorDb += floorFall (e - floorDb)) and
 *   rises at most floorRiseDbPerSec otherwise, so it settles on the noise level between words and re-learns a
 *   louder noise within seconds; it starts at the first frame's energy;
 *   digital silence (frames below DIGITAL_SILENCE_DB: a muted microphone, a call on hold, a carrier's idle
 *   codes) says nothing about the room's noise, so it leaves the floor where it is, and a stream that starts with it
 *   begins at minSpeechDb - thresholdDb, the highest floor that still decides nothing (minSpeechDb is the stricter
 *   bound below it). Followed down to -100 dB, the floor took ~14 s at 3 dB/s to climb back to a -50 dB room,
 *   all of it "speech", so no utterance ended in between;
 *   hysteresis: speech starts after `onsetFrames` consecutive candidates and ends after `hangoverFrames`
 *   consecutive non-candidates. `isSpeech[i]` is the state after frame i (causal: the onset frames themselves are
 *   reported once the run is long enough, from the frame that completes it).
 * `push` emits every complete frame; `flush` emits a last partial frame (energy over the samples it has) and resets;
 * `flushSegment` does the same but keeps the noise floor and the filter for the next segment (session.finalize).
 */
import { GatewayError } from '../protocol/errors.js';

export interface EnergyVadOptions {
  /** Only 16000 is supported. */
  sampleRateHz: number;
  /** Frame length, one of 10, 20, 30 ms. */
  frameMs: number;
  /** A frame is a speech candidate this many dB above the noise floor, in [1, 40]. */
  thresholdDb: number;
  /** Frames quieter than this (dBFS) are never speech, in [-100, 0]. */
  minSpeechDb: number;
  /** Consecutive candidate frames that start speech, in [1, 100]. */
  onsetFrames: number;
  /** Consecutive non-candidate frames that end speech, in [1, 1000]. */
  hangoverFrames: number;
  /** Fastest rise of the noise floor, in (0, 100] dB/s. */
  floorRiseDbPerSec: number;
  /** Fraction of the gap the floor closes per frame toward a quieter frame, in (0, 1]. */
  floorFall: number;
}

export const DEFAULT_ENERGY_VAD_OPTIONS: Readonly<EnergyVadOptions> = {
  sampleRateHz: 16000,
  frameMs: 10,
  thresholdDb: 9,
  minSpeechDb: -55,
  onsetFrames: 3,
  hangoverFrames: 30,
  floorRiseDbPerSec: 3,
  floorFall: 0.3,
};

/**
 * Frames at or below this level (dBFS) are digital silence, not a room: 16-bit audio's own quantisation noise is
 * about -101 dBFS, a quiet room through a headset -70 to -60 dBFS.
 */
export const DIGITAL_SILENCE_DB = -90;

function check(ok: boolean, name: string, rule: string, v: number): void {
  if (!ok) throw new GatewayError('GW_ERR_BAD_CONFIG', `${name} must be ${rule}, got ${v}`);
}

export function validateEnergyVadOptions(o: EnergyVadOptions): void {
  check(o.sampleRateHz === 16000, 'sampleRateHz', '16000', o.sampleRateHz);
  check(o.frameMs === 10 || o.frameMs === 20 || o.frameMs === 30, 'frameMs', 'one of 10, 20, 30', o.frameMs);
  check(o.thresholdDb >= 1 && o.thresholdDb <= 40, 'thresholdDb', 'in [1, 40]', o.thresholdDb);
  check(o.minSpeechDb >= -100 && o.minSpeechDb <= 0, 'minSpeechDb', 'in [-100, 0]', o.minSpeechDb);
  check(Number.isInteger(o.onsetFrames) && o.onsetFrames >= 1 && o.onsetFrames <= 100, 'onsetFrames',
    'an integer in [1, 100]', o.onsetFrames);
  check(Number.isInteger(o.hangoverFrames) && o.hangoverFrames >= 1 && o.hangoverFrames <= 1000, 'hangoverFrames',
    'an integer in [1, 1000]', o.hangoverFrames);
  check(o.floorRiseDbPerSec > 0 && o.floorRiseDbPerSec <= 100, 'floorRiseDbPerSec', 'in (0, 100]',
    o.floorRiseDbPerSec);
  check(o.floorFall > 0 && o.floorFall <= 1, 'floorFall', 'in (0, 1]', o.floorFall);
}

/** Decisions for consecutive frames; frame `firstFrame + i` covers samples [i * frameSamples, ...) of the stream. */
export interface EnergyVadFrames {
  /** Index of the first frame in this batch, counted from the stream start. */
  firstFrame: number;
  /** 1 where the detector is in speech after that frame, else 0. */
  isSpeech: Uint8Array;
  /** Frame energy in dBFS (full-scale sine: -3 dB; digital silence: -100 dB). */
  energyDb: Float32Array;
}

export class EnergyVad {
  readonly options: Readonly<EnergyVadOptions>;
  readonly frameSamples: number;
  private readonly riseDbPerFrame: number;
  private readonly pending: Float32Array;
  private pendingLen = 0;
  /** `measure`'s filter; its state runs on across frames and segments (one signal), reset with the stream. */
  private readonly highPass = new HighPass();
  private frameIndex = 0;
  private floorDb = Number.NaN;
  private inSpeech = false;
  private speechRun = 0;
  private silenceRun = 0;

  constructor(options: Partial<EnergyVadOptions> = {}) {
    const o = { ...DEFAULT_ENERGY_VAD_OPTIONS, ...options };
    validateEnergyVadOptions(o);
    this.options = Object.freeze(o);
    this.frameSamples = (o.sampleRateHz * o.frameMs) / 1000;
    this.riseDbPerFrame = (o.floorRiseDbPerSec * o.frameMs) / 1000;
    this.pending = new Float32Array(this.frameSamples);
  }

  /** True while the detector is in speech (after the last frame processed). */
  get speaking(): boolean {
    return this.inSpeech;
  }

  /** Current noise-floor estimate in dBFS (NaN before the first frame). */
  get noiseFloorDb(): number {
    return this.floorDb;
  }

  /** Consumes samples; returns decisions for every frame completed by them. */
  push(samples: Float32Array): EnergyVadFrames {
    const fs = this.frameSamples;
    const count = Math.floor((this.pendingLen + samples.length) / fs);
    const res = this.alloc(count);
    let i = 0;
    for (let f = 0; f < count; f++) {
      let power: number;
      if (this.pendingLen > 0) {
        // complete the held partial frame in place, so one measurement serves every frame
        const need = fs - this.pendingLen;
        this.pending.set(samples.subarray(0, need), this.pendingLen);
        power = this.measure(this.pending, 0, fs);
        i = need;
        this.pendingLen = 0;
      } else {
        power = this.measure(samples, i, fs);
        i += fs;
      }
      this.decide(power, res, f);
    }
    const rest = samples.length - i;
    this.pending.set(samples.subarray(i), this.pendingLen);
    this.pendingLen += rest;
    return res;
  }

  /** Decides on the partial last frame (if any samples are pending) and resets for a new stream. */
  flush(): EnergyVadFrames {
    const res = this.decidePending();
    this.reset();
    return res;
  }

  /**
   * Decides on the partial last frame like `flush`, then starts a new segment of the same stream (`startSegment`):
   * for a cut inside one stream (session.finalize) after which the audio goes on in the same room.
   */
  flushSegment(): EnergyVadFrames {
    const res = this.decidePending();
    this.startSegment();
    return res;
  }

  /**
   * Starts a new segment: a pending partial frame is dropped undecided, the next sample begins frame 0, and the
   * onset and hangover runs start over (they count consecutive frames of one grid). The noise floor stays: it
   * describes the room, which a segment boundary does not change, and re-learning it would misjudge the next
   * segment's first seconds. So does the high-pass (`measure`): the signal goes on, only the frame grid moves.
   */
  startSegment(): void {
    if (this.pendingLen > 0) this.measure(this.pending, 0, this.pendingLen);
    this.pendingLen = 0;
    this.frameIndex = 0;
    this.inSpeech = false;
    this.speechRun = 0;
    this.silenceRun = 0;
  }

  reset(): void {
    this.startSegment();
    this.floorDb = Number.NaN;
    this.highPass.reset();
  }

  private decidePending(): EnergyVadFrames {
    const res = this.alloc(this.pendingLen > 0 ? 1 : 0);
    if (this.pendingLen > 0) this.decide(this.measure(this.pending, 0, this.pendingLen), res, 0);
    this.pendingLen = 0;
    return res;
  }

  private alloc(count: number): EnergyVadFrames {
    return { firstFrame: this.frameIndex, isSpeech: new Uint8Array(count), energyDb: new Float32Array(count) };
  }

  /**
   * Mean square of the frame x[from .. from + n) through the high-pass, or its variance about its own mean (nearly 0)
   * when that says digital silence (a constant level). Why a filter, not the frame's own mean removed as before: a
   * 10 ms frame is half a 50 Hz mains hum's period, so its own mean took a share of the hum that depended on where
   * the frame grid fell, up to 10 dB with the hum's third harmonic; session.finalize restarts the grid (stream/vad.ts)
   * and, against the floor learnt before it, the same hum read as speech. A filter running on the signal reads a
   * steady hum alike on any grid. It still removes an offset, as the fbank does (the model hears speech riding on
   * one, and an energy that counted 0.01, a cheap converter's bias, at -40 dBFS held the floor above a quiet talker),
   * and rumble more than the frame's mean did (20 Hz: -20 dB against about -9). The price of its memory: a
   * full-scale tone that stops dead rings about 5 ms into the next frame.
   */
  private measure(x: Float32Array, from: number, n: number): number {
    let sum = 0, sumSquares = 0, filtered = 0;
    for (let j = from; j < from + n; j++) {
      const v = x[j]!;
      sum += v;
      sumSquares += v * v;
      const h = this.highPass.next(v);
      filtered += h * h;
    }
    // A NaN or an infinity (the session's PcmDecoder reads them as 0; a direct caller may not) stays in the filter's
    // state and, through the energy, in the floor: every later frame read NaN, never speech. The frame says nothing,
    // as digital silence, and the filter starts over at the next sample, so the detector forgets it as fbank does.
    if (!Number.isFinite(filtered) || !Number.isFinite(sumSquares)) {
      this.highPass.reset();
      return 0;
    }
    // from the sums; the subtraction cancels to rounding (~1e-16 of the offset's power) for a constant level
    const own = Math.max(0, sumSquares - (sum * sum) / n) / n;
    return 10 * Math.log10(own + 1e-10) <= DIGITAL_SILENCE_DB ? own : filtered / n;
  }

  private decide(meanSquare: number, res: EnergyVadFrames, i: number): void {
    const o = this.options;
    const e = 10 * Math.log10(meanSquare + 1e-10);
    const digitalSilence = e <= DIGITAL_SILENCE_DB;
    if (Number.isNaN(this.floorDb)) this.floorDb = digitalSilence ? Math.max(e, o.minSpeechDb - o.thresholdDb) : e;
    const candidate = e > this.floorDb + o.thresholdDb && e > o.minSpeechDb;
    if (!digitalSilence) {
      this.floorDb = e < this.floorDb ? this.floorDb + o.floorFall * (e - this.floorDb)
        : Math.min(e, this.floorDb + this.riseDbPerFrame);
    }
    if (candidate) {
      this.speechRun++;
      this.silenceRun = 0;
      if (!this.inSpeech && this.speechRun >= o.onsetFrames) this.inSpeech = true;
    } else {
      this.silenceRun++;
      this.speechRun = 0;
      if (this.inSpeech && this.silenceRun >= o.hangoverFrames) this.inSpeech = false;
    }
    res.isSpeech[i] = this.inSpeech ? 1 : 0;
    res.energyDb[i] = e;
    this.frameIndex++;
  }
}

/** Pole of each stage of the high-pass: a 60 Hz corner at 16 kHz. */
const HIGH_PASS_POLE = 1 - (2 * Math.PI * 60) / 16000;

/**
 * Two one-pole DC blockers in cascade (y[n] = x[n] - x[n-1] + p y[n-1]): 12 dB per octave below 60 Hz, -2.7 dB at
 * 100 Hz, -0.7 dB at 200 Hz. It starts as if the first sample had always been there, so an offset present from the
 * start gives no step.
 */
class HighPass {
  #x1 = Number.NaN;
  #y1 = 0;
  #z1 = 0;

  next(v: number): number {
    if (Number.isNaN(this.#x1)) this.#x1 = v;
    const y = v - this.#x1 + HIGH_PASS_POLE * this.#y1;
    const z = y - this.#y1 + HIGH_PASS_POLE * this.#z1;
    this.#x1 = v;
    this.#y1 = y;
    this.#z1 = z;
    return z;
  }

  reset(): void {
    this.#x1 = Number.NaN;
    this.#y1 = 0;
    this.#z1 = 0;
  }
}
