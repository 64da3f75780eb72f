/**
 * SessionPipeline: the per-session composition of the stream stages, as the server uses it.
 *
 *   pushAudio / finalize / end  ->  Subject (in-band control, in audio order)
 *     -> decodeAudio -> resample -> denoise -> fbank -> vad -> endpoint      (synchronous, inside pushAudio)
 *     -> encode (EncoderStream, strictly ordered, concurrency 1)  -> ctcDecode  ->  events$
 *
 * The DSP stages run synchronously in `pushAudio`, so audio time advances as frames arrive; only encoder chunks are
 * asynchronous. A frame longer than {@link DSP_SLICE_MS} is cut into slices of that length: the first runs in
 * `pushAudio`, the rest one per event-loop turn (input-pacer.ts), and everything pushed meanwhile (audio, finalize,
 * end, endpointing changes) waits behind them, in order. So one 1 MiB frame (131 s of 8 kHz mu-law) cannot stall the
 * other sessions. Silence between utterances is dropped by `endpoint` and never reaches the encoder; a 300 ms
 * pre-roll before each onset is fed with the utterance so no speech is lost. Input chunking (and slicing) never
 * changes the output: every stage is chunk-invariant, decisions are per 10 ms frame and encoder windows are cut from
 * the frame sequence.
 *
 * Overload policy. Two queues can grow: encode's queue of encoder chunks (one per chunk_ms of utterance audio; silence
 * adds nothing) and the slices of large frames waiting for the DSP stages. `backlogMs()` reports the new audio in both,
 * which is the server's "unprocessed audio": it sends flow.pause / flow.resume at its water marks and ends the session
 * with GW_ERR_BACKLOG past its limits (server/flow-control.ts). The encoder queue itself is bounded by `maxPendingMs`
 * (default 20 000 ms; the gateway sets it to the server's in-flight cap): past it events$ errors with GW_ERR_BACKLOG
 * instead of growing without bound. Audio is never dropped silently. The DSP work per push is bounded by
 * {@link DSP_SLICE_MS} of audio.
 *
 * Errors: `pushAudio` throws GatewayError synchronously for a frame that splits a sample (GW_ERR_PARTIAL_SAMPLE) and
 * for audio after `end()` (GW_ERR_SESSION_ENDED); everything else (encoder GW_ERR_INFERENCE, decoder GW_ERR_DECODER,
 * backlog) errors `events$`, after which pushes are ignored. `dispose()` abandons the session (socket closed
 * without session.end): it tears the stages down and frees the encoder stream; events$ then never completes, so an
 * `end()` not yet settled, or called later, rejects at once with GW_ERR_SESSION_ENDED: nothing was flushed, and
 * resolving would tell the caller its transcript is complete.
 */
import { BehaviorSubject, Observable, Subject, type Subscription } from 'rxjs';
import { GatewayError } from '../protocol/errors.js';
import { PROTOCOL_LIMITS, type FinalReason } from '../protocol/messages.js';
import type { Hotword, SessionConfig } from '../protocol/session-config.js';
import type { Hotword as DecoderHotword } from '../inference/ctc-decoder.js';
import { hotwordsFromPhrases } from '../inference/hotword-tokens.js';
import { ctcDecode, DECODER_KINDS, type DecodeSettings, type DecoderKind, type LmFusion } from './ctc-decode.js';
import { decodeAudio, sampleFrameBytes } from './decode-audio.js';
import { denoise } from './denoise.js';
import { createEncodeMeter, encode } from './encode.js';
import { DEFAULT_ENDPOINT_OPTIONS, endpoint, FRAME_MS, type EndpointSettings } from './endpoint.js';
import { fbank } from './fbank.js';
import { InputPacer } from './input-pacer.js';
import { SegmentClock, type PipelineEvent } from './pipeline-event.js';
import { resample } from './resample.js';
import type { AudioBytesItem, ControlItem, StreamEncoder, StreamModelInfo } from './stream-items.js';
import { vad, VAD_MODES, type VadMode } from './vad.js';

export type { PipelineEvent, PipelineWord } from './pipeline-event.js';

