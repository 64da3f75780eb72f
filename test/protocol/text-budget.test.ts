/**
 * The client's text budget (clients/text-budget.ts) against the server's (src/server/text-rate-limit.ts): a client
 * that sends whenever its own budget allows must never be refused by the server, at any configured frame size.
 */
import { describe, expect, it } from 'vitest';
import { TextBudget } from '../../clients/text-budget.js';
import { PROTOCOL_LIMITS } from '../../src/protocol/messages.js';
import { TextRateLimiter } from '../../src/server/text-rate-limit.js';

/** Sends `frames` text frames of `chars` characters, each as soon as the client budget allows; counts refusals. */
function refusedByServer(maxFrameBytes: number, chars: number, frames: number): number {
  let nowMs = 0;
  const client = new TextBudget({ max_frame_bytes: maxFrameBytes }, nowMs);
  const server = new TextRateLimiter(nowMs, maxFrameBytes);
  let refused = 0;
  for (let i = 0; i < frames; i++) {
    for (let waitMs = client.take(chars, nowMs); waitMs > 0; waitMs = client.take(chars, nowMs)) nowMs += waitMs;
    if (server.take(chars, nowMs) !== null) refused++;
  }
  return refused;
}

describe('client text budget', () => {
  it.each([
    [PROTOCOL_LIMITS.maxFrameBytes, 900 * 1024],
    [4 * 1024 * 1024, 3 * 1024 * 1024],
    [16 * 1024 * 1024, 15 * 1024 * 1024],
  ])('at max_frame_bytes %i, frames of %i characters sent at the client\'s pace are never refused', (max, chars) => {
    expect(refusedByServer(max, chars, 12)).toBe(0);
  });

  it('small frames at the client\'s pace are never refused either', () => {
    expect(refusedByServer(4 * 1024 * 1024, 200, 500)).toBe(0);
  });
});
