/**
 * docs/protocol.md against the real gateway (port 0, each transport, the real model) where the validator or the
 * typed client (clients/node-client.ts) once disagreed with it: a text frame's schema error is answered and the
 * session goes on however deeply the frame nests; the client checks a ping locally as it checks every other message
 * (a refused ping took the reply of the update sent after it, and never settled itself); and it cuts audio at the
 * `limits.max_frame_bytes` that `session.started` announces, not at the protocol's default.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VoxgateClient } from '../../clients/node-client.js';
import { startFieldsFor } from '../../src/cli/stream-wav.js';
import type { Gateway } from '../../src/server/gateway.js';
import { inbox, START_16K } from '../server/helpers.js';
import { connect } from '../transports/helpers.js';
import { longestFixture, repeatPcm, startRealGateway } from './helpers.js';

/** Below the 1 MiB default, so that the client's frame size is the announced one. */
const MAX_FRAME_BYTES = 64 * 1024;

describe.each(['uws', 'ws'] as const)('protocol conformance over %s', (transport) => {
  let gw: Gateway;
  let url: string;
  beforeAll(async () => {
    gw = await startRealGateway(transport, { maxFrameBytes: MAX_FRAME_BYTES, encoderWorkers: 1 });
    url = `ws://127.0.0.1:${gw.port}/v1/stream`;
  }, 60_000);
  afterAll(async () => {
    await gw?.close();
  });

  it('a deeply nested field value gets a non-fatal GW_ERR_BAD_MESSAGE and the session goes on', async () => {
    const ws = await connect(gw.port, '/v1/stream');
    const box = inbox(ws);
    ws.send(JSON.stringify(START_16K));
    expect((await box.next()).type).toBe('session.started');
    // 20 KB of text: 10,000 nested arrays overflow the stack of JSON.stringify and of String() alike
    ws.send(`{"type":"ping","id":${'['.repeat(10_000)}${']'.repeat(10_000)}}`);
    ws.send(JSON.stringify({ type: 'ping', id: 1 }));
    expect(await box.next()).toMatchObject({ type: 'error', code: 'GW_ERR_BAD_MESSAGE', fatal: false });
    expect(await box.next()).toEqual({ type: 'pong', id: 1 });
    ws.close();
  }, 30_000);

  it('the client refuses an invalid ping id itself; the update sent after it gets its own answer', async () => {
    const { wav } = longestFixture();
    const client = await VoxgateClient.connect(url, { start: startFieldsFor(wav) });
    const ping = client.ping('x'.repeat(129)).then(() => null, (e: unknown) => e);
    const updated = await client.update({ numerals: true });
    expect(updated).toMatchObject({ type: 'session.updated', numerals: true });
    expect(await ping).toMatchObject({ code: 'GW_ERR_BAD_MESSAGE', fatal: false });
    expect(await client.ping('ok')).toEqual({ type: 'pong', id: 'ok' });
    await client.end();
  }, 30_000);

  it('the client cuts audio at the announced limits.max_frame_bytes', async () => {
    const { wav } = longestFixture();
    const client = await VoxgateClient.connect(url, { start: startFieldsFor(wav) });
    expect(client.started.limits.max_frame_bytes).toBe(MAX_FRAME_BYTES);
    const audio = repeatPcm(wav, 3000); // 96,000 bytes of 16 kHz s16le: two frames
    await client.sendAudio(audio);
    const ended = await client.end();
    expect(ended).toMatchObject({ reason: 'client_end',
      stats: { bytes_received: audio.byteLength, frames_received: 2 } });
    expect((await client.closed).code).toBe(1000);
  }, 30_000);
});
