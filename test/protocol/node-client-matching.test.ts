/**
 * VoxgateClient's matching of pongs to pings against the real gateway (port 0, ws transport, the shipped model),
 * when the server refuses text frames unread: its frames reach the gateway bunched, through a TCP relay that holds
 * them (as a stalled link does), so the gateway's own text budget (docs/protocol.md section 6) refuses some. A
 * refusal does not say which frame it refuses, and a pong names its ping only by id.
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { VoxgateClient } from '../../clients/node-client.js';
import { startFieldsFor } from '../../src/cli/stream-wav.js';
import type { GatewayError } from '../../src/protocol/errors.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import type { Gateway } from '../../src/server/gateway.js';
import { longestFixture, startRealGateway } from '../integration/helpers.js';
import { tcpRelay, type TcpRelay } from '../integration/tcp-relay.js';

interface Relay extends TcpRelay {
  /** The text frames the client sent, in order, let through or not. */
  sent: string[];
  /** From now on the client's frames stay in the relay. */
  hold: () => void;
  /** Lets through what the relay holds, up to and including the first text frame held that equals `text`. */
  letThrough: (text: string) => void;
  /** Lets everything through, and holds nothing more. */
  open: () => void;
}

/** One WebSocket frame the client sent (masked, RFC 6455 section 5.2): its bytes, and its text if a text frame. */
function nextFrame(buf: Buffer): { raw: Buffer; text: string | null } | null {
  if (buf.length < 2) return null;
  let len = buf[1]! & 0x7f;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) return null;
    len = buf.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    if (buf.length < 10) return null;
    len = Number(buf.readBigUInt64BE(2));
    off = 10;
  }
  const mask = buf.subarray(off, off + 4);
  off += 4;
  if (buf.length < off + len) return null;
  const payload = Buffer.from(buf.subarray(off, off + len).map((b, i) => b ^ mask[i % 4]!));
  const isText = (buf[0]! & 0x0f) === 1 && (buf[0]! & 0x40) === 0; // not compressed (small frames never are)
  return { raw: buf.subarray(0, off + len), text: isText ? payload.toString('utf8') : null };
}

/** A TCP relay to the gateway (one connection) that can hold what the client sends and let it through in parts. */
async function bunchingRelay(gatewayPort: number): Promise<Relay> {
  const sent: string[] = [];
  const queue: { raw: Buffer; text: string | null }[] = [];
  let upstream: Socket | null = null;
  let pending = Buffer.alloc(0);
  let upgraded = false;
  let holding = false;
  // one write: the gateway reads the part at once (its text budget refills while it reads, a frame per 33 ms)
  const flush = (count: number): void => {
    if (count > 0) upstream!.write(Buffer.concat(queue.splice(0, count).map((f) => f.raw)));
  };
  const relay = await tcpRelay(gatewayPort, (client, up) => {
    upstream = up;
    up.pipe(client);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (!upgraded) { // the HTTP upgrade request goes as it is
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        upstream!.write(pending.subarray(0, end + 4));
        pending = pending.subarray(end + 4);
        upgraded = true;
      }
      for (let f = nextFrame(pending); f !== null; f = nextFrame(pending)) {
        pending = pending.subarray(f.raw.length);
        if (f.text !== null) sent.push(f.text);
        queue.push({ raw: Buffer.from(f.raw), text: f.text });
      }
      if (!holding) flush(queue.length);
    });
  });
  return {
    ...relay,
    sent,
    hold: () => { holding = true; },
    letThrough: (text) => {
      const i = queue.findIndex((f) => f.text === text);
      expect(i, `${text} is held`).toBeGreaterThanOrEqual(0);
      flush(i + 1);
    },
    open: () => {
      holding = false;
      flush(queue.length);
    },
  };
}

let plain: Gateway;
beforeAll(async () => { plain = await startRealGateway('ws'); }, 60_000);
afterAll(async () => { await plain?.close(); });

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const pingText = (id: string): string => JSON.stringify({ type: 'ping', id });
const FINALIZE = '{"type":"session.finalize"}';
/** The client's own ping after a session.finalize (its pong tells whether the server took the finalize). */
const PROBE = pingText('voxgate-client-probe-0');

/** How a promise settled: its value, or its error's code. */
const settled = (p: Promise<unknown>): Promise<unknown> => p.then((value) => value, (e: GatewayError) => e.code);

/** Runs of bunchedOnce() at most, for one whose bunch the gateway read in time (see bunched()). */
const BUNCH_RUNS = 5;

/**
 * bunchedOnce() until the gateway refused at least `refusals` frames of the first part. It refills its budget while
 * it reads the part: read over more than 33 ms (a loaded machine, the first run's cold code), a frame meant to be
 * refused is taken, and such a run shows nothing of the client. A slow read never refuses more: that run is returned.
 */
