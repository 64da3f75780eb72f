/**
 * ReplyTracker (clients/reply-tracker.ts): which sent text frame an anonymous GW_ERR_RATE_LIMITED refuses. The
 * client paces itself under the announced budget, so the real gateway does not refuse it; these are the orders of
 * answers the server can produce when frames reach it bunched (docs/protocol.md section 6).
 */
import { describe, expect, it } from 'vitest';
import { ReplyTracker, type Pending } from '../../clients/reply-tracker.js';
import { GatewayError } from '../../src/protocol/errors.js';
import type { ServerMessage } from '../../src/protocol/messages.js';

const REFUSAL = new GatewayError('GW_ERR_RATE_LIMITED', 'text frame discarded unread');
const ENDING = new GatewayError('GW_ERR_SESSION_ENDED', 'session.update after session.end is discarded');
const UPDATED: ServerMessage = { type: 'session.updated', hotwords: 0, endpointing: { silence_ms: 500, max_utterance_ms: 15000 },
  min_confidence: 0.15, numerals: false, alternatives: 1, background_rejection_db: 0 };
const pong = (id: string): ServerMessage => ({ type: 'pong', id });

/** A pending frame that records how it settled: the answer's type, `taken`, or the error code. */
function frame(kind: Pending['kind'], id?: string): Pending & { outcome: string | null } {
  const p: Pending & { outcome: string | null } = { kind, outcome: null, ...(id === undefined ? {} : { id }),
    settle: (answer, err) => {
      expect(p.outcome).toBeNull(); // settles once
      p.outcome = err?.code ?? answer?.type ?? 'taken';
    } };
  return p;
}

