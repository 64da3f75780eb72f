/**
 * Per-session budget of inbound text frames (docs/protocol.md section 6, "Rate limits on text frames"): token
 * buckets counting frames and their characters, refilled continuously up to their burst size, and a third one
 * counting refusals, past which a refusal ends the session.
 *
 * Why: audio is paced by flow control, but control messages were not, and one client sending session.update with
 * 100 hotwords as fast as its socket allowed (1.4 ms of native decoder work each) raised another session's ping
 * round trip from 0.8 to 90 ms (p50) on the development machine (`npm run bench:flood`; 3.0 ms with the frame
 * budgets, 0.6 ms once the refusal budget closes the flooder, 158 ms into its flood). The check runs before JSON
 * parsing, so a frame over the budget costs almost nothing.
 */
import { GatewayError } from '../protocol/errors.js';
import { PROTOCOL_LIMITS } from '../protocol/messages.js';

export class TextRateLimiter {
  private messages: number;
  private chars: number;
  /** A third bucket, of refusals: a client that keeps sending into a spent budget is closed, not answered forever. */
  private refusals: number;
  private lastMs: number;
  /** Characters at once: two whole frames of the session's size (a frame of N bytes holds at most N characters). */
  private readonly charsBurst: number;

  /**
   * `maxFrameBytes`: the largest frame the gateway reads (`--max-frame-bytes`). A fixed burst would refuse forever
   * every text frame above half of it, though such a frame is within the announced `max_frame_bytes`.
   */
  constructor(nowMs: number, maxFrameBytes: number) {
    this.charsBurst = Math.max(PROTOCOL_LIMITS.textCharsBurst, 2 * maxFrameBytes);
    this.messages = PROTOCOL_LIMITS.textMessagesBurst;
    this.chars = this.charsBurst;
    this.refusals = PROTOCOL_LIMITS.textRefusalsBurst;
    this.lastMs = nowMs;
  }

  /**
   * Takes one frame of `chars` characters at `nowMs`: null, or when either budget lacks it (nothing is taken) the
   * GW_ERR_RATE_LIMITED to send instead of handling the frame; non-fatal, except once the refusals themselves run
   * over their budget (then the session ends, close 4000).
   */
  take(chars: number, nowMs: number): GatewayError | null {
    const limits = PROTOCOL_LIMITS;
    const dtS = Math.max(0, nowMs - this.lastMs) / 1000;
    this.lastMs = Math.max(this.lastMs, nowMs);
    this.messages = Math.min(limits.textMessagesBurst, this.messages + dtS * limits.textMessagesPerSecond);
    this.chars = Math.min(this.charsBurst, this.chars + dtS * limits.textCharsPerSecond);
    this.refusals = Math.min(limits.textRefusalsBurst, this.refusals + dtS * limits.textRefusalsPerSecond);
    if (this.messages < 1 || this.chars < chars) {
      this.refusals -= 1;
      const fatal = this.refusals < 0;
      return new GatewayError('GW_ERR_RATE_LIMITED', `text frame discarded unread: over ${limits.textMessagesBurst} `
        + `frames at once, ${limits.textMessagesPerSecond} per second or ${limits.textCharsPerSecond} characters `
        + `per second${fatal ? `; over ${limits.textRefusalsBurst} refused frames, the session ends` : ''}`, { fatal });
    }
    this.messages -= 1;
    this.chars -= chars;
    return null;
  }
}
