/**
 * VoxgateClient against the real gateway (port 0, ws transport, the shipped model): the promises it returns settle,
 * its control messages keep their place in the audio stream, and it stays inside the budgets and limits that
 * `session.started` announces (text frames, in-flight audio), so the server never refuses or ends it for them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VoxgateClient } from '../../clients/node-client.js';
import { startFieldsFor } from '../../src/cli/stream-wav.js';
import { wavChunks } from '../../src/cli/wav.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import type { Gateway } from '../../src/server/gateway.js';
import { longestFixture, repeatPcm, startRealGateway } from '../integration/helpers.js';

/** The defaults, and small flow marks (as an operator may set them): a fast sender is paused, and the in-flight cap
 *  is 3000 ms. */
let plain: Gateway;
let smallFlow: Gateway;
beforeAll(async () => {
  [plain, smallFlow] = await Promise.all([startRealGateway('ws'),
    startRealGateway('ws', { flowHighWaterMs: 300, flowLowWaterMs: 100, backlogLimitMs: 1500 })]);
}, 60_000);
afterAll(async () => {
  await Promise.all([plain?.close(), smallFlow?.close()]);
});

const connectTo = (gw: Gateway): Promise<VoxgateClient> =>
  VoxgateClient.connect(`ws://127.0.0.1:${gw.port}/v1/stream`, { start: startFieldsFor(longestFixture().wav) });

const speech = (ms: number): Uint8Array => repeatPcm(longestFixture().wav, ms);
const bytesOf = (ms: number): number => (ms * 16000 * 2) / 1000;

describe('VoxgateClient with the real gateway', () => {
  it('a burst of pings past the text-frame budget all get their pongs, and the session goes on', async () => {
    const client = await connectTo(plain);
    const burst = client.started.limits.text_frames_burst + 30;
    const pongs = await Promise.all(Array.from({ length: burst }, (_, i) => client.ping(i)));
    expect(pongs.map((p) => p.id)).toEqual(Array.from({ length: burst }, (_, i) => i));
    expect((await client.end()).reason).toBe('client_end');
  });

  it('two pings with the same id each get a pong', async () => {
    const client = await connectTo(plain);
    expect(await Promise.all([client.ping('same'), client.ping('same')])).toEqual([
      { type: 'pong', id: 'same' }, { type: 'pong', id: 'same' }]);
    await client.end();
  });

  it('end() while audio waits on flow.pause: that audio is sent first and transcribed', async () => {
    const client = await connectTo(smallFlow);
    const held: Promise<void>[] = [];
    let ended: Promise<unknown> | null = null;
    const paused = new Promise<void>((resolve) => {
      const off = client.onMessage((m) => {
        if (m.type !== 'flow.pause') return;
        off();
        held.push(client.sendAudio(speech(200)));
        ended = client.end();
        resolve();
      });
    });
    await client.sendAudio(speech(1000));
    await paused;
    await Promise.all(held);
    expect(await ended).toMatchObject({ reason: 'client_end',
      stats: { bytes_received: bytesOf(1200), bytes_discarded: 0, processed_audio_ms: 1200 } });
  });

  it('one sendAudio carrying more audio than the in-flight cap is cut below it: nothing refused', async () => {
    const client = await connectTo(smallFlow);
    const audio = speech(4000); // 128,000 bytes, under max_frame_bytes, over the 3000 ms in-flight cap
    await client.sendAudio(audio);
    expect(await client.end()).toMatchObject({ reason: 'client_end',
      stats: { bytes_received: audio.byteLength, processed_audio_ms: 4000 } });
  });

  it('an unpaced upload of 50 ms frames is held by flow control, never ended with GW_ERR_BACKLOG', async () => {
    const client = await connectTo(smallFlow);
    const { wav } = longestFixture();
    const data = speech(10_000);
    const errors: ServerMessage[] = [];
    client.onMessage((m) => { if (m.type === 'error') errors.push(m); });
    for (const chunk of wavChunks({ ...wav, data, durationMs: 10_000 }, 50)) await client.sendAudio(chunk);
    expect(await client.end()).toMatchObject({ reason: 'client_end', stats: { processed_audio_ms: 10_000 } });
    expect(errors).toEqual([]);
  });
});
