/**
 * VoxgateClient against the real gateway (port 0, ws transport, the shipped model): every promise it returns settles
 * as a rejection or a value, never as a synchronous throw (a caller's `.catch()` never runs for one), and with the
 * code of what ended the session: the server's limits (idle timeout, slow consumer, whose 4004 close comes without
 * an `error` message), or the caller's own close(), which is not a server failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VoxgateClient } from '../../clients/node-client.js';
import { startFieldsFor } from '../../src/cli/stream-wav.js';
import type { GatewayError } from '../../src/protocol/errors.js';
import type { Gateway } from '../../src/server/gateway.js';
import { longestFixture, repeatPcm, startRealGateway } from '../integration/helpers.js';

/** Small flow marks (a fast sender is paused at once), and a gateway with short idle and outbound limits: its
 *  hard limit is under the size of one final carrying ten alternatives, so such a final ends the session (4004). */
let smallFlow: Gateway;
let strict: Gateway;
beforeAll(async () => {
  [smallFlow, strict] = await Promise.all([
    startRealGateway('ws', { flowHighWaterMs: 300, flowLowWaterMs: 100, backlogLimitMs: 1500 }),
    startRealGateway('ws', { idleTimeoutMs: 2000, outboundSoftLimitBytes: 1024, outboundHardLimitBytes: 1025 })]);
}, 60_000);
afterAll(async () => {
  await Promise.all([smallFlow?.close(), strict?.close()]);
});

const connectTo = (gw: Gateway, extra: Parameters<typeof startFieldsFor>[1] = {}): Promise<VoxgateClient> =>
  VoxgateClient.connect(`ws://127.0.0.1:${gw.port}/v1/stream`, { start: startFieldsFor(longestFixture().wav, extra) });

const speech = (ms: number): Uint8Array => repeatPcm(longestFixture().wav, ms);

/** How `call` settled: its value, or its error's code; a synchronous throw fails the test. */
async function settled(call: () => Promise<unknown>): Promise<{ value: unknown } | { code: string }> {
  let p: Promise<unknown>;
  try {
    p = call();
  } catch (e) {
    throw new Error(`threw synchronously instead of rejecting: ${(e as Error).message}`);
  }
  return p.then((value) => ({ value }), (e: GatewayError) => ({ code: e.code }));
}

describe('VoxgateClient requests settle as promises', () => {
  it('update() with a field the protocol refuses rejects (GW_ERR_BAD_HOTWORD), and the session goes on', async () => {
    const client = await connectTo(smallFlow);
    expect(await settled(() => client.update({ hotwords: [{ phrase: '' }] }))).toEqual({ code: 'GW_ERR_BAD_HOTWORD' });
    expect(await client.update({ numerals: true })).toMatchObject({ type: 'session.updated', numerals: true });
    expect((await client.end()).reason).toBe('client_end');
  });

  it('end() after the server ended the session (idle timeout) resolves with the session.ended it sent', async () => {
    const client = await connectTo(strict);
    expect(await client.closed).toEqual({ code: 4001, reason: 'GW_ERR_IDLE_TIMEOUT' });
    expect(await settled(() => client.end())).toEqual({ value: expect.objectContaining({
      type: 'session.ended', reason: 'error', error_code: 'GW_ERR_IDLE_TIMEOUT' }) });
  });

  it('end() after close() rejects with GW_ERR_SESSION_ENDED', async () => {
    const client = await connectTo(smallFlow);
    client.close();
    expect(await settled(() => client.end())).toEqual({ code: 'GW_ERR_SESSION_ENDED' });
    await client.closed;
    expect(await settled(() => client.end())).toEqual({ code: 'GW_ERR_SESSION_ENDED' });
  });
});

describe('VoxgateClient requests pending when the session closes', () => {
  it('close() while audio waits on flow.pause: the audio, ping, update and end waiting reject with '
    + 'GW_ERR_SESSION_ENDED (the caller left), not a server error', async () => {
    const client = await connectTo(smallFlow);
    const held: Promise<unknown>[] = [];
    client.onMessage((m) => {
      if (m.type !== 'flow.pause' || held.length > 0) return;
      held.push(settled(() => client.sendAudio(speech(200))), settled(() => client.ping('held')),
        settled(() => client.update({ numerals: true })), settled(() => client.end()));
      client.close();
    });
    // more than the in-flight window: its second part may be waiting too
    const first = settled(() => client.sendAudio(speech(1000)));
    await client.closed;
    expect(held.length).toBe(4);
    expect(await Promise.all(held)).toEqual(Array(4).fill({ code: 'GW_ERR_SESSION_ENDED' }));
    expect([{ value: undefined }, { code: 'GW_ERR_SESSION_ENDED' }]).toContainEqual(await first);
  });

  it('a final over the outbound hard limit: the 4004 close rejects end() with GW_ERR_SLOW_CONSUMER', async () => {
    const client = await connectTo(strict, { alternatives: 10 });
    await client.sendAudio(speech(3000));
    const ended = await settled(() => client.end());
    expect(await client.closed).toEqual({ code: 4004, reason: 'outbound buffer over limit' });
    expect(ended).toEqual({ code: 'GW_ERR_SLOW_CONSUMER' });
  });
});
