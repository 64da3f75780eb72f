/**
 * The per-session text-frame budget (src/server/text-rate-limit.ts, docs/protocol.md "Rate limits on text frames"):
 * the pure token buckets on a hand-driven clock, the Session answering a ping flood with GW_ERR_RATE_LIMITED, and a
 * gateway with a larger --max-frame-bytes reading a text frame over the default budget (real gateway on loopback,
 * real `ws` client; the speech pipeline is scripted).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PROTOCOL_LIMITS, type ServerMessage } from '../../src/protocol/messages.js';
import { resolveGatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { LocalSession } from '../../src/server/local-session.js';
import { TextRateLimiter } from '../../src/server/text-rate-limit.js';
import { connect } from '../transports/helpers.js';
import { inbox, scriptedServices, START_16K } from './helpers.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

const MiB = 1024 * 1024;

describe('TextRateLimiter', () => {
  it('allows the burst, then the refill rate; a refused frame takes nothing', () => {
    const l = new TextRateLimiter(0, MiB);
    for (let i = 0; i < PROTOCOL_LIMITS.textMessagesBurst; i++) expect(l.take(10, 0)).toBeNull();
    const refused = l.take(10, 0);
    expect(refused?.code).toBe('GW_ERR_RATE_LIMITED');
    expect(refused?.fatal).toBe(false);
    expect(l.take(10, 100)).toBeNull(); // 100 ms at 30 per second: three frames
    expect(l.take(10, 100)).toBeNull();
    expect(l.take(10, 100)).toBeNull();
    expect(l.take(10, 100)).not.toBeNull();
    expect(l.take(10, 10_000)).toBeNull(); // refills up to the burst, never beyond
    for (let i = 1; i < PROTOCOL_LIMITS.textMessagesBurst; i++) expect(l.take(10, 10_000)).toBeNull();
    expect(l.take(10, 10_000)).not.toBeNull();
  });

  it('budgets characters: two whole 1 MiB frames at once, then 256 Ki per second', () => {
    const l = new TextRateLimiter(0, MiB);
    expect(l.take(MiB, 0)).toBeNull();
    expect(l.take(MiB, 0)).toBeNull();
    expect(l.take(1, 0)).not.toBeNull();
    expect(l.take(MiB, 3_999)).not.toBeNull(); // 1 MiB needs 4 s of refill
    expect(l.take(MiB, 4_000)).toBeNull();
  });

  it('the character burst is two whole frames of the configured size, never less than two 1 MiB frames', () => {
    const large = new TextRateLimiter(0, 4 * MiB);
    expect(large.take(4 * MiB, 0)).toBeNull();
    expect(large.take(4 * MiB, 0)).toBeNull();
    expect(large.take(1, 0)).not.toBeNull();
    expect(large.take(4 * MiB, 10 * 60_000)).toBeNull(); // refills up to its own burst
    expect(large.take(4 * MiB, 10 * 60_000)).toBeNull();
    const small = new TextRateLimiter(0, 64 * 1024);
    expect(small.take(MiB, 0)).toBeNull();
    expect(small.take(MiB, 0)).toBeNull();
    expect(small.take(1, 0)).not.toBeNull();
  });

  it('refusals have a budget too: past it the refusal is fatal', () => {
    const l = new TextRateLimiter(0, MiB);
    for (let i = 0; i < PROTOCOL_LIMITS.textMessagesBurst; i++) l.take(1, 0);
    for (let i = 0; i < PROTOCOL_LIMITS.textRefusalsBurst; i++) expect(l.take(1, 0)?.fatal).toBe(false);
    const last = l.take(1, 0);
    expect(last).toMatchObject({ code: 'GW_ERR_RATE_LIMITED', fatal: true });
    expect(last?.message).toMatch(/the session ends/);
  });

  it('a clock that steps back adds nothing', () => {
    const l = new TextRateLimiter(1000, MiB);
    for (let i = 0; i < PROTOCOL_LIMITS.textMessagesBurst; i++) l.take(1, 1000);
    expect(l.take(1, 0)).not.toBeNull();
    expect(l.take(1, 1000)).not.toBeNull();
  });
});

describe('Session under a text flood', () => {
  it('a client that keeps flooding past its refusal budget is closed with 4000', async () => {
    // a stopped clock: on a loaded machine the flood takes long enough for the buckets to refill a token or two
    const s = new LocalSession({ services: scriptedServices({ auto: true }), limits: {}, now: () => 0 });
    const msgs: ServerMessage[] = [];
    s.onMessage((m) => msgs.push(m));
    s.sendJson(START_16K);
    for (let i = 0; i < PROTOCOL_LIMITS.textMessagesBurst + PROTOCOL_LIMITS.textRefusalsBurst + 5 && !s.isClosed; i++) {
      s.sendJson({ type: 'ping', id: i });
    }
    expect((await s.closed).code).toBe(4000);
    const errors = msgs.filter((m) => m.type === 'error');
    expect(errors).toHaveLength(PROTOCOL_LIMITS.textRefusalsBurst + 1);
    expect(errors[errors.length - 1]).toMatchObject({ code: 'GW_ERR_RATE_LIMITED', fatal: true });
    expect(msgs[msgs.length - 1]).toMatchObject({ type: 'session.ended', reason: 'error', error_code: 'GW_ERR_RATE_LIMITED' });
  });

  it('answers frames over the budget with non-fatal GW_ERR_RATE_LIMITED and keeps the session', async () => {
    // the clock moves only when the test says: on a loaded machine the flood outlasted a token's refill (33 ms)
    let nowMs = 0;
    const s = new LocalSession({ services: scriptedServices({ auto: true }), limits: {}, now: () => nowMs });
    const msgs: ServerMessage[] = [];
    s.onMessage((m) => msgs.push(m));
    s.sendJson(START_16K);
    const flood = PROTOCOL_LIMITS.textMessagesBurst + 10;
    for (let i = 0; i < flood; i++) s.sendJson({ type: 'ping', id: i });
    const pongs = msgs.filter((m) => m.type === 'pong');
    const limited = msgs.filter((m) => m.type === 'error');
    // the start took one frame of the burst; every frame got exactly one answer
    expect(pongs).toHaveLength(PROTOCOL_LIMITS.textMessagesBurst - 1);
    expect(limited).toHaveLength(flood - pongs.length);
    expect(limited[0]).toMatchObject({ code: 'GW_ERR_RATE_LIMITED', fatal: false });
    nowMs += 120; // > 3 frames of refill
    s.sendJson({ type: 'ping', id: 'after' });
    expect(msgs[msgs.length - 1]).toEqual({ type: 'pong', id: 'after' });
    const ended = new Promise((resolve) => s.onMessage((m) => { if (m.type === 'session.ended') resolve(m); }));
    s.sendJson({ type: 'session.end' });
    expect(await ended).toMatchObject({ reason: 'client_end' });
  });
});

describe('text budget on a gateway with a larger --max-frame-bytes', () => {
  it.each(['uws', 'ws'] as const)('%s: a 3 MiB text frame under the announced max_frame_bytes (4 MiB) is read', async (transport) => {
    const maxFrameBytes = 4 * MiB;
    const gw = await startGateway(resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent',
      maxFrameBytes }), { services: scriptedServices({ auto: true }) });
    gateways.push(gw);
    const ws = await connect(gw.port, '/v1/stream');
    const box = inbox(ws);
    ws.send(JSON.stringify(START_16K));
    expect(await box.next()).toMatchObject({ type: 'session.started', limits: { max_frame_bytes: maxFrameBytes } });
    const ping = '{"type":"ping","id":"big"}';
    ws.send(ping + ' '.repeat(3 * MiB - ping.length)); // valid JSON: whitespace may follow the value
    expect(await box.next()).toEqual({ type: 'pong', id: 'big' });
    ws.close();
  });
});
