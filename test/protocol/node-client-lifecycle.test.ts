/**
 * VoxgateClient over a long session against the real gateway (port 0, ws transport, the shipped model): what it
 * keeps for an async iterator (nothing for a caller that only listens, as a voice bot does for hours), and how its
 * requests settle once the server's session is ending (drain), not only when the socket closes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VoxgateClient } from '../../clients/node-client.js';
import { startFieldsFor } from '../../src/cli/stream-wav.js';
import type { GatewayError } from '../../src/protocol/errors.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import type { Gateway } from '../../src/server/gateway.js';
import { longestFixture, repeatPcm, startRealGateway } from '../integration/helpers.js';

let plain: Gateway;
beforeAll(async () => {
  plain = await startRealGateway('ws');
}, 60_000);
afterAll(async () => {
  await plain?.close();
});

const connectTo = (gw: Gateway): Promise<VoxgateClient> =>
  VoxgateClient.connect(`ws://127.0.0.1:${gw.port}/v1/stream`, { start: startFieldsFor(longestFixture().wav) });

/** More messages than a bounded keep-the-last-few buffer would hold (each ping's pong reaches the caller). */
const OLD_MESSAGES = 60;
const pings = (client: VoxgateClient, prefix: string, n: number): Promise<unknown> =>
  Promise.all(Array.from({ length: n }, (_, i) => client.ping(`${prefix}${i}`)));

describe('VoxgateClient message buffering', () => {
  it('a caller that only listens keeps no messages: an iterator started later gets what arrives after its start, '
    + 'all of it, in order', async () => {
    const client = await connectTo(plain);
    let heard = 0;
    client.onMessage(() => heard++);
    await pings(client, 'old', OLD_MESSAGES);
    expect(heard).toBe(OLD_MESSAGES);
    const messages = client[Symbol.asyncIterator]();
    await pings(client, 'new', 5); // all five arrive before the consumer asks for any
    const got: ServerMessage[] = [];
    for (let i = 0; i < 5; i++) got.push((await messages.next()).value as ServerMessage);
    expect(got).toEqual(Array.from({ length: 5 }, (_, i) => ({ type: 'pong', id: `new${i}` })));
    await client.end();
  });

  it('leaving a for await stops the keeping: a later iterator does not get what arrived in between', async () => {
    const client = await connectTo(plain);
    void client.ping('first');
    for await (const m of client) {
      expect(m).toEqual({ type: 'pong', id: 'first' });
      break;
    }
    await pings(client, 'between', OLD_MESSAGES);
    const messages = client[Symbol.asyncIterator]();
    void client.ping('after');
    expect((await messages.next()).value).toEqual({ type: 'pong', id: 'after' });
    await client.end();
  });
});

describe('VoxgateClient while the server ends the session', () => {
  it('update() during a drain rejects with GW_ERR_SESSION_ENDED at once, before the socket closes', async () => {
    const gw = await startRealGateway('ws');
    try {
      const client = await connectTo(gw);
      let closedYet = false;
      void client.closed.then(() => { closedYet = true; });
      // Audio still to decode keeps the session in state ending for a while after the drain begins.
      await client.sendAudio(repeatPcm(longestFixture().wav, 6000));
      const draining = gw.drain(); // the session is in state ending from here on
      const refusal = await client.update({ numerals: true })
        .then(() => null, (e: GatewayError) => ({ code: e.code, closedYet }));
      expect(refusal).toEqual({ code: 'GW_ERR_SESSION_ENDED', closedYet: false });
      // The server's answer to every later update would be the same: refused without a round trip.
      await expect(client.update({ numerals: false })).rejects.toMatchObject({ code: 'GW_ERR_SESSION_ENDED' });
      expect(await client.end()).toMatchObject({ reason: 'error', error_code: 'GW_ERR_SHUTTING_DOWN' });
      await draining;
    } finally {
      await gw.close();
    }
  }, 60_000);
});
