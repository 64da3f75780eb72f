/**
 * Which sent text frame a server reply belongs to. The server answers every text frame on arrival, in order:
 * `ping` with `pong`, `session.update` with `session.updated` or a non-fatal schema error, and any frame over the
 * text budget with GW_ERR_RATE_LIMITED, which does not say which frame it refuses (docs/protocol.md section 6).
 * `session.finalize` and `session.end` get no answer of their own. So a refusal belongs to the oldest frame still
 * waiting, except when that one is unanswered by nature: then only the next answer tells (the frames before it that
 * expect an answer and got none were refused; the refusals left over were the silent frame's). The client keeps at
 * most one silent frame waiting and follows it with a ping, so that answer always comes and always tells.
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
  private readonly waiting: Pending[] = [];
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

  /** The socket closed: nothing waiting will be answered. */
  close(err: GatewayError): void {
    for (const p of this.waiting.splice(0)) p.settle(null, err);
    this.unplaced = [];
  }
}
