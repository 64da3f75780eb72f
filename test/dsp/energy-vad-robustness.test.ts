/**
 * EnergyVad on input outside what the pipeline feeds it, and over long streams. The session's PcmDecoder reads NaN
 * and infinities as 0 (docs/protocol.md section 4), but the detector is a public DSP stage (docs/architecture.md) and
 * its energy's high-pass and noise floor carry state across frames: a value that is not finite must cost the frames it
 * is in, not deafen the detector for the rest of the stream as the other stages forget it within a window.
 */
import { describe, expect, it } from 'vitest';
import { EnergyVad } from '../../src/dsp/energy-vad.js';
import { chunks, gaussian, readF32 } from './helpers.js';

/** AN4 "five five three five": ~0.5 s of room noise, then four digits (speech from frame ~42). */
const speech = readF32('fbank/speech.wav.f32');

const decisions = (vad: EnergyVad, x: Float32Array): number[] => Array.from(vad.push(x).isSpeech);

describe('EnergyVad robustness', () => {
  for (const [name, bad] of [['NaN', NaN], ['+Infinity', Infinity], ['-Infinity', -Infinity]] as const) {
    it(`one ${name} sample costs only its frame: the floor stays finite and later speech is heard as without it`,
      () => {
        const room = gaussian(16000, 3, 1e-3);
        const clean = new EnergyVad();
        clean.push(room);
        clean.push(new Float32Array(160));
        const expected = decisions(clean, speech);
        const vad = new EnergyVad();
        vad.push(room);
        const hit = new Float32Array(160);
        hit[5] = bad;
        const own = vad.push(hit);
        expect(own.isSpeech[0], 'the frame holding it is no speech').toBe(0);
        expect(Number.isFinite(vad.noiseFloorDb), `floor ${vad.noiseFloorDb}`).toBe(true);
        const after = decisions(vad, speech);
        expect(after.indexOf(1), 'onset').toBe(expected.indexOf(1));
        expect(after.filter((s) => s === 1).length).toBe(expected.filter((s) => s === 1).length);
      });
  }

  it('a NaN in the partial frame a segment drops (startSegment) does not reach the next segment', () => {
    const vad = new EnergyVad();
    vad.push(gaussian(16000, 4, 1e-3));
    const tail = new Float32Array(90);
    tail[10] = NaN;
    vad.push(tail);
    vad.startSegment();
    expect(decisions(vad, speech).includes(1)).toBe(true);
  });

  it('an hour of 16 kHz room noise in 1, 159, 161 and 800-sample pushes: frame indices exact, no speech, speech '
    + 'after it heard as at the start', () => {
    const vad = new EnergyVad({ hangoverFrames: 1 });
    const minute = gaussian(16000 * 60, 5, 3e-4);
    let frames = 0, speechFrames = 0;
    for (let m = 0; m < 60; m++) {
      for (const c of chunks(minute, [161, 159, 1, 800])) {
        const r = vad.push(c);
        if (r.firstFrame !== frames) expect(r.firstFrame).toBe(frames);
        frames += r.isSpeech.length;
        for (const s of r.isSpeech) speechFrames += s;
      }
    }
    expect(frames).toBe(3600 * 100);
    expect(speechFrames).toBe(0);
    const fresh = new EnergyVad({ hangoverFrames: 1 });
    fresh.push(minute);
    expect(decisions(vad, speech)).toEqual(decisions(fresh, speech));
  }, 60_000);
});
