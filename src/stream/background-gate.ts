/**
 * Background-talker rejection for partials and finals (session.start `background_rejection_db`, 0: off).
 *
 * Why: on a call-centre headset the caller or agent is the loudest voice; colleagues and a TV behind them reach the
 * microphone 10-20 dB lower, and the model transcribes them too (10 dB babble on the held-out split: 46.4% WER
 * against 28.1% clean, partly words of the other talkers). A word whose level is more than `thresholdDb` below
 * the session's reference level, and that the model is not sure of (confidence below
 * {@link BACKGROUND_MAX_CONFIDENCE}), is taken for a background talker and left out of partials and the final. Both
 * conditions matter: by level alone quiet fricatives and spelled letters of the main talker go too (model card,
 * session 15).
 *
 * A word's level is the peak level of the fbank frames (10 ms) over its span widened by {@link WORD_PAD_FRAMES}
 * frames each side, because CTC places a word's tokens late and its 40 ms timings are coarse. Levels are
 * dsp/fbank.ts `fbankFrameLevelsDb` (summed mel energies in dB): only differences matter.
 * The reference is the loudest of the words being judged and of the earlier ones: until
 * {@link REFERENCE_MIN_WORDS} words were kept, the loudest word judged so far (the dropped ones included: a loud
 * word is never background; ctc-decode.ts does not show it utterances rejected as noise); after that, the 80th
 * percentile of the last 32 kept words, so that an angry caller's one shouted word does not silence the rest of
 * the call. A partial's words count only for its own judgement (the final decides whether they join the history),
 * and a word's decision is frozen once a partial commits it as stable_text, so that what a client was promised
 * stays a prefix of every later text.
 */

/** Words at least this confident are kept whatever their level. */
export const BACKGROUND_MAX_CONFIDENCE = 0.9;
/** Frames added to each side of a word's span when measuring its level (120 ms). */
export const WORD_PAD_FRAMES = 12;
/** Fbank frame length, ms. */
const ROW_MS = 10;
/** Once this many words were kept, the reference is a quantile of the recent kept words' levels instead of the
 *  loudest word ever: one shouted word must not raise it for the rest of the call. */
export const REFERENCE_MIN_WORDS = 8;
/** Recent kept words the reference looks at, and the quantile it takes of their levels. */
const REFERENCE_WINDOW_WORDS = 32;
const REFERENCE_QUANTILE = 0.8;

export interface TimedWord {
  /** Session audio time, ms. */
  startMs: number;
  endMs: number;
  confidence: number;
}

export class BackgroundGate {
  #peakDb = -Infinity;
  /** Levels of the last REFERENCE_WINDOW_WORDS kept words (ring), `#keptCount` in all. */
  #kept = new Float64Array(REFERENCE_WINDOW_WORDS);
  #keptCount = 0;
  #firstRow = 0;
  #levels = new Float32Array(1024);
  #count = 0;

  /** Starts an utterance whose first fbank frame is `firstRow` (session frame index). */
  startUtterance(firstRow: number): void {
    this.#firstRow = firstRow;
    this.#count = 0;
  }

  /** Levels (dB) of the utterance's frames `firstRow ..`; frames may repeat (chunks overlap), later values win. */
  addLevels(firstRow: number, levelsDb: Float32Array): void {
    const at = firstRow - this.#firstRow;
    if (at < 0) return;
    const end = at + levelsDb.length;
    if (end > this.#levels.length) {
      const grown = new Float32Array(Math.max(end, 2 * this.#levels.length));
      grown.set(this.#levels.subarray(0, this.#count));
      this.#levels = grown;
    }
    // Frames before `at` that no chunk covered (rejection turned on mid-utterance: earlier chunks carried no levels)
    // are unknown; left as they were, they held an earlier utterance's levels.
    if (at > this.#count) this.#levels.fill(-Infinity, this.#count, at);
    this.#levels.set(levelsDb, at);
    this.#count = Math.max(this.#count, end);
  }

  /** Peak level of the utterance's frames under [startMs, endMs) widened by the pad; -Infinity if none is known. */
  wordLevelDb(w: Pick<TimedWord, 'startMs' | 'endMs'>): number {
    const a = Math.max(0, Math.floor(w.startMs / ROW_MS) - WORD_PAD_FRAMES - this.#firstRow);
    const b = Math.min(this.#count, Math.ceil(w.endMs / ROW_MS) + WORD_PAD_FRAMES - this.#firstRow);
    let peak = -Infinity;
    for (let i = a; i < b; i++) peak = Math.max(peak, this.#levels[i]!);
    return peak;
  }

  /**
   * Which words to keep: `keep[i]` false for background words. Words `i < frozen.length` take `frozen[i]`, the
   * decision made when a partial committed them as stable_text (a promise: it never changes). `commit` (a final)
   * adds these words to the history the reference comes from; a partial only looks.
   */
  decide(words: readonly TimedWord[], thresholdDb: number, frozen: readonly boolean[] = [], commit = true):
    boolean[] {
    const levels = words.map((w) => this.wordLevelDb(w));
    let peak = this.#peakDb, loudest = -Infinity;
    for (const l of levels) {
      peak = Math.max(peak, l);
      loudest = Math.max(loudest, l);
    }
    const reference = Math.max(this.#historyReferenceDb(peak), loudest);
    // a word whose frames are unknown (levels arrive with the chunks) is kept: no evidence it is background
    const keep = words.map((w, i) => i < frozen.length ? frozen[i]! : thresholdDb <= 0
      || w.confidence >= BACKGROUND_MAX_CONFIDENCE || levels[i] === -Infinity
      || !(levels[i]! < reference - thresholdDb));
    if (commit) {
      this.#peakDb = peak;
      levels.forEach((l, i) => {
        if (keep[i] && l !== -Infinity) this.#kept[this.#keptCount++ % REFERENCE_WINDOW_WORDS] = l;
      });
    }
    return keep;
  }

  /** The reference of earlier words: the loudest judged word (`peak`) until REFERENCE_MIN_WORDS were kept, then the
   * REFERENCE_QUANTILE of the recent kept words' levels. */
  #historyReferenceDb(peak: number): number {
    if (this.#keptCount < REFERENCE_MIN_WORDS) return peak;
    const recent = Array.from(this.#kept.subarray(0, Math.min(this.#keptCount, REFERENCE_WINDOW_WORDS)))
      .sort((a, b) => a - b);
    return recent[Math.min(recent.length - 1, Math.floor(REFERENCE_QUANTILE * recent.length))]!;
  }
}
