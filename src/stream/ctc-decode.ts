/**
 * Stage 8: log-posteriors -> transcript events (inference/ctc-decoder.ts, native prefix beam search + hotwords; or
 * inference/ctc-greedy-decoder.ts, best path, for parity checks against the PyTorch evaluation).
 *
 * One decoder per subscription; its beams persist across the chunks of an utterance and `finalize()` resets them
 * for the next one (hotwords stay). Per utterance:
 * - after each chunk, when `interimResults` is on and the best text changed (and is not the previous partial's
 *   text, nor empty before any partial), a `partial` with `stableText`: the longest run of whole words inside the
 *   prefix shared by every beam (it can no longer change), never shrinking within the utterance;
 * - at `utterance.end`, exactly one `final` with word timings (session ms) and confidence (mean token posterior, 0
 *   for empty text). Every utterance gets its final, also with empty text (a cough): each speech.started /
 *   speech.stopped pair is answered by one final, whatever the model heard, so clients can rely on the pairing.
 *   When no word of it reaches `minConfidence` the utterance is rejected as noise: the final has empty text and
 *   carries what was heard in `rejected`; its partials wait while no word reaches it, and once a partial has
 *   committed stable words the utterance is no longer rejected (a hotword update or a later chunk can make the best
 *   hypothesis less confident, but stable words are a promise). Why: the energy VAD opens an
 *   utterance on a click or a breath, and the search (LM and token bonus) fills it with a letter at a confidence a
 *   real word rarely has ("n", 0.016). With `backgroundRejectionDb` > 0 partials and the final leave out words of
 *   quieter background talkers (background-gate.ts; a word's decision freezes when a partial commits it as stable,
 *   so stable text stays a prefix; none left in the final: rejected the same way). With
 *   `alternatives` > 1 a kept final also carries its n-best list of distinct texts (inference/n-best.ts), read from
 *   the beam just before it is finalised, its first entry the final's text.
 * Utterance ids count utterances: 0, 1, 2, ...
 * `startMs` / `endMs` are the audio the model was fed for the utterance (pre-roll and trailing silence included);
 * words lie inside. `newestArrivalMs` is the arrival of the newest audio in the chunk (partial) or of the audio that
 * ended the utterance (final). Speech events pass through. Hotword lists from `hotwords$` apply at once (live beams
 * are rescored as if the new list had applied from the utterance start), and so do `settings$` values (the next
 * chunk's partial and the next final use them). Decoder failures, a hotword list the decoder refuses included:
 * GW_ERR_DECODER.
 */
import type { Observable, OperatorFunction } from 'rxjs';
import {
  CtcDecoder, ctcText, ctcWords, type CtcDecodeResult, type CtcDecoderOptions, type CtcSearch,
  type Hotword as DecoderHotword,
} from '../inference/ctc-decoder.js';
import { CtcGreedyDecoder } from '../inference/ctc-greedy-decoder.js';
import { nBestTexts, type NBestText } from '../inference/n-best.js';
import { BackgroundGate } from './background-gate.js';
import { FRAME_MS } from './endpoint.js';
import { statefulOperator, type EncodedItem, type StreamModelInfo } from './stream-items.js';
import type { PipelineEvent, PipelineWord } from './pipeline-event.js';

/** `beam`: prefix beam search with hotwords and LM; `greedy`: best path (no hotwords, no LM). */
export const DECODER_KINDS = ['beam', 'greedy'] as const;
export type DecoderKind = (typeof DECODER_KINDS)[number];

export interface CtcDecodeOptions {
  model: StreamModelInfo;
  /** Default `beam`. */
  decoder?: DecoderKind;
  /** Beam width of the `beam` decoder. */
  beamSize: number;
  interimResults: boolean;
  /** An utterance whose every word is less confident than this gets a rejected (empty) final; 0: never. */
  minConfidence: number;
  /** The session's decoding settings, current and later values (a BehaviorSubject: session.update changes them);
   *  each applies from the next chunk decoded. Without it: `minConfidence`, no n-best lists, no background rejection. */
  settings$?: Observable<DecodeSettings>;
  hotwords$: Observable<readonly DecoderHotword[]>;
  /** Shallow fusion with a token LM (weights default to the decoder's); absent: none. */
  lm?: LmFusion;
}

