/**
 * An encoder worker thread dies under a real gateway (real model, two workers, real speech): the session whose
 * encoder stream lived in that worker ends with GW_ERR_INFERENCE (session.ended, close 1011), the session on the
 * other worker transcribes exactly as it does alone, the worker is restarted, a new session transcribes as before,
 * and the gateway stays ready throughout. The gateway logs the crash itself (an error line naming the worker and its
 * restart), not only through the session that met it.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VoxgateClient } from '../../clients/node-client.js';
import { startFieldsFor } from '../../src/cli/stream-wav.js';
import type { WavAudio } from '../../src/cli/wav.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { resolveGatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { createLogger } from '../../src/server/logger.js';
import { loadSpeechEngine, type SpeechEngine } from '../../src/server/speech-engine.js';
import { longestFixture, MODEL_DIR } from './helpers.js';

interface Outcome { text: string; messages: ServerMessage[]; closeCode: number }

/** Streams `wav` in 50 ms frames; `midway` runs once half of it is sent. Never throws on a server-side end. */
async function session(url: string, wav: WavAudio, midway?: () => Promise<void>): Promise<Outcome> {
  const client = await VoxgateClient.connect(url, { start: startFieldsFor(wav, { latency: 'balanced' }) });
  const messages: ServerMessage[] = [];
  client.onMessage((m) => messages.push(m));
  const frame = Math.round((wav.sampleRateHz * 50) / 1000) * wav.frameBytes;
  try {
    for (let off = 0; off < wav.data.byteLength; off += frame) {
      if (midway !== undefined && off >= wav.data.byteLength / 2 && off - frame < wav.data.byteLength / 2) await midway();
      await client.sendAudio(wav.data.subarray(off, Math.min(off + frame, wav.data.byteLength)));
      await new Promise((r) => setTimeout(r, 2)); // ~25x real time: chunks reach the encoder while streaming
    }
    await client.end();
  } catch {
    // the server ended the session (the crashed worker's): its messages and close code say how
  }
  const closeCode = (await client.closed).code;
  const text = messages.flatMap((m) => (m.type === 'transcript.final' && m.text !== '' ? [m.text] : [])).join(' ');
  return { text, messages, closeCode };
}

describe('an encoder worker crash under a real gateway', () => {
  let engine: SpeechEngine;
  let gw: Gateway;
  let url: string;
  const logLines: Array<Record<string, unknown>> = [];
  beforeAll(async () => {
    engine = await loadSpeechEngine({ modelDir: MODEL_DIR, precision: 'auto', encoderWorkers: 2 });
    const destination = new Writable({ write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) if (l !== '') logLines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    } });
    // no load shedding: sessions at ~25x real time lag past its 500 ms on a loaded machine (/readyz is asserted)
    gw = await startGateway(resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport: 'uws',
      overloadLatencyMs: 0 }), { services: engine, logger: createLogger({ level: 'info', destination }) });
    url = `ws://127.0.0.1:${gw.port}/v1/stream`;
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
    await engine?.close();
  });

  it('ends only the sessions of the dead worker; the other transcribes as alone; a new one works after', async () => {
    const { wav } = longestFixture();
    const alone = await session(url, wav);
    expect(alone.text.length).toBeGreaterThan(0);
    const crash = async (): Promise<void> => {
      // one session per worker (the second may still be connecting when the first is halfway)
      const deadline = Date.now() + 10_000;
      while (engine.stats().openStreams.join() !== '1,1' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(engine.stats().openStreams).toEqual([1, 1]);
      await engine.encoder.shards[0]!.simulateCrash();
    };
    let crashed = false;
    const [a, b] = await Promise.all([
      session(url, wav, async () => { if (!crashed) { crashed = true; await crash(); } }),
      session(url, wav, async () => { if (!crashed) { crashed = true; await crash(); } }),
    ]);
    const [dead, alive] = a.closeCode === 1000 ? [b, a] : [a, b];
    expect(alive.closeCode).toBe(1000);
    expect(alive.text).toBe(alone.text);
    expect(dead.closeCode).toBe(1011);
    expect(dead.messages.find((m) => m.type === 'error')).toMatchObject({ code: 'GW_ERR_INFERENCE', fatal: true });
    expect(dead.messages[dead.messages.length - 1]).toMatchObject({ type: 'session.ended', reason: 'error',
      error_code: 'GW_ERR_INFERENCE' });
    expect((await fetch(`http://127.0.0.1:${gw.port}/readyz`)).status).toBe(200);
    // before: the only trace of the crash was the dead session's warning "encoder stream N lost its caches ..."
    expect(logLines.filter((l) => /worker/.test(String(l['msg'])) && l['session_id'] === undefined)).toEqual([
      expect.objectContaining({ level: 'error', worker: 0, msg: 'encoder worker died (exit code 1); restarting it' })]);
    expect((await session(url, wav)).text).toBe(alone.text); // after the restart
    expect(engine.stats().failedWorkers).toBe(0);
  }, 90_000);
});
