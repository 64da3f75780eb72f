/**
 * Which sent text frame a server reply belongs to. The server answers every text frame on arrival, in order:
 * `ping` with `pong`, `session.update` with `session.updated` or a non-fatal schema error, and any frame over the
 * text budget with GW_ERR_RATE_LIMITED, which does not say which frame it refuses (docs/protocol.md section 6).
 * `session.finalize` and `session.end` get no answer of their own. So a refusal belongs to the oldest frame still
 * waiting, except when that one is unanswered by nature: then only the next answer tells (the frames before it that
 * expect an answer and got none were refused; the refusals left over were the silent frame's). The client keeps at
 * most one silent frame waiting and follows it with a ping, so that answer always comes and always tells.
 *
 * Once the server's session is ending (drain, max duration, session.end), it answers every text frame but `ping`
 * with GW_ERR_SESSION_ENDED, and also the first audio frame with audio: so that error does not say which frame it
 * answers either. It need not: answers come in the order frames arrive, so a frame still waiting when it comes
 * reaches the server after the change and gets the same (a silent one that arrived before has no answer to lose).
 */
import { GatewayError } from '../src/protocol/errors.js';
import type { ServerMessage } from '../src/protocol/messages.js';

export interface Pending {
  /** `silent`: session.finalize / session.end. */
  kind: 'ping' | 'update' | 'silent';
  /** The ping's id. */
  id?: string | number;
  /** The client's own ping (its pong is not passed on to the caller). */
  probe?: boolean;
  /** Called once: with the answer, or with the error (the refusal, or why no answer will come). For a silent
   *  frame, (null, null) means the server took it. */
  settle(answer: ServerMessage | null, err: GatewayError | null): void;
}

export class ReplyTracker {
  private waiting: Pending[] = [];
  /** Refusals that arrived while a silent frame led: placed when the next answer arrives. */
  private unplaced: GatewayError[] = [];

  /** A silent frame is waiting: other text frames wait too (only pings that resolve it may go). */
  get holdsText(): boolean { return this.waiting.some((p) => p.kind === 'silent'); }

  add(p: Pending): void { this.waiting.push(p); }

  /** A GW_ERR_RATE_LIMITED. True when it cannot be placed yet: the caller sends a ping to learn more. */
  refused(err: GatewayError): boolean {
    const head = this.waiting[0];
    if (head === undefined) return false;
    if (this.unplaced.length === 0 && (head.kind !== 'silent' || this.waiting.length === 1)) {
      this.waiting.shift();
      head.settle(null, err);
      return false;
    }
    this.unplaced.push(err);
    return true;
  }

  /** An answer (`pong`, `session.updated`, or `err`, an update's schema error). Returns the frame it answered. */
  answered(msg: ServerMessage, err: GatewayError | null = null): Pending | null {
    const i = this.waiting.findIndex((p) => (msg.type === 'pong' ? p.kind === 'ping' && p.id === msg.id
      : p.kind === 'update'));
    if (i < 0) return null;
    const before = this.waiting.splice(0, i + 1);
    const target = before.pop()!;
    const refusals = this.unplaced;
    this.unplaced = [];
    const noAnswer = (p: Pending): GatewayError | null => refusals.shift() ?? (p.kind === 'silent' ? null
      : new GatewayError('GW_ERR_INTERNAL', `${p.kind} got no answer: the server answered a later frame`));
    // Frames that expect an answer and got none before this one were refused; what is left was the silent one's.
    for (const p of before) if (p.kind !== 'silent') p.settle(null, noAnswer(p));
    for (const p of before) if (p.kind === 'silent') p.settle(null, noAnswer(p));
    target.settle(err === null ? msg : null, err);
    return target;
  }

  /** A GW_ERR_SESSION_ENDED: every update and silent frame waiting is refused with it; pings still get pongs. A
   *  refused one's GW_ERR_RATE_LIMITED, if the server discarded it unread instead, is then placed on a later frame:
   *  only a ping can be waiting then, and a ping is not worth the client's care while the session ends. */
  ending(err: GatewayError): void {
    const refused = this.waiting.filter((p) => p.kind !== 'ping');
    this.waiting = this.waiting.filter((p) => p.kind === 'ping');
    for (const p of refused) p.settle(null, err);
  }

  /** The socket closed: nothing waiting will be answered. */
  close(err: GatewayError): void {
    for (const p of this.waiting.splice(0)) p.settle(null, err);
    this.unplaced = [];
  }
}