/** The decoding settings a session may change mid-stream. */
export interface DecodeSettings {
  minConfidence: number;
  /** Texts in a final's n-best list; 1: none. */
  alternatives: number;
  /** Words this far below the session's reference level that the model is unsure of are left out of partials and
   *  finals (background-gate.ts), dB; 0: off. */
  backgroundRejectionDb: number;
}

/** A token LM shared by every session and its weights (inference/ctc-decoder.ts CtcDecoderOptions). */
export type LmFusion = Pick<CtcDecoderOptions, 'lm'> & Partial<Pick<CtcDecoderOptions, 'lmWeight' | 'lmTokenBonus'>>;

/**
 * Length (tokens) of the longest prefix of `tokens[0 .. n)` made of whole words: it ends where a separator or a
 * word-initial (`▁`) piece begins INSIDE the shared prefix. A boundary right after it in the best hypothesis only is
 * not enough: another beam may hold the same prefix without it and grow its last word ("you an" -> "you and").
 */
export function wholeWordPrefix(tokens: Int32Array, n: number, pieces: readonly string[], separatorId: number): number {
  const boundary = (k: number): boolean => tokens[k] === separatorId || pieces[tokens[k]!]?.startsWith('▁') === true;
  for (let k = Math.min(n, tokens.length) - 1; k > 0; k--) if (boundary(k)) return k;
  return 0;
}

/** The n-best list with the final's text first: the decoder's best reading, or what background rejection left of it
 * (then a reading equal to that text further down is dropped, so that texts stay distinct). */
function withFinalText(list: NBestText[], text: string): NBestText[] {
  if (list[0]?.text === text) return list;
  return [{ text, confidence: list[0]?.confidence ?? 0 }, ...list.slice(1).filter((a) => a.text !== text)];
}

