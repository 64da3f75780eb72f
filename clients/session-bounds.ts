/**
 * The Node client's bounds for one session (clients/node-client.ts), from the limits the server's `session.started`
 * announces and the caller's options: how much audio goes in one frame and may wait unacknowledged, and how long the
 * client waits for the server's answers before it gives the socket up.
 */
import { PROTOCOL_LIMITS, type SessionStartedMessage } from '../src/protocol/messages.js';
import { bytesPerSampleFrame } from '../src/protocol/validate.js';
import type { VoxgateClientOptions } from './handshake.js';

/**
 * `replyTimeoutMs` when the caller gives none. The server answers a ping or session.update on arrival, so a live
 * server answers within a round trip plus the unacknowledged audio sent before the frame (at most the window below:
 * 4 s of audio with the default limits, e.g. 1.5 MB of 48 kHz stereo pcm_f32le, about 12 s on a 1 Mbit/s uplink);
 * the default leaves room for such links and for a loaded server's event loop.
 */
export const DEFAULT_REPLY_TIMEOUT_MS = 30_000;

export interface SessionBounds {
  /** Bytes of one sample frame (every channel). */
  frameBytes: number;
  /** Largest audio frame sent: under the server's `limits.max_frame_bytes` and the unacknowledged-audio window. */
  maxAudioFrameBytes: number;
  /**
   * Most audio bytes sent but not yet acknowledged (by the answer to a later text frame, which the server gives on
   * arrival, after any flow.pause that audio caused). A flow.pause reaches the client only after the audio in flight
   * arrived, and the server refuses in-flight audio past twice `backlog_limit_ms`: half the room between the
   * high-water mark and the limit keeps even an unpaced uploader well inside both.
   */
  windowBytes: number;
  /** How long end() waits for session.ended once session.end went out (VoxgateClientOptions). */
  endTimeoutMs: number;
  /** How long a ping or session.update waits for its answer once sent (VoxgateClientOptions). */
  replyTimeoutMs: number;
}

export function sessionBounds(started: SessionStartedMessage, options: VoxgateClientOptions): SessionBounds {
  const frameBytes = bytesPerSampleFrame(started.audio.encoding, started.audio.channels);
  const limits = started.limits as Partial<SessionStartedMessage['limits']> | undefined;
  const maxFrameBytes = limits?.max_frame_bytes ?? PROTOCOL_LIMITS.maxFrameBytes;
  const highWaterMs = limits?.flow_high_water_ms ?? 2000;
  const backlogLimitMs = limits?.backlog_limit_ms ?? 10_000;
  const windowMs = (backlogLimitMs - highWaterMs) / 2;
  const bytesPerMs = (started.audio.sample_rate_hz * frameBytes) / 1000;
  const wholeFrames = (n: number): number => Math.max(frameBytes, n - (n % frameBytes));
  const windowBytes = wholeFrames(Math.floor(windowMs * bytesPerMs));
  return {
    frameBytes,
    maxAudioFrameBytes: Math.min(wholeFrames(maxFrameBytes), windowBytes),
    windowBytes,
    endTimeoutMs: options.endTimeoutMs ?? 30_000 + 2 * backlogLimitMs + 10_000,
    replyTimeoutMs: options.replyTimeoutMs ?? DEFAULT_REPLY_TIMEOUT_MS,
  };
}
