/**
 * The in-process session of `transcribe` / `eval` without --url (src/server/local-session.ts and the channel over it,
 * src/cli/channel.ts) on the real model and the real speech fixtures: once the in-memory connection is closed, by
 * the client leaving or by the server, nothing more reaches the session and the caller is told so, as a closed
 * socket would.
 */
import { mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalChannel } from '../../src/cli/channel.js';
import { evaluate, parseManifest } from '../../src/cli/eval-command.js';
import { loadInProcessEngine } from '../../src/cli/transcribe-command.js';
import { encodeWav } from '../../src/cli/wav.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { MAX_SESSION_DURATION_MS } from '../../src/server/config.js';
import { LocalSession } from '../../src/server/local-session.js';
import type { SessionServices } from '../../src/server/session-pipeline-port.js';
import type { SpeechEngine } from '../../src/server/speech-engine.js';
import { longestFixture, loadWav, MODEL_DIR, repeatPcm, speechFixtures } from '../integration/helpers.js';

let engine: SpeechEngine;
beforeAll(async () => {
  engine = await loadInProcessEngine({ model: MODEL_DIR });
}, 60_000);
afterAll(async () => {
  await engine?.close();
});

/** The real engine, counting what reaches its pipelines (frames pushed, finalizes, pipelines disposed). */
function countingServices(): SessionServices & { pushes: number; finalizes: number; disposed: number; created: number } {
  const services = {
    modelName: engine.modelName, language: engine.language, pushes: 0, finalizes: 0, disposed: 0, created: 0,
    createPipeline: (config: Parameters<SpeechEngine['createPipeline']>[0]) => {
      const pipeline = engine.createPipeline(config);
      services.created++;
      const counted: Record<string, () => void> = {
        pushAudio: () => services.pushes++, finalize: () => services.finalizes++, dispose: () => services.disposed++,
      };
      return new Proxy(pipeline, { get: (target, key) => {
        const v: unknown = Reflect.get(target, key);
        if (typeof v !== 'function') return v;
        const count = typeof key === 'string' ? counted[key] : undefined;
        return (...args: unknown[]) => {
          count?.();
          return (v as (...a: unknown[]) => unknown).apply(target, args); // private fields need the real `this`
        };
      } });
    },
  };
  return services;
}

const fixture = () => loadWav(speechFixtures()[0]!);
const START = { type: 'session.start', audio: { encoding: 'pcm_s16le', sample_rate_hz: 16000, channels: 1 } } as const;

describe('LocalSession after its connection closed', () => {
  it('audio and text sent after abandon() are refused with GW_ERR_SESSION_ENDED and never reach the pipeline', async () => {
    const services = countingServices();
    const s = new LocalSession({ services });
    const msgs: ServerMessage[] = [];
    s.onMessage((m) => msgs.push(m));
    s.sendJson(START);
    const pcm = fixture().data;
    s.sendAudio(pcm.subarray(0, 3200), 2);
    expect(services.pushes).toBe(1);
    s.abandon();
    // before: pushed into the pipeline (DSP run, encoder chunks queued) and the call returned as if sent
    expect(() => s.sendAudio(pcm.subarray(3200, 6400), 2)).toThrow(expect.objectContaining({ code: 'GW_ERR_SESSION_ENDED' }));
    expect(() => s.sendJson({ type: 'session.finalize' })).toThrow(expect.objectContaining({ code: 'GW_ERR_SESSION_ENDED' }));
    expect([services.pushes, services.finalizes]).toEqual([1, 0]);
    expect(await s.closed).toEqual({ code: 1000, reason: 'client closed' });
    // once closed: before, dropped without a word
    expect(() => s.sendAudio(pcm.subarray(6400, 9600), 2)).toThrow(expect.objectContaining({ code: 'GW_ERR_SESSION_ENDED' }));
    expect(services.pushes).toBe(1);
    expect(msgs.map((m) => m.type)).toEqual(['session.started']);
  });

  it('audio sent after the server closed the session (session.end answered) is refused, not dropped silently', async () => {
    const services = countingServices();
    const s = new LocalSession({ services });
    const msgs: ServerMessage[] = [];
    s.onMessage((m) => msgs.push(m));
    s.sendJson(START);
    s.sendAudio(fixture().data, 2);
    s.sendJson({ type: 'session.end' });
    expect(await s.closed).toEqual({ code: 1000, reason: 'session ended' });
    expect(msgs[msgs.length - 1]).toMatchObject({ type: 'session.ended', reason: 'client_end' });
    const pushes = services.pushes;
    expect(() => s.sendAudio(new Uint8Array(320), 2)).toThrow(expect.objectContaining({ code: 'GW_ERR_SESSION_ENDED' }));
    expect(() => s.sendJson({ type: 'ping' })).toThrow(expect.objectContaining({ code: 'GW_ERR_SESSION_ENDED' }));
    expect(services.pushes).toBe(pushes);
    expect(msgs[msgs.length - 1]).toMatchObject({ type: 'session.ended' }); // nothing after it
  });
});