export function ctcDecode(options: CtcDecodeOptions): OperatorFunction<EncodedItem, PipelineEvent> {
  const { model } = options;
  const sep = model.separatorId;
  return statefulOperator((_emit, fail) => {
    const decoder: CtcSearch = options.decoder === 'greedy'
      ? new CtcGreedyDecoder({ vocabSize: model.vocabSize, blankId: model.blankId })
      : new CtcDecoder({ vocabSize: model.vocabSize, blankId: model.blankId, separatorId: sep,
        beamSize: options.beamSize, ...options.lm });
    // A list the decoder refuses fails the session: thrown here it would escape to RxJS's unhandled-error report
    // (an uncaughtException), and the session would go on with the old list.
    const hotwordsSub = options.hotwords$.subscribe((h) => {
      try {
        decoder.setHotwords(h);
      } catch (e) {
        fail(e);
      }
    });
    let settings: DecodeSettings = { minConfidence: options.minConfidence, alternatives: 1, backgroundRejectionDb: 0 };
    const background = new BackgroundGate();
    const settingsSub = options.settings$?.subscribe((s) => {
      settings = s;
    });
    let id = -1; // id of the open utterance
    let startFrame = 0, endFrame = 0;
    let prevText = '', stableText = '';
    /** The heard words a partial committed (stable_text before background rejection), and whether each was kept:
     * decisions frozen with the promise, so stable_text stays a prefix of every later text. */
    let heardStable = '';
    let frozen: boolean[] = [];
    /** Noise: words, none of which reaches minConfidence (never when minConfidence is 0). */
    const isNoise = (words: readonly { confidence: number }[]): boolean =>
      words.length > 0 && words.every((w) => w.confidence < settings.minConfidence);
    /** A partial that would be rejected as noise if the utterance ended now waits: a click must not flash a letter
     * (voice bots barge in on partials). It goes out as soon as a word reaches minConfidence, or the final comes.
     * Once stable text went out the final keeps it (no rejection), so nothing waits: a min_confidence raised then
     * withheld every later word until the final. With rejection off no word list is built (this runs every chunk). */
    const heldBack = (r: CtcDecodeResult): boolean =>
      settings.minConfidence > 0 && stableText === '' && isNoise(ctcWords(r, model.tokens, sep, model.frameMs));
    /** The hypothesis' words with session times, inside the utterance's audio up to `endMs`. */
    const sessionWords = (r: CtcDecodeResult, endMs: number): PipelineWord[] => {
      const startMs = startFrame * FRAME_MS;
      return ctcWords(r, model.tokens, sep, model.frameMs).map((w) => ({ word: w.word,
        startMs: Math.min(endMs, startMs + w.startMs), endMs: Math.min(endMs, startMs + w.endMs),
        confidence: w.confidence }));
    };

    const partial = (r: CtcDecodeResult, arrivalMs: number, emit: (e: PipelineEvent) => void): void => {
      const heard = ctcText(r.tokens, model.tokens, sep);
      // background rejection also applies while decisions it froze earlier stand (it may be switched off mid-way)
      const gating = settings.backgroundRejectionDb > 0 || frozen.includes(false);
      if ((!gating && heard === prevText) || heldBack(r)) return;
      const stable = ctcText(r.tokens.subarray(0, wholeWordPrefix(r.tokens, r.stablePrefixLength, model.tokens, sep)),
        model.tokens, sep);
      const grows = stable.length > heardStable.length && (heard === stable || heard.startsWith(stable + ' '));
      let text = heard, keep: boolean[] | null = null;
      if (gating) {
        const words = sessionWords(r, endFrame * FRAME_MS);
        const decided = background.decide(words, settings.backgroundRejectionDb, frozen, false);
        text = words.filter((_, i) => decided[i]).map((w) => w.word).join(' ');
        if (text === prevText) return;
        keep = decided;
      }
      prevText = text;
      if (grows) {
        // without gating no decision froze a word out, so every stable word is kept
        const stableWords = stable.split(' ');
        frozen = keep?.slice(0, stableWords.length) ?? new Array<boolean>(stableWords.length).fill(true);
        heardStable = stable;
        stableText = stableWords.filter((_, i) => frozen[i]).join(' ');
      }
      emit({ kind: 'partial', utteranceId: id, text, stableText, startMs: startFrame * FRAME_MS,
        endMs: endFrame * FRAME_MS, newestArrivalMs: arrivalMs });
    };

    return {
      next(item, emit) {
        switch (item.kind) {
          case 'speech.started':
          case 'speech.stopped':
            emit(item);
            return;
          case 'utterance.start':
            startFrame = endFrame = item.startFrame;
            background.startUtterance(item.startFrame);
            id++;
            prevText = stableText = heardStable = '';
            frozen = [];
            return;
          case 'logprobs': {
            if (item.levels) background.addLevels(item.levels.firstFrame, item.levels.db);
            const r = decoder.decodeChunk(item.logProbs, item.frames, item.vocabSize);
            endFrame = item.endFrame;
            if (options.interimResults) partial(r, item.arrivalMs, emit);
            return;
          }
          case 'utterance.end': {
            const nBest = settings.alternatives;
            const alternatives = nBest > 1 ? decoder.finalAlternatives() : null;
            const r = decoder.finalize();
            const startMs = startFrame * FRAME_MS, endMs = item.endFrame * FRAME_MS;
            const heard = ctcText(r.tokens, model.tokens, sep);
            const all = sessionWords(r, endMs);
            // Stable words were promised never to change: an utterance that committed some is not taken back.
            const noise = stableText === '' && isNoise(all);
            // Background talkers, judged against the session's reference level (a click rejected as noise adds
            // nothing to it); words a partial committed keep the decision made then.
            const keep = noise ? [] : background.decide(all, settings.backgroundRejectionDb, frozen);
            const words = all.filter((_, i) => keep[i]);
            const text = words.length === all.length ? heard : words.map((w) => w.word).join(' ');
            let sum = 0;
            for (let k = 0; k < r.probs.length; k++) sum += r.probs[k]!;
            // a final without words (no token, or word separators alone) has confidence 0, as promised for empty text
            const confidence = all.length > 0 ? sum / r.probs.length : 0;
            const base = { kind: 'final', utteranceId: id, startMs, endMs, reason: item.reason,
              newestArrivalMs: item.arrivalMs } as const;
            if (noise || (stableText === '' && all.length > 0 && words.length === 0)) {
              emit({ ...base, text: '', words: [], confidence: 0, rejected: { text: heard, confidence } });
            } else {
              emit({ ...base, text, words, confidence, ...(alternatives === null ? {}
                : { alternatives: withFinalText(nBestTexts(alternatives, nBest, model.tokens, sep), text) }) });
            }
            return;
          }
          case 'end':
            return;
        }
      },
      teardown() {
        hotwordsSub.unsubscribe();
        settingsSub?.unsubscribe();
      },
    };
  }, 'GW_ERR_DECODER');
}
