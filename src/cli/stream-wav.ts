/**
 * Streams one WAV through a {@link TranscriptionChannel} in 50 ms frames (optionally paced at real time) and
 * collects the finals. Shared by `voxgate transcribe` and `voxgate eval`. Unpaced, it sends as fast as the channel
 * takes frames: the socket client holds audio while paused and past its unacknowledged-audio window
 * (clients/node-client.ts), the in-process channel while paused, so even an unpaced upload stays inside the
 * server's backlog limit.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerMessage, SessionEndedMessage, TranscriptFinalMessage } from '../protocol/messages.js';
import type { StartFields, TranscriptionChannel } from './channel.js';
import { wavChunks, wavFileChunks, type WavAudio, type WavFile, type WavHeader } from './wav.js';

/** Frame length the CLI sends, ms. */
export const CLI_FRAME_MS = 50;
const CATCH_UP_MS = 100;

export interface StreamWavOptions {
  /** Pace frames at 1x (a live source). Default false: unpaced, held only by flow control. */
  realtime?: boolean;
  onMessage?: (msg: ServerMessage) => void;
  /**
   * Once aborted, no further frame is sent (the one being sent completes, so no audio follows session.end) and the
   * session ends as at the end of the file: the audio sent so far gets its finals.
   */
  signal?: AbortSignal;
  /**
   * When the audio cannot be read to its end (a read error, a file that got shorter): true ends the session as at
   * the end of the file, so the audio sent gets its finals (through `onMessage`), then rejects with the read error.
   * Default false: the session is abandoned at once (`eval`, whose run that error stops, has no use for its finals).
   */
  endOnSourceError?: boolean;
}

export interface StreamWavResult {
  finals: TranscriptFinalMessage[];
  /** The finals' texts joined with single spaces (empty finals skipped). */
  text: string;
  ended: SessionEndedMessage;
  /** The signal stopped the audio before the end of the file: the finals are of the audio sent only. */
  interrupted: boolean;
}

/** session.start fields for a WAV file plus the caller's extras (latency, denoise, ...). */
export function startFieldsFor(wav: WavHeader, extra: Omit<StartFields, 'audio'> = {}): StartFields {
  return { audio: { encoding: wav.encoding, sample_rate_hz: wav.sampleRateHz, channels: wav.channels }, ...extra };
}

/**
 * Streams `wav`: audio in memory, or a file's, read from the disk as it is sent (any size). Rejects when the audio
 * cannot be read (see `endOnSourceError`) or the session fails, the session then abandoned.
 */
export async function streamWav(channel: TranscriptionChannel, wav: WavAudio | WavFile,
  options: StreamWavOptions = {}): Promise<StreamWavResult> {
  const finals: TranscriptFinalMessage[] = [];
  const off = channel.onMessage((m) => {
    if (m.type === 'transcript.final') finals.push(m);
    options.onMessage?.(m);
  });
  try {
    // Pace from the previous send, not from the start: after a flow.pause the sender must not burst to "catch up"
    // (at most CATCH_UP_MS of lag is made up, so timer jitter does not slow a realtime stream down).
    let nextAt = performance.now();
    let interrupted = false;
    const chunks = 'data' in wav ? wavChunks(wav, CLI_FRAME_MS) : wavFileChunks(wav, CLI_FRAME_MS);
    // the audio's read error apart from the channel's: only after the former is the session still fit to end
    const source: { failed: boolean; error?: unknown } = { failed: false };
    const readable = async function* (): AsyncGenerator<Uint8Array> {
      try {
        yield* chunks;
      } catch (e) {
        source.failed = true;
        source.error = e;
      }
    };
    for await (const chunk of readable()) {
      if (options.realtime === true) {
        const wait = nextAt - performance.now();
        // an abort rejects the sleep; the check below ends the loop
        if (wait > 1) await sleep(wait, undefined, { signal: options.signal }).catch(() => undefined);
      }
      if (options.signal?.aborted === true) {
        interrupted = true;
        break;
      }
      await channel.sendAudio(chunk);
      const chunkMs = (chunk.byteLength / wav.frameBytes / wav.sampleRateHz) * 1000;
      nextAt = Math.max(nextAt, performance.now() - CATCH_UP_MS) + chunkMs;
    }
    if (source.failed) {
      // the finals reach onMessage before session.ended; the read error, which came first, is the one reported
      if (options.endOnSourceError === true) await channel.end().catch(() => undefined);
      throw source.error;
    }
    const ended = await channel.end();
    return { finals, ended, interrupted, text: finals.map((f) => f.text).filter((t) => t !== '').join(' ') };
  } catch (e) {
    // Left open, a server held the socket (and so the CLI's exit) until its idle timeout, and in-process the engine
    // was closed under the session. Closing a closed channel does nothing.
    channel.close();
    throw e;
  } finally {
    off();
  }
}