describe('the in-process channel after close()', () => {
  it('sendAudio right after close() rejects and sends nothing; end() rejects', async () => {
    const services = countingServices();
    const channel = await openLocalChannel(services, { audio: START.audio });
    const pcm = fixture().data;
    await channel.sendAudio(pcm.subarray(0, 3200));
    channel.close();
    // before: resolved, and the frame went through the DSP stages of a session the client had left
    await expect(channel.sendAudio(pcm.subarray(3200, 6400))).rejects.toMatchObject({ code: 'GW_ERR_INTERNAL' });
    await expect(channel.end()).rejects.toMatchObject({ code: 'GW_ERR_INTERNAL' });
    expect(services.pushes).toBe(1);
  });
});

describe('the in-process channel under flow control', () => {
  it('sendAudio calls waiting on the same flow.pause all go on at flow.resume, in order', async () => {
    const channel = await openLocalChannel(engine, { audio: START.audio });
    const types: string[] = [];
    channel.onMessage((m) => types.push(m.type));
    const pcm = repeatPcm(longestFixture().wav, 6000);
    await channel.sendAudio(pcm); // 6 s at once: past the high-water mark (2 s)
    expect(types).toContain('flow.pause');
    const sent: number[] = [];
    const first = channel.sendAudio(pcm.subarray(0, 1600)).then(() => sent.push(0));
    await channel.sendAudio(pcm.subarray(1600, 3200)).then(() => sent.push(1));
    // before: the second call replaced the first one's wake-up, which never came: its promise never settled
    expect(sent).toEqual([0, 1]);
    await first;
    expect(types).toContain('flow.resume');
    expect(await channel.end()).toMatchObject({ reason: 'client_end' });
  });
});

describe('the in-process channel\'s limits', () => {
  it('a session is not cut at the server\'s one-hour maximum duration: the longest --max-duration-ms takes', async () => {
    const channel = await openLocalChannel(engine, { audio: START.audio });
    // before: 3600000, the server's default, which nothing in-process can change: `transcribe --realtime` of a
    // recording longer than an hour got GW_ERR_MAX_DURATION an hour in, no finals for the rest, and exited 1
    expect(channel.started.limits.max_duration_ms).toBe(MAX_SESSION_DURATION_MS);
    channel.close();
  });
});

describe('evaluate() in-process when a file fails mid-stream', () => {
  it('every session it opened is closed (its pipeline disposed) before it rejects, the failing one\'s too', async () => {
    const { wav } = longestFixture();
    const pcm = repeatPcm(wav, 60_000); // 1.9 MB: read in 1 MiB blocks
    const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-local-cut-'));
    const long = path.join(dir, 'long.wav');
    writeFileSync(long, encodeWav(Float32Array.from({ length: pcm.byteLength / 2 },
      (_, i) => new DataView(pcm.buffer, pcm.byteOffset).getInt16(2 * i, true) / 32768), wav.sampleRateHz));
    const f = speechFixtures()[0]!;
    const short = `${f.set}\t${f.file}\t${f.reference}`;
    const entries = parseManifest(`${short}\nlong\tlong.wav\tnot scored\n${short}\n`, path.join(dir, 'MANIFEST.tsv'));
    const services = countingServices();
    const create = services.createPipeline;
    // both first entries have started (so the long file's header was read): cut it so that its second block, read
    // after 32 s of its audio went through, cannot be read
    services.createPipeline = (config) => {
      const pipeline = create(config);
      if (services.created === 2) truncateSync(long, 1_200_000);
      return pipeline;
    };
    await expect(evaluate(entries, { services }, { concurrency: 2, extras: {} }))
      .rejects.toMatchObject({ code: 'GW_ERR_BAD_MESSAGE', message: expect.stringContaining('the file got shorter') });
    // before: the failing file's own session was never closed, and the caller closed the engine under it
    expect(services.disposed).toBe(services.created);
  });
});
