/**
 * Property test of the ctcDecode stage's promises to clients (docs/protocol.md section 5) on random posteriors,
 * with hotword lists replaced between chunks, the shipped token LM on or off, every min_confidence regime, and
 * background rejection over random frame levels, switched on and off mid-utterance: one final per utterance,
 * stable text whole words that never shrink and that later partials and the final start with, no partial repeating
 * its predecessor.
 */
import { BehaviorSubject, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Hotword } from '../../src/inference/ctc-decoder.js';
import { hotwordsFromPhrases } from '../../src/inference/hotword-tokens.js';
import { ctcDecode, type DecodeSettings } from '../../src/stream/ctc-decode.js';
import type { PipelineEvent } from '../../src/stream/pipeline-event.js';
import type { EncodedItem } from '../../src/stream/stream-items.js';
import { TOKENS, peakyLogProbs, rng, shippedTokenLm } from '../native/ctc-fixtures.js';
import { FAKE_MODEL, checkOrder } from './helpers.js';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

function randomHotwords(rand: () => number): Hotword[] {
  const phrases = Array.from({ length: Math.floor(rand() * 4) }, () => ({
    phrase: Array.from({ length: 1 + Math.floor(rand() * 2) }, () =>
      Array.from({ length: 1 + Math.floor(rand() * 3) }, () => LETTERS[Math.floor(rand() * 26)]).join('')).join(' '),
    boost: 0.5 + rand() * 6,
  }));
  return hotwordsFromPhrases(phrases, TOKENS, { separatorId: 1 });
}

describe('ctcDecode on random posteriors and hotword updates', () => {
  const lm = shippedTokenLm();
  it('keeps the ordering, pairing and stable-prefix promises (1,000 seeds; seed 247 took back stable text before finals kept it)', () => {
    for (let seed = 1; seed <= 1000; seed++) {
      const rand = rng(seed);
      const hotwords$ = new BehaviorSubject<readonly Hotword[]>(randomHotwords(rand));
      const input = new Subject<EncodedItem>();
      const events: PipelineEvent[] = [];
      const minConfidence = [0, 0.15, 0.3, 0.5][Math.floor(rand() * 4)]!;
      const rejectionDb = (): number => [0, 0, 3, 6, 12][Math.floor(rand() * 5)]!;
      const settings$ = new BehaviorSubject<DecodeSettings>({ minConfidence, alternatives: 1,
        backgroundRejectionDb: rejectionDb() });
      input.pipe(ctcDecode({
        model: FAKE_MODEL, beamSize: 1 + Math.floor(rand() * 8), interimResults: true, minConfidence, hotwords$,
        settings$,
        ...(rand() < 0.5 ? { lm: { lm } } : {}),
      })).subscribe({ next: (e) => events.push(e), error: (e: unknown) => { throw e; } });
      const utterances = 1 + Math.floor(rand() * 3);
      let frame = 0;
      for (let u = 0; u < utterances; u++) {
        input.next({ kind: 'utterance.start', startFrame: frame });
        const chunks = 1 + Math.floor(rand() * 5);
        for (let c = 0; c < chunks; c++) {
          const frames = 1 + Math.floor(rand() * 8);
          const { logProbs } = peakyLogProbs(frames, rand, [0.1, 0.4, 0.7][Math.floor(rand() * 3)]);
          const levels = { firstFrame: frame, db: Float32Array.from({ length: 4 * frames }, () => 20 + 50 * rand()) };
          frame += 4 * frames;
          input.next({ kind: 'logprobs', logProbs, frames, vocabSize: 29, endFrame: frame, arrivalMs: frame, levels });
          if (rand() < 0.3) hotwords$.next(randomHotwords(rand));
          if (rand() < 0.2) settings$.next({ ...settings$.value, backgroundRejectionDb: rejectionDb() });
        }
        input.next({ kind: 'utterance.end', reason: 'silence', endFrame: frame, arrivalMs: frame });
      }
      input.complete();
      try {
        checkOrder(events);
        expect(events.filter((e) => e.kind === 'final')).toHaveLength(utterances);
        events.forEach((e, i) => {
          const prev = events[i - 1];
          if (e.kind === 'partial' && prev?.kind === 'partial') expect(e.text).not.toBe(prev.text);
        });
      } catch (e) {
        throw new Error(`seed ${seed}: ${(e as Error).message}`);
      }
    }
  });
});
