/**
 * The session's three deadlines (src/server/session-timers.ts, docs/protocol.md section 8) on the state machine, with
 * a scripted pipeline and short limits: start (session.start in time), idle (audio or ping), maximum duration.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openLocal as open, pcm16, START_16K, types } from './helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

/** The session's timers on a clock the test steps: on a busy machine real timers fired tens of ms late. */
const fakeTimers = (): void => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
};

describe('Session deadlines', () => {
  it('idle timeout: no audio and no ping -> GW_ERR_IDLE_TIMEOUT, close 4001; pings keep it alive', async () => {
    const t = open({ idleTimeoutMs: 80 });
    t.s.sendJson(START_16K);
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 40));
      t.s.sendJson({ type: 'ping' });
    }
    expect(t.errors()).toHaveLength(0);
    const close = await t.s.closed;
    expect(t.errors()).toEqual([expect.objectContaining({ code: 'GW_ERR_IDLE_TIMEOUT', fatal: true })]);
    expect(t.last()).toMatchObject({ type: 'session.ended', error_code: 'GW_ERR_IDLE_TIMEOUT' });
    expect(close.code).toBe(4001);
  });

  it('idle timeout: a client held by flow.pause gets the whole idle allowance again from flow.resume', async () => {
    fakeTimers(); // on the real clock the 20 ms of slack around flow.resume ran out on a busy machine
    const idleTimeoutMs = 300;
    const t = open({ idleTimeoutMs, flowHighWaterMs: 200, flowLowWaterMs: 50, backlogLimitMs: 500 });
    t.s.sendJson(START_16K);
    t.s.sendAudio(pcm16(250)); // the last audio: the client obeys flow.pause and sends nothing more
    expect(t.last()).toMatchObject({ type: 'flow.pause' });
    vi.advanceTimersByTime(idleTimeoutMs - 50);
    t.pipeline().backlog = 0;
    for (let ms = 0; t.last().type !== 'flow.resume'; ms++) {
      expect(ms, 'flow.resume').toBeLessThan(1000);
      vi.advanceTimersByTime(1);
    }
    // Past the idle deadline counted from the last audio, but the time paused is not idleness.
    vi.advanceTimersByTime(idleTimeoutMs - 1);
    expect(t.errors()).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(t.errors()).toEqual([expect.objectContaining({ code: 'GW_ERR_IDLE_TIMEOUT' })]);
    expect((await t.s.closed).code).toBe(4001);
  });

  it('start timeout: pings do not extend it -> GW_ERR_START_TIMEOUT, close 4006; session.start in time disarms it',
    async () => {
      fakeTimers(); // with real timers a first 20 ms sleep that woke 40 ms late let the deadline pass mid-test
      const late = open({ startTimeoutMs: 60, idleTimeoutMs: 1000 });
      late.s.sendJson({ type: 'ping' });
      vi.advanceTimersByTime(20);
      late.s.sendJson({ type: 'ping' });
      vi.advanceTimersByTime(39);
      expect(late.errors()).toHaveLength(0);
      vi.advanceTimersByTime(1); // 60 ms after the upgrade, the pings notwithstanding
      expect(late.msgs).toEqual([{ type: 'pong' }, { type: 'pong' }, expect.objectContaining({ type: 'error',
        code: 'GW_ERR_START_TIMEOUT', fatal: true, message: 'no session.start within 60 ms' })]);
      expect((await late.s.closed).code).toBe(4006);

      const started = open({ startTimeoutMs: 30 });
      started.s.sendJson(START_16K);
      vi.advanceTimersByTime(90);
      expect(started.errors()).toHaveLength(0);
      expect(started.closeInfo()).toBeUndefined();
      started.s.abandon();
      await started.s.closed;
    });

  it('max duration: the open utterance is finalised first, then GW_ERR_MAX_DURATION and close 4002', async () => {
    const t = open({ maxDurationMs: 60 });
    t.s.sendJson(START_16K);
    t.s.sendAudio(pcm16(40));
    t.pipeline().emitPartial('open words', 'open');
    const close = await t.s.closed;
    expect(types(t.msgs)).toEqual(['session.started', 'speech.started', 'transcript.partial', 'speech.stopped',
      'transcript.final', 'error', 'session.ended']);
    expect(t.msgs[4]).toMatchObject({ reason: 'max_duration', text: 'open words', seq: 1 });
    expect(t.msgs[5]).toMatchObject({ code: 'GW_ERR_MAX_DURATION', fatal: true });
    expect(close.code).toBe(4002);
  });
});
