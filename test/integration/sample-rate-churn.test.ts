/**
 * Session churn must not leave memory behind: sessions that each name a different sample rate (any integer in
 * [8000, 48000] is valid) once left that rate's resampler filter bank cached for good, then up to 16 MB each (a rate
 * coprime with 16 kHz: 16000 branches of 248 taps at 47 999 Hz; an interpolated table of 513 rows since). Found by `npm run bench:churn` (5% of the sessions
 * on random rates: ~100 MB more after every round of 400 sessions). Real gateway, real model, loopback.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { Gateway } from '../../src/server/gateway.js';
import { longestFixture, startRealGateway } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Rates coprime with 16 000 Hz (the largest banks): odd, not multiples of 5. */
const ODD_RATES = [47_999, 47_997, 47_993, 47_991, 47_989, 47_987, 47_983, 47_981, 47_979, 47_977, 47_973, 47_971];

/** One session at `rateHz`: session.start, 200 ms of speech, session.end; resolves with the close code. */
async function session(port: number, rateHz: number, speech: Uint8Array): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`);
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'session.start', audio: { encoding: 'pcm_s16le', sample_rate_hz: rateHz, channels: 1 } }));
  const frameBytes = 2 * Math.round(rateHz / 20); // 50 ms
  for (let k = 0; k < 4; k++) ws.send(speech.subarray(k * frameBytes, (k + 1) * frameBytes));
  ws.send(JSON.stringify({ type: 'session.end' }));
  return closed;
}

function arrayBuffersMb(): number {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers / 1e6;
}

describe('sample rates under session churn', () => {
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startRealGateway('ws');
  }, 60_000); // the model's load took 12 s on a loaded 2-core machine: past vitest's 10 s default for hooks
  afterAll(async () => {
    await gateway?.close();
  });

  it('sessions on a dozen different odd rates leave no filter banks behind', async () => {
    const speech = longestFixture().wav.data; // 16 kHz speech, sent as is: the rate only changes its pitch
    expect(await session(gateway.port, 44_100, speech)).toBe(1000); // warm-up: common rate, code paths compiled
    const before = arrayBuffersMb();
    for (const rate of ODD_RATES) expect(await session(gateway.port, rate, speech)).toBe(1000);
    while (gateway.sessionCount() > 0) await new Promise((r) => setTimeout(r, 10));
    const grownMb = arrayBuffersMb() - before;
    // Unbounded with exact banks: ~190 MB (12 banks of ~16 MB). Now 12 banks of 0.5 MB at most, under the cache's bound.
    expect(grownMb).toBeLessThan(16);
  });
});
