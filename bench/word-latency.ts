/**
 * Word-to-partial latency of one final, from what the client saw of its utterance (load-session.ts). Pure, so the
 * matching rules are tested on hand-built transcripts (test/bench/word-latency.test.ts).
 *
 * Word i of a final is held by a message when that message's first i + 1 words equal the final's first i + 1 words:
 * matching by position, so a repeated word ("the ... the") or a word an earlier partial had elsewhere does not count
 * as seen early, and a partial whose earlier words were still wrong does not count either.
 */

/** One transcript message of the utterance as the client received it, in arrival order. */
export interface SeenTranscript {
  /** Arrival, performance.now() ms. */
  atMs: number;
  words: readonly string[];
  /** The utterance's transcript.final (the client learns a word from it when no partial held the word). */
  final: boolean;
}

export interface FinalWord {
  word: string;
  /** Audio time since session start, integer ms (protocol: the end of the frame that emits the word's last token). */
  end_ms: number;
}

export interface WordLatencies {
  /** Per word: first arrival of a message holding it minus the send time of the frame with its last sample, ms. */
  latenciesMs: number[];
  /** Words first held by the final itself: in latenciesMs (timed to the final's arrival), but no partial held them. */
  onlyInFinal: number;
  /** Words not timed: their end frame was never sent, or no message (not even the final) held them. */
  unmatched: number;
}

/** Splits a transcript text into words (the gateway joins words with single spaces). */
export const splitWords = (text: string): string[] => (text === '' ? [] : text.split(' '));

/**
 * `seen`: the utterance's messages in arrival order, the final last. `sentAtMs(audioMs)`: when the client sent the
 * frame holding audio time `audioMs`, or undefined if that frame was never sent.
 */
export function wordLatencies(
  seen: readonly SeenTranscript[], finalWords: readonly FinalWord[], sentAtMs: (audioMs: number) => number | undefined,
): WordLatencies {
  const out: WordLatencies = { latenciesMs: [], onlyInFinal: 0, unmatched: 0 };
  const target = finalWords.map((w) => w.word);
  let first = 0; // index into seen: the first message matching words 0..i can only move forward with i
  for (let i = 0; i < finalWords.length; i++) {
    // end_ms is an integer ms bound: the word's last sample lies just before it, so in the frame holding end_ms - 1
    const sentAt = sentAtMs(Math.max(0, finalWords[i]!.end_ms - 1));
    if (sentAt === undefined) {
      out.unmatched++;
      continue;
    }
    while (first < seen.length && !prefixMatches(seen[first]!.words, target, i + 1)) first++;
    if (first === seen.length) {
      out.unmatched++; // no later word can match either (its prefix contains this one), each is counted here
      continue;
    }
    if (seen[first]!.final) out.onlyInFinal++;
    out.latenciesMs.push(seen[first]!.atMs - sentAt);
  }
  return out;
}

function prefixMatches(got: readonly string[], want: readonly string[], n: number): boolean {
  if (got.length < n) return false;
  for (let i = 0; i < n; i++) if (got[i] !== want[i]) return false;
  return true;
}
