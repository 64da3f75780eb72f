/**
 * BackgroundGate (src/stream/background-gate.ts): which words of a final are taken for background talkers.
 */
import { describe, expect, it } from 'vitest';
import {
  BACKGROUND_MAX_CONFIDENCE, BackgroundGate, REFERENCE_MIN_WORDS, WORD_PAD_FRAMES,
} from '../../src/stream/background-gate.js';

/** A gate over one utterance starting at session frame `first`, with `levels[i]` the level of frame first + i. */
function gateWith(first: number, levels: number[]): BackgroundGate {
  const g = new BackgroundGate();
  g.startUtterance(first);
  // in two overlapping pieces, as chunks deliver them (the overlap repeats values)
  const cut = Math.floor(levels.length / 2);
  g.addLevels(first, Float32Array.from(levels.slice(0, cut + 3)));
  g.addLevels(first + cut, Float32Array.from(levels.slice(cut)));
  return g;
}

describe('BackgroundGate', () => {
  // frames 100..399 of the session: a loud word at 1.2-1.6 s (60 dB), a quiet one at 3.0-3.4 s (40 dB), floor 20 dB
  const levels = Array.from({ length: 300 }, (_, i) => (i >= 20 && i < 60 ? 60 : i >= 200 && i < 240 ? 40 : 20));
  const loud = { startMs: 1200, endMs: 1600, confidence: 0.5 };
  const quiet = { startMs: 3000, endMs: 3400, confidence: 0.5 };

  it('measures a word at the peak of its frames widened by the pad', () => {
    const g = gateWith(100, levels);
    expect(g.wordLevelDb(loud)).toBe(60);
    expect(g.wordLevelDb(quiet)).toBe(40);
    // a word whose span ends just before the quiet one's frames still sees them through the pad
    expect(g.wordLevelDb({ startMs: 2700, endMs: 3000 - WORD_PAD_FRAMES * 10 + 10 })).toBe(40);
    expect(g.wordLevelDb({ startMs: 2700, endMs: 3000 - WORD_PAD_FRAMES * 10 })).toBe(20);
    expect(g.wordLevelDb({ startMs: 9000, endMs: 9400 })).toBe(-Infinity); // frames never seen
  });

  it('drops an unsure word far below the session peak; keeps it when sure, close enough or off', () => {
    expect(gateWith(100, levels).decide([loud, quiet], 12)).toEqual([true, false]);
    expect(gateWith(100, levels).decide([loud, quiet], 25)).toEqual([true, true]); // 20 dB below: within 25
    expect(gateWith(100, levels).decide([loud, quiet], 0)).toEqual([true, true]);
    expect(gateWith(100, levels).decide([loud, { ...quiet, confidence: BACKGROUND_MAX_CONFIDENCE }], 12))
      .toEqual([true, true]);
    expect(gateWith(100, levels).decide([loud, { startMs: 9000, endMs: 9400, confidence: 0.1 }], 12))
      .toEqual([true, true]); // unknown level: no evidence
  });

  it('frames whose levels never came (rejection turned on mid-utterance) are unknown, not an earlier utterance\'s',
    () => {
      const g = gateWith(100, levels);
      g.decide([loud, quiet], 12);
      // the next utterance starts at frame 500; levels arrive only from frame 800 (the chunks before carried none)
      g.startUtterance(500);
      g.addLevels(800, new Float32Array(100).fill(60));
      const early = { startMs: 7000, endMs: 7400, confidence: 0.5 }; // at the rows the quiet word had (40 dB)
      expect(g.wordLevelDb(early)).toBe(-Infinity);
      expect(g.decide([early], 12, [], false)).toEqual([true]); // no evidence it is background
      expect(g.wordLevelDb({ startMs: 7000, endMs: 8000 - 10 * WORD_PAD_FRAMES + 10 })).toBe(60);
    });

  it('takes the decisions frozen for committed words as they are, whatever the levels and the threshold', () => {
    expect(gateWith(100, levels).decide([quiet, loud], 12, [true])).toEqual([true, true]);
    expect(gateWith(100, levels).decide([loud, loud], 12, [false])).toEqual([false, true]);
    expect(gateWith(100, levels).decide([quiet, quiet], 0, [false])).toEqual([false, true]); // off: the rest stays
  });

  it('judges a partial against the peak raised by its own words without keeping the raise', () => {
    const g = gateWith(100, levels);
    expect(g.decide([loud, quiet], 12, [], false)).toEqual([true, false]);
    expect(g.decide([quiet], 12, [], false)).toEqual([true]); // the loud word of the partial did not count
    g.decide([loud], 12); // a final does
    expect(g.decide([quiet], 12, [], false)).toEqual([false]);
  });

  it('keeps the session peak across utterances, from every word, dropped ones included (while few words were kept)', () => {
    const g = gateWith(100, levels);
    expect(g.decide([quiet], 12)).toEqual([true]); // alone, the quiet word is the loudest so far
    g.decide([loud], 12);
    g.startUtterance(1000);
    g.addLevels(1000, Float32Array.from({ length: 100 }, () => 45));
    expect(g.decide([{ startMs: 10100, endMs: 10300, confidence: 0.5 }], 12)).toEqual([false]); // 45 < 60 - 12
  });
  it('a shouted word does not raise the reference for the rest of the call once enough words were kept', () => {
    // one utterance per word, 1 s apart: word k at frames 100 k .. 100 k + 40, floor 20 dB
    const g = new BackgroundGate();
    const say = (k: number, db: number, confidence = 0.5): boolean => {
      g.startUtterance(100 * k);
      g.addLevels(100 * k, Float32Array.from({ length: 100 }, (_, i) => (i < 40 ? db : 20)));
      return g.decide([{ startMs: 1000 * k, endMs: 1000 * k + 400, confidence }], 12)[0]!;
    };
    for (let k = 0; k < REFERENCE_MIN_WORDS; k++) expect(say(k, 50)).toBe(true);
    expect(say(REFERENCE_MIN_WORDS, 80, 0.95)).toBe(true); // the shout, sure of itself
    expect(say(REFERENCE_MIN_WORDS + 1, 45)).toBe(true); // 35 dB below the shout, 5 below the talker: kept
    expect(say(REFERENCE_MIN_WORDS + 2, 30)).toBe(false); // 20 dB below the talker: background
    // before that many words were kept, the loudest word is the reference (as a fresh call's first words need)
    const early = new BackgroundGate();
    early.startUtterance(0);
    early.addLevels(0, Float32Array.from({ length: 300 }, (_, i) => (i < 40 ? 80 : i >= 200 && i < 240 ? 60 : 20)));
    expect(early.decide([{ startMs: 0, endMs: 400, confidence: 0.95 }, { startMs: 2000, endMs: 2400, confidence: 0.5 }],
      12)).toEqual([true, false]);
  });
});