describe('ReplyTracker', () => {
  it('a refusal with a ping or update first in line is that frame\'s', () => {
    const t = new ReplyTracker();
    const [u, p] = [frame('update'), frame('ping', 'a')];
    t.add(u);
    t.add(p);
    expect(t.refused(REFUSAL)).toBe(false);
    expect(u.outcome).toBe('GW_ERR_RATE_LIMITED');
    expect(t.answered(pong('a'))).toBe(p);
    expect(p.outcome).toBe('pong');
  });

  it('pings with one id are answered in the order sent', () => {
    const t = new ReplyTracker();
    const [a, b] = [frame('ping', 'x'), frame('ping', 'x')];
    t.add(a);
    t.add(b);
    expect(t.answered(pong('x'))).toBe(a);
    expect(b.outcome).toBeNull();
    expect(t.answered(pong('x'))).toBe(b);
  });

  it('a ping waits while one with its id is waiting; the client\'s own pings take ids no ping waiting has', () => {
    const t = new ReplyTracker();
    const mine = frame('ping', 'voxgate-client-probe-0'); // a caller may choose such an id
    expect(t.canSend(mine)).toBe(true);
    t.add(mine);
    expect(t.canSend(frame('ping', 'voxgate-client-probe-0'))).toBe(false);
    const id = t.probeId();
    expect(id).toBe('voxgate-client-probe-1');
    t.add({ ...frame('ping', id), probe: true });
    expect(t.probeId()).toBe('voxgate-client-probe-2');
    t.answered(pong('voxgate-client-probe-0'));
    expect(mine.outcome).toBe('pong');
    expect(t.canSend(frame('ping', 'voxgate-client-probe-0'))).toBe(true);
  });

  it('a silent frame alone in line: the refusal is its own', () => {
    const t = new ReplyTracker();
    const f = frame('silent');
    t.add(f);
    expect(t.holdsText).toBe(true);
    expect(t.refused(REFUSAL)).toBe(false);
    expect(f.outcome).toBe('GW_ERR_RATE_LIMITED');
    expect(t.holdsText).toBe(false);
  });

  it('silent frame, then its ping: the ping\'s pong after one refusal says the silent frame was refused', () => {
    const t = new ReplyTracker();
    const [f, b] = [frame('silent'), frame('ping', 'b')];
    t.add(f);
    t.add(b);
    expect(t.refused(REFUSAL)).toBe(true); // the silent frame's, or the ping's: not known yet
    expect(f.outcome).toBeNull();
    t.answered(pong('b'));
    expect([f.outcome, b.outcome]).toEqual(['GW_ERR_RATE_LIMITED', 'pong']);
  });

  it('silent frame, then its ping, refused: the next ping\'s pong says the silent frame was taken', () => {
    const t = new ReplyTracker();
    const [f, b, b2] = [frame('silent'), frame('ping', 'b'), frame('ping', 'b2')];
    t.add(f);
    t.add(b);
    expect(t.refused(REFUSAL)).toBe(true);
    t.add(b2); // the client's answer to "not known yet": one more ping
    t.answered(pong('b2'));
    expect([f.outcome, b.outcome, b2.outcome]).toEqual(['taken', 'GW_ERR_RATE_LIMITED', 'pong']);
  });

  it('an update\'s schema error answers the oldest update; close settles the rest', () => {
    const t = new ReplyTracker();
    const [u1, u2, f] = [frame('update'), frame('update'), frame('silent')];
    [u1, u2, f].forEach((p) => t.add(p));
    t.answered({ type: 'error', code: 'GW_ERR_BAD_HOTWORD', message: 'x', fatal: false },
      new GatewayError('GW_ERR_BAD_HOTWORD', 'x'));
    expect(u1.outcome).toBe('GW_ERR_BAD_HOTWORD');
    t.answered(UPDATED);
    expect(u2.outcome).toBe('session.updated');
    t.close(new GatewayError('GW_ERR_INTERNAL', 'socket closed'));
    expect(f.outcome).toBe('GW_ERR_INTERNAL');
  });

  it('the server\'s session ending settles every update and silent frame waiting with its error; pings go on', () => {
    const t = new ReplyTracker();
    const [u1, f, p, u2] = [frame('update'), frame('silent'), frame('ping', 'p'), frame('update')];
    [u1, f, p, u2].forEach((x) => t.add(x));
    t.ending(ENDING);
    expect([u1.outcome, f.outcome, u2.outcome]).toEqual(['GW_ERR_SESSION_ENDED', 'GW_ERR_SESSION_ENDED',
      'GW_ERR_SESSION_ENDED']);
    expect(t.holdsText).toBe(false);
    expect(p.outcome).toBeNull();
    t.ending(ENDING); // the same error for a later frame (or for audio): nothing left to place it on
    expect(t.answered(pong('p'))).toBe(p);
    expect(p.outcome).toBe('pong');
  });

  // The server checks the text budget before its state: an update waiting when GW_ERR_SESSION_ENDED comes (the
  // update's, or the audio's) may still be discarded unread, and that refusal comes after the error.
  it('a refusal after the server\'s session began ending is not placed on the ping behind a frame it settled', () => {
    const t = new ReplyTracker();
    const [u, p, q] = [frame('update'), frame('ping', 'p'), frame('ping', 'q')];
    t.add(u);
    t.add(p);
    t.ending(ENDING);
    expect(u.outcome).toBe('GW_ERR_SESSION_ENDED');
    expect(t.holdsText).toBe(false);
    const unplaced = t.refused(REFUSAL);
    expect(p.outcome).toBeNull(); // not rejected: its pong may still come
    expect(unplaced).toBe(true); // the update's, or the ping's: the client sends a ping to learn which
    t.add(q);
    expect(t.answered(pong('p'))).toBe(p);
    expect(t.answered(pong('q'))).toBe(q);
    expect([u.outcome, p.outcome, q.outcome]).toEqual(['GW_ERR_SESSION_ENDED', 'pong', 'pong']);
  });

  it('after the server\'s session began ending, the next pong places a refusal that was the ping\'s', () => {
    const t = new ReplyTracker();
    const [u, p, q] = [frame('update'), frame('ping', 'p'), frame('ping', 'q')];
    t.add(u);
    t.add(p);
    t.ending(ENDING); // the update's own answer
    expect(t.refused(REFUSAL)).toBe(true);
    t.add(q);
    expect(t.answered(pong('q'))).toBe(q);
    expect([u.outcome, p.outcome, q.outcome]).toEqual(['GW_ERR_SESSION_ENDED', 'GW_ERR_RATE_LIMITED', 'pong']);
  });

  it('a refusal after the server\'s session began ending, with only a frame it settled in line, is that one\'s', () => {
    const t = new ReplyTracker();
    const [f, p] = [frame('silent'), frame('ping', 'p')];
    t.add(f);
    t.ending(ENDING);
    expect(f.outcome).toBe('GW_ERR_SESSION_ENDED'); // settled once: not re-sent
    expect(t.refused(REFUSAL)).toBe(false);
    t.add(p);
    expect(t.answered(pong('p'))).toBe(p);
    expect(p.outcome).toBe('pong');
  });
});
