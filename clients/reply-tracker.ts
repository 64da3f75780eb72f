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
 * answers either. Answers come in the order frames arrive, so an update or silent frame still waiting when it comes
 * reaches the server after the change (a silent one that arrived before has no answer to lose): it is refused, and
 * settles with that error at once. But the error may have been another frame's (the audio's), and the server checks
 * the text budget before its state: the frame's own answer may be a GW_ERR_RATE_LIMITED still to come. So the frame
 * keeps its place in line, settled, with an answer as unknown as a silent frame's: a refusal that comes while it
 * leads waits for the next pong to tell (the client sends a ping for one), and never lands on a ping behind it that
 * may still get its pong.
 *
 * A pong names its ping only by id, so no two pings waiting share one: with a refusal not placed yet, a pong for that
 * id could answer either, and which frame the refusal refused would be guessed (a finalize the server took sent
 * again, a refused ping resolved). A ping waits until the one waiting with its id is answered, and the client's own
 * pings take ids no ping waiting has (a caller may choose ids of their form).
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

/** Keeps the place in line of a frame `ending()` settled: its answer is unknown, as a silent frame's, and settling it
 *  again does nothing. Unlike a silent frame it does not hold text back: nothing will be re-sent whatever it got. */
const SETTLED: Pending = { kind: 'silent', settle: () => {} };

/** Id prefix of the client's own pings (after session.finalize / session.end, and to acknowledge audio). */
const PROBE_ID = 'voxgate-client-probe-';

export class ReplyTracker {
  private waiting: Pending[] = [];
  /** Refusals that arrived while a silent frame led: placed when the next answer arrives. */
  private unplaced: GatewayError[] = [];
  private probes = 0;

  /** A silent frame is waiting: other text frames wait too (only pings that resolve it may go). */
  get holdsText(): boolean { return this.waiting.some((p) => p.kind === 'silent' && p !== SETTLED); }

  /** Whether a frame may go now: a ping unless one with its id is waiting, another frame unless `holdsText`. */
  canSend(p: Pending): boolean {
    return p.kind === 'ping' ? !this.waiting.some((w) => w.kind === 'ping' && w.id === p.id) : !this.holdsText;
  }

  /** An id for the client's own next ping that no ping waiting has. */
  probeId(): string {
    while (!this.canSend({ kind: 'ping', id: `${PROBE_ID}${this.probes}`, settle: () => {} })) this.probes++;
    return `${PROBE_ID}${this.probes}`;
  }

  add(p: Pending): void {
    this.waiting.push(p);
    if (p.probe === true) this.probes++;
  }

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

  /** A GW_ERR_SESSION_ENDED: every update and silent frame waiting is refused with it (pings still get pongs), and
   *  leaves a SETTLED in its place for the answer the server gives it. A refusal that comes later is then placed as
   *  behind a silent frame: by the next pong (a ping before it without one was refused), or at once when SETTLED
   *  alone is waiting. Refused anyway, a silent frame sent after this loses nothing if a refusal of its own goes to
   *  a SETTLED before it instead (it would only be re-sent and refused again). */
  ending(err: GatewayError): void {
    const refused = this.waiting.filter((p) => p.kind !== 'ping' && p !== SETTLED);
    this.waiting = this.waiting.map((p) => (p.kind === 'ping' ? p : SETTLED));
    for (const p of refused) p.settle(null, err);
  }

  /** The socket closed: nothing waiting will be answered. */
  close(err: GatewayError): void {
    for (const p of this.waiting.splice(0)) p.settle(null, err);
    this.unplaced = [];
  }
}
