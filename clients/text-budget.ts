/**
 * The client's own copy of the server's text-frame budget (docs/protocol.md section 6, "Rate limits on text
 * frames"): a frame over it would be discarded unread with GW_ERR_RATE_LIMITED, so the client waits for its tokens
 * instead of sending. It allows half the server's bursts: the server counts frames when it reads them, and frames
 * sent at the allowed rate can reach it bunched (a stalled event loop, a congested link); the half left over absorbs
 * a second of such bunching at the default 30 frames per second.
 */
import { PROTOCOL_LIMITS, type SessionStartedMessage } from '../src/protocol/messages.js';

export class TextBudget {
  private readonly framesBurst: number;
  private readonly framesPerS: number;
  private readonly charsBurst: number;
  private readonly charsPerS: number;
  private frames: number;
  private chars: number;
  private lastMs: number;

  constructor(limits: Partial<SessionStartedMessage['limits']> | undefined, nowMs: number) {
    this.framesBurst = Math.max(1, Math.floor((limits?.text_frames_burst ?? PROTOCOL_LIMITS.textMessagesBurst) / 2));
    this.framesPerS = limits?.text_frames_per_second ?? PROTOCOL_LIMITS.textMessagesPerSecond;
    // The server's burst is two whole frames of its max_frame_bytes (at least textCharsBurst); half of it is one
    // whole frame, so every frame the server accepts fits.
    const maxFrameBytes = limits?.max_frame_bytes ?? PROTOCOL_LIMITS.maxFrameBytes;
    this.charsBurst = Math.max(PROTOCOL_LIMITS.textCharsBurst, 2 * maxFrameBytes) / 2;
    this.charsPerS = limits?.text_chars_per_second ?? PROTOCOL_LIMITS.textCharsPerSecond;
    this.frames = this.framesBurst;
    this.chars = this.charsBurst;
    this.lastMs = nowMs;
  }

  /** Takes one frame of `chars` characters and returns 0, or (taking nothing) the ms until it could be taken. */
  take(chars: number, nowMs: number): number {
    const dtS = Math.max(0, nowMs - this.lastMs) / 1000;
    this.lastMs = Math.max(this.lastMs, nowMs);
    this.frames = Math.min(this.framesBurst, this.frames + dtS * this.framesPerS);
    this.chars = Math.min(this.charsBurst, this.chars + dtS * this.charsPerS);
    const need = Math.min(chars, this.charsBurst);
    if (this.frames >= 1 && this.chars >= need) {
      this.frames -= 1;
      this.chars -= need;
      return 0;
    }
    const framesWaitS = Math.max(0, 1 - this.frames) / this.framesPerS;
    const charsWaitS = Math.max(0, need - this.chars) / this.charsPerS;
    return Math.max(1, Math.ceil(Math.max(framesWaitS, charsWaitS) * 1000));
  }
}