export interface PipelineDeps {
  /** The shared encoder (inference/encoder-pool.ts EncoderPool); one stream is opened per session. */
  encoder: StreamEncoder;
  model: StreamModelInfo;
  /** `beam` (default): prefix beam search with hotwords and LM; `greedy`: best path, no hotwords (they are refused
   * with GW_ERR_BAD_HOTWORD), no LM. */
  decoder?: DecoderKind;
  /** CTC beam width (default: DEFAULT_PIPELINE_DEPS.beamSize, 16). */
  beamSize?: number;
  /** Clock for the stats' CPU timings (default performance.now). */
  now?: () => number;
  /** Bound of the encoder queue in ms of audio (default 20 000); past it events$ errors with GW_ERR_BACKLOG. */
  maxPendingMs?: number;
  /** Audio fed before a speech onset, ms (default 300; at most MAX_PRE_ROLL_MS). */
  preRollMs?: number;
  /** `energy` (default) or `off`: every frame is speech (see stream/vad.ts). */
  vad?: VadMode;
  /** Shallow fusion with a token LM in the beam search; absent: none. */
  lm?: LmFusion;
}

/** beamSize: 16, not 8: with the token LM (models/…/token-lm.bin) the wider beam took the held-out WER from 29.05% to
 * 28.25% (int8, 320 ms); the decoder's cost per beam is in `npm run bench:micro`, the serving cost in `npm run bench`. */
export const DEFAULT_PIPELINE_DEPS = { beamSize: 16, maxPendingMs: 20000, preRollMs: 300 } as const;

/**
 * Largest `preRollMs`: an utterance opens holding the pre-roll and the VAD's onset frames, and max_utterance_ms is
 * checked from the frame after them, so a longer pre-roll let the first utterance outlast the smallest
 * max_utterance_ms a client may set (1000 ms; a pre-roll of 1000 gave 1040 ms).
 */
export const MAX_PRE_ROLL_MS = PROTOCOL_LIMITS.minMaxUtteranceMs - (DEFAULT_ENDPOINT_OPTIONS.onsetFrames + 1) * FRAME_MS;

/** Longest audio the DSP stages take in one go, ms (~3 ms of main-thread time at 8 kHz with denoise). */
export const DSP_SLICE_MS = 500;

/** Throws GW_ERR_BAD_CONFIG quoting the bad value (beamSize is checked by CtcDecoder). */
export function validatePipelineDeps(deps: Partial<PipelineDeps>): void {
  const { maxPendingMs = DEFAULT_PIPELINE_DEPS.maxPendingMs, preRollMs = DEFAULT_PIPELINE_DEPS.preRollMs } = deps;
  if (!(maxPendingMs > 0)) throw new GatewayError('GW_ERR_BAD_CONFIG', `maxPendingMs must be > 0, got ${maxPendingMs}`);
  if (!Number.isInteger(preRollMs / 10) || preRollMs < 0 || preRollMs > MAX_PRE_ROLL_MS) {
    throw new GatewayError('GW_ERR_BAD_CONFIG',
      `preRollMs must be a multiple of 10 in [0, ${MAX_PRE_ROLL_MS}], got ${preRollMs}`);
  }
  if (deps.vad !== undefined && !VAD_MODES.includes(deps.vad)) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `vad must be one of ${VAD_MODES.join('|')}, got ${JSON.stringify(deps.vad)}`);
  }
  if (deps.decoder !== undefined && !DECODER_KINDS.includes(deps.decoder)) {
    throw new GatewayError('GW_ERR_BAD_CONFIG',
      `decoder must be one of ${DECODER_KINDS.join('|')}, got ${JSON.stringify(deps.decoder)}`);
  }
  if (deps.decoder === 'greedy' && deps.lm !== undefined) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', 'the greedy decoder takes no token LM (set lmWeight 0)');
  }
}

