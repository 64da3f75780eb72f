/**
 * MultichannelPipeline: one session's stereo audio transcribed per channel (session.start `multichannel`), for
 * telephony recordings and bridges that put the caller on one channel and the agent on the other: a downmix would
 * lay two talkers over each other. Each channel gets its own mono {@link SessionPipeline} (its own DSP state, VAD,
 * encoder stream and decoder) and every event carries its `channel` (0 left, 1 right).
 *
 * Binary frames are de-interleaved here: a frame must hold whole stereo sample frames (GW_ERR_PARTIAL_SAMPLE
 * otherwise, as in mono), and each half goes to its channel with the frame's arrival time. Control (finalize, end,
 * hotwords, endpointing) goes to both. Within a channel the events keep the mono pipeline's order and utterance ids
 * (0, 1, 2, ... per channel); across channels they interleave as the encoder finishes them. `backlogMs()` is the
 * larger of the two, so flow control holds the session to its slower channel. A multichannel session costs two
 * encoder streams.
 *
 * A channel's failure is the session's, as in mono: the other channel is disposed at once (a failed mono pipeline
 * tears its own stages down; the other channel would go on running its audio through the encoder, its stream open,
 * for a session that has failed), events$ and `end()` fail with that channel's error, and later audio is ignored.
 * A channel whose events end the session while it takes its half of a frame (a failure, or the owner's `dispose()`
 * from an event handler) keeps the other half from the other channel, as a mono pipeline drops the rest of a frame.
 */
import { merge, type Observable } from 'rxjs';
import { map } from 'rxjs/operators';
import { GatewayError } from '../protocol/errors.js';
import type { FinalReason } from '../protocol/messages.js';
import type { Hotword, SessionConfig } from '../protocol/session-config.js';
import type { DecodeSettings } from './ctc-decode.js';
import { sampleFrameBytes } from './decode-audio.js';
import type { PipelineEvent, SessionPipelinePort } from './pipeline-event.js';

export class MultichannelPipeline implements SessionPipelinePort {
  readonly events$: Observable<PipelineEvent>;
  readonly #channels: readonly [SessionPipelinePort, SessionPipelinePort];
  readonly #sampleBytes: number;
  /** The first channel error (boxed: any value can be thrown). */
  #failure: { error: unknown } | null = null;
  /** A channel failed or the session was abandoned: no more audio goes to the channels. */
  #stopped = false;

  /**
   * @param config a session with `channels: 2` and `multichannel: true` (GW_ERR_BAD_CONFIG otherwise)
   * @param createMono builds one channel's pipeline from the mono form of `config`
   */
  constructor(config: SessionConfig, createMono: (mono: SessionConfig) => SessionPipelinePort) {
    if (config.channels !== 2 || !config.multichannel) {
      throw new GatewayError('GW_ERR_BAD_CONFIG',
        `MultichannelPipeline needs channels 2 and multichannel, got ${config.channels} / ${String(config.multichannel)}`);
    }
    const mono: SessionConfig = { ...config, channels: 1, multichannel: false };
    const left = createMono(mono);
    let right: SessionPipelinePort;
    try {
      right = createMono(mono);
    } catch (e) {
      left.dispose();
      throw e;
    }
    this.#channels = [left, right];
    this.#sampleBytes = sampleFrameBytes(config.encoding, 1);
    // Subscribed before any consumer, so the other channel is gone before the consumer hears of the error.
    this.#channels.forEach((p, k) => p.events$.subscribe({ error: (error: unknown) => {
      this.#failure ??= { error };
      this.#stopped = true;
      this.#channels[1 - k]!.dispose();
    } }));
    this.events$ = merge(...this.#channels.map((p, channel) => p.events$.pipe(
      map((ev): PipelineEvent => ({ ...ev, channel })))));
  }

  /** Splits one interleaved stereo frame into its two channels. Throws what a mono pipeline throws. */
  pushAudio(bytes: Uint8Array, arrivalMs: number): void {
    const b = this.#sampleBytes;
    if (bytes.length % (2 * b) !== 0) {
      throw new GatewayError('GW_ERR_PARTIAL_SAMPLE',
        `binary frame of ${bytes.length} bytes is not a whole number of ${2 * b}-byte sample frames`);
    }
    if (this.#failure !== null) return;
    const n = bytes.length / (2 * b);
    const halves = [new Uint8Array(n * b), new Uint8Array(n * b)] as const;
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < b; k++) {
        halves[0][i * b + k] = bytes[2 * i * b + k]!;
        halves[1][i * b + k] = bytes[(2 * i + 1) * b + k]!;
      }
    }
    this.#channels[0].pushAudio(halves[0], arrivalMs);
    if (!this.#stopped) this.#channels[1].pushAudio(halves[1], arrivalMs);
  }

  finalize(): void {
    for (const p of this.#channels) p.finalize();
  }

  /** Rejects with the failed channel's error, not the GW_ERR_SESSION_ENDED of the channel disposed for it. */
  end(reason?: FinalReason): Promise<void> {
    return Promise.all(this.#channels.map((p) => p.end(reason))).then(() => undefined,
      (e: unknown) => Promise.reject(this.#failure === null ? e : this.#failure.error));
  }

  /** Both channels or neither: a list the first refuses (GW_ERR_BAD_HOTWORD) never reaches the second. */
  updateHotwords(hotwords: Hotword[]): void {
    for (const p of this.#channels) p.updateHotwords(hotwords);
  }

  updateEndpointing(e: { silenceMs: number; maxUtteranceMs: number }): void {
    for (const p of this.#channels) p.updateEndpointing(e);
  }

  updateDecoding(d: DecodeSettings): void {
    for (const p of this.#channels) p.updateDecoding(d);
  }

  backlogMs(): number {
    return Math.max(this.#channels[0].backlogMs(), this.#channels[1].backlogMs());
  }

  dispose(): void {
    this.#stopped = true;
    for (const p of this.#channels) p.dispose();
  }
}
