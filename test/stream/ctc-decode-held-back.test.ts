/**
 * ctcDecode holds back a partial that would be rejected as noise if the utterance ended now (no word reaching
 * min_confidence), so a click never flashes a letter. Once a partial has committed stable text the utterance can no
 * longer be rejected (its final keeps that text), so holding back from then on only withheld real words until the
 * final: raising min_confidence mid-utterance (session.update) stopped every partial of it.
 */
import { BehaviorSubject, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Hotword } from '../../src/inference/ctc-decoder.js';
import { ctcDecode, type DecodeSettings } from '../../src/stream/ctc-decode.js';
import type { PipelineEvent } from '../../src/stream/pipeline-event.js';
import type { EncodedItem } from '../../src/stream/stream-items.js';
import { tokenId, V } from '../native/ctc-fixtures.js';
import { FAKE_MODEL } from './helpers.js';

/** One frame per character of `pattern` (`-` blank, ` ` separator), the character at probability `p`. */
function posteriors(pattern: string, p = 0.99): Float32Array {
  const out = new Float32Array(pattern.length * V).fill(Math.log((1 - p) / (V - 1)));
  [...pattern].forEach((ch, t) => { out[t * V + tokenId(ch)] = Math.log(p); });
  return out;
}

describe('ctcDecode partials after stable text', () => {
  it('go on when min_confidence rises past every word once stable text was sent (the final keeps them anyway)', () => {
    const input = new Subject<EncodedItem>();
    const settings$ = new BehaviorSubject<DecodeSettings>({ minConfidence: 0.15, alternatives: 1,
      backgroundRejectionDb: 0 });
    const events: PipelineEvent[] = [];
    input.pipe(ctcDecode({ model: FAKE_MODEL, beamSize: 1, interimResults: true, minConfidence: 0.15,
      hotwords$: new BehaviorSubject<readonly Hotword[]>([]), settings$ }))
      .subscribe({ next: (e) => events.push(e), error: (e: unknown) => { throw e; } });
    let frame = 0;
    const chunk = (pattern: string): void => {
      frame += 4 * pattern.length;
      input.next({ kind: 'logprobs', logProbs: posteriors(pattern), frames: pattern.length, vocabSize: V,
        endFrame: frame, arrivalMs: frame * 10 });
    };
    input.next({ kind: 'utterance.start', startFrame: 0 });
    chunk('-g-o- ---');
    chunk('---u-p-- ------');
    const committed = events.filter((e) => e.kind === 'partial' && e.stableText !== '');
    expect(committed.length, JSON.stringify(events)).toBeGreaterThan(0);
    settings$.next({ ...settings$.value, minConfidence: 1 }); // no word reaches it
    const before = events.length;
    chunk('---n-o-w--');
    input.next({ kind: 'utterance.end', reason: 'silence', endFrame: frame, arrivalMs: frame * 10 });
    const after = events.slice(before).map((e) => e.kind === 'partial' || e.kind === 'final' ? [e.kind, e.text] : [e.kind]);
    // before the fix: [['final', 'go up now']], "now" never seen in a partial
    expect(after).toEqual([['partial', 'go up now'], ['final', 'go up now']]);
  });
});
