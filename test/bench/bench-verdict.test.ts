import { describe, expect, it } from 'vitest';
import { realtimeCapacity, realtimeFailures } from '../../bench/bench-verdict.js';

const run = (sessions: number, realtime: boolean) => ({ sessions, realtime });

describe('realtimeCapacity', () => {
  it('is the largest real-time N when every smaller N was real time too', () => {
    expect(realtimeCapacity([run(50, true), run(100, true), run(200, false)]).max).toBe(100);
    expect(realtimeCapacity([run(200, false), run(50, true)]).max).toBe(50); // any order
    expect(realtimeCapacity([run(50, false)]).max).toBe(0);
    expect(realtimeCapacity([]).max).toBe(0);
  });

  it('does not claim an N above a smaller N that missed real time (a lucky run), but names it', () => {
    const c = realtimeCapacity([run(50, true), run(100, false), run(200, true)]);
    expect(c.max).toBe(50);
    expect(c.passedAboveFailure).toEqual([200]);
  });
});

describe('realtimeFailures', () => {
  const ok = { chunkDelays: 100, chunkDelayP99Ms: 150, flowPauses: 0, droppedPartials: 0, failedSessions: 0,
    clientSendLagP99Ms: 4 };

  it('passes a run within every limit', () => {
    expect(realtimeFailures(ok)).toEqual([]);
  });

  it('names each limit missed', () => {
    expect(realtimeFailures({ ...ok, chunkDelayP99Ms: 201 })).toEqual(['chunk delay p99 201 > 200 ms']);
    expect(realtimeFailures({ ...ok, chunkDelays: 0, chunkDelayP99Ms: Number.NaN })).toEqual(['no partial or final']);
    expect(realtimeFailures({ ...ok, flowPauses: 1, droppedPartials: 2, failedSessions: 3 })).toHaveLength(3);
  });

  it('a client that could not send at real-time pace does not show real time', () => {
    expect(realtimeFailures({ ...ok, clientSendLagP99Ms: 251 })).toEqual(
      ['client fell behind real-time pace: send lag p99 251 > 50 ms']);
  });
});
