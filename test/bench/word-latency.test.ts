import { describe, expect, it } from 'vitest';
import { wordLatencies, type FinalWord, type SeenTranscript } from '../../bench/word-latency.js';

/** 50 ms frames, frame k sent at 1000 + 50 k ms; frames from `sentFrames` on were never sent. */
const sentAt = (sentFrames = 1000) => (audioMs: number): number | undefined => {
  const frame = Math.floor(audioMs / 50);
  return frame < sentFrames ? 1000 + 50 * frame : undefined;
};
const msg = (atMs: number, text: string, final = false): SeenTranscript =>
  ({ atMs, words: text === '' ? [] : text.split(' '), final });
const fw = (text: string, ends: number[]): FinalWord[] => text.split(' ').map((word, i) => ({ word, end_ms: ends[i]! }));

describe('wordLatencies', () => {
  it('times a word from the send of the frame holding its last sample (end_ms is exclusive)', () => {
    // end_ms 200: last sample at 199.94 ms, frame 3 (150-200 ms), sent at 1150; end_ms 201: frame 4, sent at 1200
    const r = wordLatencies([msg(1300, 'a b'), msg(1400, 'a b', true)], fw('a b', [200, 201]), sentAt());
    expect(r.latenciesMs).toEqual([150, 100]);
  });

  it('matches by position: a repeated word is not seen early by an earlier occurrence', () => {
    const seen = [msg(1100, 'the'), msg(1200, 'the cat'), msg(1500, 'the cat the'), msg(1900, 'the cat the', true)];
    const r = wordLatencies(seen, fw('the cat the', [50, 100, 300]), sentAt());
    expect(r.latenciesMs).toEqual([1100 - 1000, 1200 - 1050, 1500 - 1250]);
  });

  it('a partial whose earlier words were still wrong does not hold a later word', () => {
    const seen = [msg(1300, 'a cat'), msg(1600, 'the cat'), msg(1900, 'the cat', true)];
    const r = wordLatencies(seen, fw('the cat', [100, 200]), sentAt());
    expect(r.latenciesMs).toEqual([1600 - 1050, 1600 - 1150]);
  });

  it('counts the words no partial held (first held by the final itself) and keeps their latency', () => {
    const seen = [msg(1300, 'turn on'), msg(1900, 'turn on the lights', true)];
    const r = wordLatencies(seen, fw('turn on the lights', [100, 200, 250, 400]), sentAt());
    expect(r.latenciesMs).toEqual([1300 - 1050, 1300 - 1150, 1900 - 1200, 1900 - 1350]);
    expect(r.onlyInFinal).toBe(2);
    expect(r.unmatched).toBe(0);
  });

  it('counts words it cannot time instead of dropping them silently', () => {
    // the final's text disagrees with its words from word 1 on: words 1 and 2 match no message
    const seen = [msg(1300, 'a'), msg(1900, 'a x y', true)];
    const r = wordLatencies(seen, fw('a b c', [100, 200, 300]), sentAt());
    expect(r.latenciesMs).toEqual([1300 - 1050]);
    expect(r.unmatched).toBe(2);
    // a word whose end frame the client never sent
    const r2 = wordLatencies([msg(1900, 'a b', true)], fw('a b', [100, 500]), sentAt(5));
    expect(r2.latenciesMs).toEqual([1900 - 1050]);
    expect(r2.unmatched).toBe(1);
  });

  it('an utterance without words yields nothing', () => {
    expect(wordLatencies([msg(1000, '', true)], [], sentAt())).toEqual({ latenciesMs: [], onlyInFinal: 0, unmatched: 0 });
  });
});