export interface PipelineStats {
  /** Audio received / fully processed (received minus backlog), ms of source audio. */
  audioMs: number;
  processedAudioMs: number;
  /** Utterances that produced a message (= finals once ended), partials and finals emitted. */
  utterances: number;
  partials: number;
  finals: number;
  encoderChunks: number;
  encoderOutputFrames: number;
  /** Wall time awaiting the encoder, ms (includes queueing in the shared pool). */
  encoderWaitMs: number;
  /** Largest backlog seen, ms. */
  peakBacklogMs: number;
  /** Main-thread time in pushAudio (decode .. endpoint, plus chunk hand-off), ms. */
  dspMs: number;
  /** Main-thread time in the CTC decoder stage (incl. event delivery), ms. */
  decodeMs: number;
}

export class SessionPipeline {
  readonly events$: Observable<PipelineEvent>;
  readonly #input = new Subject<AudioBytesItem | ControlItem>();
  readonly #output = new Subject<PipelineEvent>();
  readonly #hotwords: BehaviorSubject<readonly DecoderHotword[]>;
  readonly #endpointing: BehaviorSubject<EndpointSettings>;
  readonly #decoding: BehaviorSubject<DecodeSettings>;
  readonly #meter = createEncodeMeter();
  readonly #subscription: Subscription;
  readonly #done: Promise<void>;
  /** Rejects #done (a no-op once events$ completed or failed). */
  readonly #abandon: (e: GatewayError) => void;
  readonly #frameBytes: number;
  readonly #sampleRateHz: number;
  readonly #model: StreamModelInfo;
  readonly #greedy: boolean;
  readonly #now: () => number;
  readonly #pacer: InputPacer;
  readonly #clock = new SegmentClock();
  #samples = 0;
  /** Largest backlogMs() seen right after a push (slices waiting count; the meter sees only encoder chunks). */
  #peakPushBacklogMs = 0;
  #lastArrivalMs = 0;
  #ended = false;
  #failed = false;
  #counts = { utterances: 0, partials: 0, finals: 0, dspMs: 0, decodeMs: 0 };