async function bunched(asked: (client: VoxgateClient) => Promise<unknown>[], refused: string, refusals: number) {
  for (let run = 1; ; run++) {
    const r = await bunchedOnce(asked, refused);
    if (refusalsOf(r.seen) >= refusals || run === BUNCH_RUNS) return r;
  }
}

/**
 * A session through a relay that holds the client's frames: the caller's pings up to the gateway's text burst, then
 * session.finalize as the burst's last frame, so the client's probe ping after it is refused when they all reach the
 * gateway at once. `asked` runs once the probe went out (while the relay holds it); `refused` says what the relay
 * lets through in the first part, after which the gateway's budget refills before the rest comes.
 */
async function bunchedOnce(asked: (client: VoxgateClient) => Promise<unknown>[], refused: string) {
  const relay = await bunchingRelay(plain.port);
  try {
    const client = await VoxgateClient.connect(relay.url, { start: startFieldsFor(longestFixture().wav) });
    const seen: ServerMessage[] = [];
    client.onMessage((m) => seen.push(m));
    relay.hold();
    const ids = Array.from({ length: client.started.limits.text_frames_burst - 1 }, (_, i) => `p${i}`);
    const early = ids.map((id) => settled(client.ping(id)));
    client.finalize();
    await vi.waitUntil(() => relay.sent.includes(PROBE), { timeout: 10_000 });
    const outcomes = asked(client).map(settled);
    // the first part ends at `refused`: in the relay once the client's own budget let it go (a fixed 200 ms sleep
    // could end before, on a loaded machine); what the client sends later stays in the relay
    await vi.waitUntil(() => relay.sent.includes(refused), { timeout: 10_000 });
    relay.letThrough(refused);
    const pongs = await Promise.all(early); // the gateway has read the part: the refill below counts from here
    await sleep(300); // about 9 frames' worth of the gateway's budget refills
    relay.open();
    expect(pongs).toEqual(ids.map((id) => ({ type: 'pong', id })));
    const result = { outcomes: await Promise.all(outcomes), ended: (await client.end()).reason };
    return { ...result, seen, finalizes: relay.sent.filter((t) => t === FINALIZE).length };
  } finally {
    relay.close();
  }
}

const pongsOf = (seen: ServerMessage[]): unknown[] => seen.flatMap((m) => (m.type === 'pong' ? [m.id] : []))
  .filter((id) => !/^p\d+$/.test(String(id)));
const refusalsOf = (seen: ServerMessage[]): number => seen
  .filter((m) => m.type === 'error' && m.code === 'GW_ERR_RATE_LIMITED' && !m.fatal).length;

describe('VoxgateClient pongs and refusals, frames bunched on their way to the real gateway', () => {
  it('a caller\'s ping with the id of the client\'s own probe gets its pong when the probe was refused; the '
    + 'finalize the gateway took is not sent again', async () => {
    const mine = 'voxgate-client-probe-0';
    const r = await bunched((client) => [client.ping(mine)], PROBE, 1);
    expect(refusalsOf(r.seen)).toBe(1); // the probe's
    expect(r.outcomes).toEqual([{ type: 'pong', id: mine }]);
    expect(pongsOf(r.seen)).toEqual([mine]); // passed on to the caller; the client's own pongs are not
    expect(r.finalizes).toBe(1);
    expect(r.ended).toBe('client_end');
  });

  it('two caller pings with one id, the first refused: it rejects with GW_ERR_RATE_LIMITED and the second gets '
    + 'the pong', async () => {
    const r = await bunched((client) => [client.ping('same'), client.ping('same')], pingText('same'), 2);
    expect(refusalsOf(r.seen)).toBe(2); // the probe's and the first ping's
    expect(r.outcomes).toEqual(['GW_ERR_RATE_LIMITED', { type: 'pong', id: 'same' }]);
    expect(pongsOf(r.seen)).toEqual(['same']);
    expect(r.finalizes).toBe(1);
    expect(r.ended).toBe('client_end');
  });
});

describe('VoxgateClient ping() and the text budget', () => {
  it('a ping that waits for the client\'s text budget longer than replyTimeoutMs gets its pong: the timeout counts '
    + 'from sending', async () => {
    const client = await VoxgateClient.connect(`ws://127.0.0.1:${plain.port}/v1/stream`,
      { start: startFieldsFor(longestFixture().wav), replyTimeoutMs: 500 });
    // the client sends half the gateway's burst at once, then 30 a second: the last goes out about 2 s after asked
    const count = client.started.limits.text_frames_burst + 30;
    const pongs = await Promise.all(Array.from({ length: count }, (_, i) => client.ping(i)));
    expect(pongs.map((p) => p.id)).toEqual(Array.from({ length: count }, (_, i) => i));
    expect((await client.end()).reason).toBe('client_end');
  });
});
