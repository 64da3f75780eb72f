/**
 * MultichannelPipeline with real speech and the test-double encoder: each channel of a stereo stream is transcribed
 * exactly as the same audio would be alone (events, order, utterance ids, timings), whatever the frame sizes, and
 * finalize and session.update reach both channels; a channel's failure, or an abandon inside a push, ends both.
 */
import { lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/protocol/errors.js';
import { MultichannelPipeline } from '../../src/stream/multichannel-pipeline.js';
import type { PipelineEvent, SessionPipelinePort } from '../../src/stream/pipeline-event.js';
import { SessionPipeline } from '../../src/stream/session-pipeline.js';
import {
  FAKE_MODEL, FakeEncoder, concat, interleaveS16, runPipeline, seconds, sessionConfig, speechClips, toS16,
} from './helpers.js';

const clips = speechClips();
const asterisk = clips.find((c) => c.set === 'asterisk')!.samples;
const down = clips.find((c) => c.set === 'sc_testset_v002')!.samples;
/** Caller on the left, agent on the right, talking in turns. */
const LEFT = concat([seconds(0.5), asterisk, seconds(2.2), down, seconds(0.8)], 3);
const RIGHT = concat([seconds(2.5), down, seconds(0.7), asterisk, seconds(0.3)], 5).subarray(0, LEFT.length);

const mono = (c: Parameters<typeof sessionConfig>[0]) => new SessionPipeline(sessionConfig(c), { encoder: new FakeEncoder(), model: FAKE_MODEL });
const multichannel = () => new MultichannelPipeline(sessionConfig({ channels: 2, multichannel: true }), (c) => mono(c));
const noArrival = (events: PipelineEvent[]) => events.map((e) => ('newestArrivalMs' in e ? { ...e, newestArrivalMs: 0 } : e));
const channel = (events: PipelineEvent[], k: number) =>
  noArrival(events.filter((e) => e.channel === k).map(({ channel: _, ...e }) => e as PipelineEvent));

describe('MultichannelPipeline', () => {
  const l = toS16(LEFT);
  const r = toS16(RIGHT);
  const both = interleaveS16(l, r);

  it('each channel gets the events the same audio gets alone, tagged with its channel', async () => {
    const alone = [noArrival(await runPipeline(mono({}), l, 1600)), noArrival(await runPipeline(mono({}), r, 1600))];
    expect(alone[0]!.filter((e) => e.kind === 'final')).toHaveLength(2);
    expect(alone[1]!.filter((e) => e.kind === 'final')).toHaveLength(2);
    const events = await runPipeline(multichannel(), both, 3200); // 50 ms stereo frames: the same frame times
    expect(events.every((e) => e.channel === 0 || e.channel === 1)).toBe(true);
    expect(channel(events, 0)).toEqual(alone[0]);
    expect(channel(events, 1)).toEqual(alone[1]);
  });

  it("frame sizes never change a channel's events (20 ms, 1 s, odd, one frame)", async () => {
    const runs = [];
    for (const frameBytes of [1280, 64000, 4 * 997, both.length]) {
      const events = await runPipeline(multichannel(), both, frameBytes);
      runs.push([channel(events, 0), channel(events, 1)]);
    }
    for (const run of runs.slice(1)) expect(run).toEqual(runs[0]);
  });

  it('refuses a frame that splits a stereo sample frame, and a config that is not multichannel stereo', () => {
    const p = multichannel();
    for (const n of [1, 2, 3, 6]) {
      expect(() => p.pushAudio(new Uint8Array(n), 0)).toThrow(/not a whole number of 4-byte sample frames/);
    }
    p.dispose();
    for (const c of [{ channels: 1 as const, multichannel: true }, { channels: 2 as const, multichannel: false }]) {
      expect(() => new MultichannelPipeline(sessionConfig(c), (m) => mono(m))).toThrow(GatewayError);
    }
  });

  it("backlog is the slower channel's; a second channel that cannot be built frees the first", () => {
    let built = 0;
    const disposed: number[] = [];
    const failing = (): never => {
      throw new GatewayError('GW_ERR_BAD_HOTWORD', 'no');
    };
    expect(() => new MultichannelPipeline(sessionConfig({ channels: 2, multichannel: true }), (c) => {
      if (built++ === 1) failing();
      const p = mono(c);
      const dispose = p.dispose.bind(p);
      p.dispose = () => { disposed.push(built); dispose(); };
      return p;
    })).toThrow(/no/);
    expect(disposed).toEqual([2]);
    const p = multichannel();
    p.pushAudio(both.subarray(0, 64000), 0); // 1 s stereo: encoder chunks queue in both channels
    expect(p.backlogMs()).toBeGreaterThan(0);
    p.dispose();
  });

  it('finalize and session.update reach both channels: each gets the events of its audio alone with the same calls, '
    + 'its final ending exactly at the last sample received', async () => {
    const cutAt = 1.3 * 16000 + 7; // inside speech on the left, in no 10 ms frame grid
    const drive = async (p: Pick<SessionPipelinePort, 'events$' | 'pushAudio' | 'end' | 'finalize'
      | 'updateHotwords' | 'updateEndpointing'>, bytes: Uint8Array, sampleBytes: number): Promise<PipelineEvent[]> => {
      const events = lastValueFrom(p.events$.pipe(toArray()));
      const cut = cutAt * sampleBytes;
      for (const [from, to] of [[0, cut], [cut, bytes.length]] as const) {
        const frame = 640 * sampleBytes; // 40 ms
        for (let o = from; o < to; o += frame) p.pushAudio(bytes.subarray(o, Math.min(to, o + frame)), o);
        if (from === 0) {
          p.finalize();
          p.updateHotwords([{ phrase: 'passwords', boost: 6 }]);
          p.updateEndpointing({ silenceMs: 200, maxUtteranceMs: 15000 });
        }
      }
      await p.end();
      return noArrival(await events);
    };
    const alone = [await drive(mono({}), l, 2), await drive(mono({}), r, 2)];
    const finals = alone.map((a) => a.filter((e) => e.kind === 'final'));
    expect(finals[0]!.find((f) => f.reason === 'finalize')).toMatchObject({ endMs: (cutAt * 1000) / 16000 });
    const plain = noArrival(await runPipeline(mono({}), l, 1280));
    expect(alone[0], 'the calls change the left channel').not.toEqual(plain);
    const events = await drive(multichannel(), both, 4);
    expect(channel(events, 0)).toEqual(alone[0]);
    expect(channel(events, 1)).toEqual(alone[1]);
  });

  it("one channel's failure ends both: events$ and end() fail with its error, the other channel's encoder stream is "
    + 'closed and later audio is ignored', async () => {
    const enc = new FakeEncoder({ failAt: 0 });
    const p = new MultichannelPipeline(sessionConfig({ channels: 2, multichannel: true }),
      (c) => new SessionPipeline(c, { encoder: enc, model: FAKE_MODEL }));
    const failed = lastValueFrom(p.events$).catch((e: unknown) => e);
    const silence = toS16(concat([seconds(2)], 9));
    // only the right channel speaks (its audio from 2 s on: "down" at 2.5 s)
    p.pushAudio(interleaveS16(silence, r.subarray(64000, 64000 + silence.length)), 0);
    expect(await failed).toMatchObject({ code: 'GW_ERR_INFERENCE' });
    expect(enc.runs.map((run) => run.streamId)).toEqual([2]);
    expect(enc.closed.sort()).toEqual([1, 2]);
    expect(() => p.pushAudio(both.subarray(0, 128000), 1)).not.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(enc.runs).toHaveLength(1);
    await expect(p.end()).rejects.toMatchObject({ code: 'GW_ERR_INFERENCE' });
  }, 5000);

  it('abandoned from its own event handler inside a push: the push does not throw, the rest is dropped', async () => {
    const enc = new FakeEncoder();
    const p = new MultichannelPipeline(sessionConfig({ channels: 2, multichannel: true }),
      (c) => new SessionPipeline(c, { encoder: enc, model: FAKE_MODEL }));
    const seen: PipelineEvent[] = [];
    p.events$.subscribe((e) => {
      seen.push(e);
      if (e.kind === 'speech.started') p.dispose();
    });
    // Speech starts on the left at 0.5 s: in the first slice of the second frame, which runs inside the push.
    p.pushAudio(both.subarray(0, 4 * 6400), 0);
    expect(() => p.pushAudio(both.subarray(4 * 6400, 4 * 48000), 1)).not.toThrow();
    expect(seen.map((e) => [e.kind, e.channel])).toEqual([['speech.started', 0]]);
    expect(enc.closed.sort()).toEqual([1, 2]);
  });
});