  /** Throws GW_ERR_BAD_CONFIG for bad deps or a chunkMs the model cannot run; starts the stages (hot). */
  constructor(config: SessionConfig, deps: PipelineDeps) {
    validatePipelineDeps(deps);
    const model = deps.model;
    this.#model = model;
    this.#greedy = deps.decoder === 'greedy';
    this.#now = deps.now ?? (() => performance.now());
    this.#sampleRateHz = config.sampleRateHz;
    this.#frameBytes = sampleFrameBytes(config.encoding, config.channels);
    if (!Number.isInteger(config.chunkMs / model.frameMs) || config.chunkMs < model.frameMs) {
      throw new GatewayError('GW_ERR_BAD_CONFIG',
        `chunkMs must be a positive multiple of the model's ${model.frameMs} ms frame, got ${config.chunkMs}`);
    }
    this.#hotwords = new BehaviorSubject<readonly DecoderHotword[]>(this.#toDecoderHotwords(config.hotwords));
    this.#endpointing = new BehaviorSubject({ silenceMs: config.silenceMs, maxUtteranceMs: config.maxUtteranceMs });
    this.#decoding = new BehaviorSubject<DecodeSettings>({ minConfidence: config.minConfidence,
      alternatives: config.alternatives, backgroundRejectionDb: config.backgroundRejectionDb });
    this.events$ = this.#output.asObservable();
    let abandon!: (e: GatewayError) => void;
    this.#done = new Promise<void>((resolve, reject) => {
      this.#output.subscribe({ complete: resolve, error: reject });
      abandon = reject;
    });
    this.#abandon = abandon;
    this.#done.catch(() => undefined); // observed through end() / events$; never an unhandled rejection
    this.#pacer = new InputPacer((e) => this.#input.error(e));
    let decodeStart = 0;
    this.#subscription = this.#input.pipe(
      decodeAudio({ encoding: config.encoding, channels: config.channels }),
      resample(config.sampleRateHz),
      denoise(config.denoise),
      fbank(this.#clock),
      vad(undefined, deps.vad),
      endpoint(this.#endpointing, { preRollMs: deps.preRollMs ?? DEFAULT_PIPELINE_DEPS.preRollMs }),
      encode({
        encoder: deps.encoder, model, chunkFrames: config.chunkMs / model.frameMs, meter: this.#meter,
        maxPendingMs: deps.maxPendingMs ?? DEFAULT_PIPELINE_DEPS.maxPendingMs, now: this.#now,
        wantLevels: () => this.#decoding.value.backgroundRejectionDb > 0,
      }),
      (source) => new Observable((subscriber) => source.subscribe({
        next: (item) => {
          decodeStart = this.#now();
          subscriber.next(item);
          this.#counts.decodeMs += this.#now() - decodeStart;
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => subscriber.complete(),
      })),
      ctcDecode({ model, decoder: deps.decoder ?? 'beam', beamSize: deps.beamSize ?? DEFAULT_PIPELINE_DEPS.beamSize,
        interimResults: config.interimResults, minConfidence: config.minConfidence, settings$: this.#decoding,
        hotwords$: this.#hotwords,
        ...(deps.lm ? { lm: deps.lm } : {}) }),
    ).subscribe({
      next: (e) => {
        if (e.kind === 'partial') {
          this.#counts.partials++;
        } else if (e.kind === 'final') {
          this.#counts.finals++;
          this.#counts.utterances = e.utteranceId + 1;
        }
        this.#output.next(this.#clock.toSessionTime(e));
      },
      error: (e: unknown) => {
        this.#failed = true;
        this.#pacer.clear();
        this.#output.error(e);
      },
      complete: () => this.#output.complete(),
    });
  }

  /**
   * Feeds one binary frame received at `arrivalMs` (performance.now() at socket receipt). Runs the DSP stages
   * synchronously on its first {@link DSP_SLICE_MS} (all of it when nothing waits and it is no longer), the rest
   * in later turns; `bytes` is kept only until then. Throws GW_ERR_PARTIAL_SAMPLE / GW_ERR_SESSION_ENDED
   * (GatewayError) only.
   */
  pushAudio(bytes: Uint8Array, arrivalMs: number): void {
    if (this.#ended) throw new GatewayError('GW_ERR_SESSION_ENDED', 'audio after session.end is discarded');
    if (bytes.length % this.#frameBytes !== 0) {
      throw new GatewayError('GW_ERR_PARTIAL_SAMPLE',
        `binary frame of ${bytes.length} bytes is not a whole number of ${this.#frameBytes}-byte sample frames`);
    }
    // An empty frame (a keep-alive) carries no audio: it must not become the newest audio a final's latency is
    // measured from, nor wait behind large frames' slices as a job.
    if (this.#failed || bytes.length === 0) return;
    this.#samples += bytes.length / this.#frameBytes;
    this.#lastArrivalMs = arrivalMs;
    const sliceBytes = Math.max(1, Math.round((this.#sampleRateHz * DSP_SLICE_MS) / 1000)) * this.#frameBytes;
    const jobs = [];
    for (let off = 0; off < bytes.length; off += sliceBytes) {
      const slice = bytes.subarray(off, Math.min(bytes.length, off + sliceBytes));
      jobs.push({ samples: slice.length / this.#frameBytes, run: () => {
        const t0 = this.#now();
        this.#input.next({ kind: 'bytes', bytes: slice, arrivalMs });
        this.#counts.dspMs += this.#now() - t0;
      } });
    }
    this.#pacer.submit(jobs);
    this.#peakPushBacklogMs = Math.max(this.#peakPushBacklogMs, this.backlogMs());
  }

  /**
   * Finalises the open utterance after all audio pushed so far (reason 'finalize'), the audio the DSP stages still
   * hold included: a segment boundary, after which they start afresh (stream-items.ts, "Segments"). No event when
   * no utterance is open and that audio holds no speech onset.
   */
  finalize(): void {
    if (this.#ended || this.#failed) return;
    const arrivalMs = this.#lastArrivalMs, audioMs = this.audioMs();
    this.#pacer.submit([{ samples: 0, run: () => this.#input.next({ kind: 'finalize', arrivalMs, audioMs }) }]);
  }

  /**
   * No more audio: flushes every stage, emits the last final (reason `reason`) if an utterance is open, completes
   * events$. Resolves when events$ completes, rejects with its error; after `dispose()` (also one that comes while
   * this waits) rejects at once with GW_ERR_SESSION_ENDED unless events$ had completed already. Idempotent.
   */
  end(reason: FinalReason = 'session_end'): Promise<void> {
    if (!this.#ended) {
      this.#ended = true;
      if (!this.#failed) {
        const arrivalMs = this.#lastArrivalMs, audioMs = this.audioMs();
        this.#pacer.submit([{ samples: 0, run: () => {
          this.#input.next({ kind: 'end', reason, arrivalMs, audioMs });
          this.#input.complete();
        } }]);
      }
    }
    return this.#done;
  }

  /**
   * Replaces the hotword list (normalised protocol hotwords) at once, for all audio not yet decoded; throws
   * GW_ERR_BAD_HOTWORD and keeps the old list. Not queued behind the slices of large frames like endpointing: the
   * decoder runs after the asynchronous encoder, so that order promised nothing, and the finals decoded while slices
   * waited went out after session.updated with the old settings (docs/protocol.md: "applies to audio not yet decoded
   * when it arrives").
   */
  updateHotwords(hotwords: readonly Hotword[]): void {
    this.#hotwords.next(this.#toDecoderHotwords(hotwords));
  }

  /**
   * New endpointing values; they apply from the next 10 ms frame after the audio pushed so far. A value the open
   * utterance already reaches ends it at once, at that frame boundary: a `silenceMs` its trailing silence reaches
   * (reason `silence`), a `maxUtteranceMs` its length reaches (reason `max_utterance`; endpoint.ts).
   */
  updateEndpointing(e: { silenceMs: number; maxUtteranceMs: number }): void {
    const settings = { silenceMs: e.silenceMs, maxUtteranceMs: e.maxUtteranceMs };
    this.#pacer.submit([{ samples: 0, run: () => this.#endpointing.next(settings) }]);
  }

  /** New min_confidence / alternatives / background rejection; like hotwords, at once, to audio not yet decoded. */
  updateDecoding(d: DecodeSettings): void {
    this.#decoding.next({ ...d });
  }

  /**
   * Audio received but not yet through the encoder and decoder, ms: queued and running encoder chunks, plus slices
   * of large frames still waiting for the DSP stages.
   */
  backlogMs(): number {
    return this.#meter.pendingMs + (this.#pacer.queuedSamples * 1000) / this.#sampleRateHz;
  }

  /** Audio received since the session start, ms of source audio. */
  audioMs(): number {
    return (this.#samples * 1000) / this.#sampleRateHz;
  }

  stats(): PipelineStats {
    const audioMs = this.audioMs();
    return {
      audioMs,
      processedAudioMs: Math.max(0, audioMs - this.backlogMs()),
      utterances: this.#counts.utterances,
      partials: this.#counts.partials,
      finals: this.#counts.finals,
      encoderChunks: this.#meter.chunks,
      encoderOutputFrames: this.#meter.outputFrames,
      encoderWaitMs: this.#meter.busyMs,
      peakBacklogMs: Math.max(this.#meter.peakPendingMs, this.#peakPushBacklogMs),
      dspMs: this.#counts.dspMs,
      decodeMs: this.#counts.decodeMs,
    };
  }

  /** Abandons the session: tears every stage down (the encoder stream is closed); events$ emits nothing more. */
  dispose(): void {
    this.#ended = true;
    this.#pacer.clear();
    this.#subscription.unsubscribe();
    this.#abandon(new GatewayError('GW_ERR_SESSION_ENDED', 'the session was abandoned (dispose) before its end'));
  }

  #toDecoderHotwords(hotwords: readonly Hotword[]): DecoderHotword[] {
    if (this.#greedy && hotwords.length > 0) {
      throw new GatewayError('GW_ERR_BAD_HOTWORD', 'hotwords need the beam search decoder; this server decodes greedily');
    }
    return hotwordsFromPhrases(hotwords, this.#model.tokens,
      { separatorId: this.#model.separatorId, blankId: this.#model.blankId });
  }
}
