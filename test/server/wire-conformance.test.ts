/**
 * docs/protocol.md against the running gateway where the documents and the code are otherwise checked only apart
 * (test/protocol/docs.test.ts holds the document to the registry): every error code the server sends, sent for real,
 * carries the `fatal` of the document's error table (or of the exception the table states), and a fatal one closes
 * the socket with the table's close code after `session.ended` when, and only when, the session had started (section
 * 2); and the frame limit `session.started` announces (`limits.max_frame_bytes`, "in effect") is the one text frames
 * meet, not the protocol's default. Real gateway on loopback, real `ws` clients; the speech pipeline is scripted.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { GW_ERROR_CODES, type GwErrorCode } from '../../src/protocol/errors.js';
import {
  PROTOCOL_LIMITS, type ErrorMessage, type ServerMessage, type SessionStartedMessage,
} from '../../src/protocol/messages.js';
import { resolveGatewayConfig, type GatewayConfig } from '../../src/server/config.js';
import { startGateway, type Gateway } from '../../src/server/gateway.js';
import { closed, connect } from '../transports/helpers.js';
import {
  inbox, pcm16, scriptedServices, START_16K, until, type ScriptedOptions, type ScriptedPipeline,
} from './helpers.js';

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.close()));
});

async function startedSession(transport: 'uws' | 'ws', overrides: Partial<GatewayConfig> = {}) {
  const config = resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent', ...overrides });
  const gw = await startGateway(config, { services: scriptedServices({ auto: true }) });
  gateways.push(gw);
  const ws = await connect(gw.port, '/v1/stream');
  const box = inbox(ws);
  ws.send(JSON.stringify(START_16K));
  const started = await box.next();
  expect(started).toMatchObject({ type: 'session.started' });
  return { gw, ws, box, started: started as SessionStartedMessage };
}

/** The error table of docs/protocol.md section 9: code -> its Fatal and Close code cells. */
function errorTable(): Map<string, { fatal: boolean; closeCode: number }> {
  const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
  const table = doc.split('<!-- error-table:start -->')[1]!.split('<!-- error-table:end -->')[0]!;
  const rows = new Map<string, { fatal: boolean; closeCode: number }>();
  for (const line of table.split('\n')) {
    const [code, fatal, close] = line.split('|').slice(1, -1).map((c) => c.trim());
    const m = /^`(GW_ERR_[A-Z_]+)`$/.exec(code ?? '');
    if (m) rows.set(m[1]!, { fatal: fatal === 'yes', closeCode: Number(close) });
  }
  return rows;
}

interface ErrorCase {
  code: GwErrorCode;
  /** Send session.start (and wait for session.started) before `act`. */
  started: boolean;
  act: (c: { ws: WebSocket; gw: Gateway; pipeline: () => ScriptedPipeline }) => void;
  config?: Partial<GatewayConfig>;
  scripted?: ScriptedOptions;
  /** Where the table's Fatal cell is not the answer, the exception it states instead (its Meaning column). */
  fatalByException?: boolean;
}

const startWith = (fields: object): string => JSON.stringify({ ...START_16K, ...fields });
const startAudio = (audio: object): string => JSON.stringify({ ...START_16K, audio: { ...START_16K.audio, ...audio } });

const ERROR_CASES: ErrorCase[] = [
  { code: 'GW_ERR_BAD_JSON', started: true, act: ({ ws }) => ws.send('{nope') },
  { code: 'GW_ERR_UNKNOWN_TYPE', started: true, act: ({ ws }) => ws.send('{"type":"nope"}') },
  { code: 'GW_ERR_BAD_MESSAGE', started: true, act: ({ ws }) => ws.send('{"type":"session.update","min_confidence":2}') },
  { code: 'GW_ERR_BAD_MESSAGE', started: false, act: ({ ws }) => ws.send(startWith({ chunk_ms: 100 })),
    fatalByException: true }, // "Fatal in `session.start`"
  { code: 'GW_ERR_NOT_STARTED', started: false, act: ({ ws }) => ws.send('{"type":"session.finalize"}') },
  { code: 'GW_ERR_ALREADY_STARTED', started: true, act: ({ ws }) => ws.send(JSON.stringify(START_16K)) },
  { code: 'GW_ERR_SESSION_ENDED', started: true, scripted: { auto: true, endDelayMs: 500 },
    act: ({ ws }) => { ws.send('{"type":"session.end"}'); ws.send('{"type":"session.update"}'); } },
  { code: 'GW_ERR_UNSUPPORTED_ENCODING', started: false, act: ({ ws }) => ws.send(startAudio({ encoding: 'opus' })) },
  { code: 'GW_ERR_UNSUPPORTED_RATE', started: false, act: ({ ws }) => ws.send(startAudio({ sample_rate_hz: 7999 })) },
  { code: 'GW_ERR_UNSUPPORTED_CHANNELS', started: false, act: ({ ws }) => ws.send(startAudio({ channels: 3 })) },
  { code: 'GW_ERR_PARTIAL_SAMPLE', started: true, act: ({ ws }) => ws.send(new Uint8Array(3)) },
  { code: 'GW_ERR_FRAME_TOO_LARGE', started: true, config: { maxFrameBytes: 64 * 1024 },
    act: ({ ws }) => ws.send(new Uint8Array(70 * 1024)) },
  // audio past the in-flight cap (twice the hard limit), which a pipeline that decodes nothing never works off
  { code: 'GW_ERR_BACKLOG', started: true, scripted: { auto: false },
    config: { flowLowWaterMs: 50, flowHighWaterMs: 100, backlogLimitMs: 200 }, act: ({ ws }) => ws.send(pcm16(500)) },
  { code: 'GW_ERR_IDLE_TIMEOUT', started: true, config: { idleTimeoutMs: 300 }, act: () => undefined },
  { code: 'GW_ERR_START_TIMEOUT', started: false, config: { startTimeoutMs: 50 }, act: () => undefined },
  { code: 'GW_ERR_MAX_DURATION', started: true, config: { maxDurationMs: 100 }, act: () => undefined },
  { code: 'GW_ERR_SHUTTING_DOWN', started: true, act: ({ gw }) => void gw.drain() },
  { code: 'GW_ERR_INFERENCE', started: true, act: ({ pipeline }) => pipeline().fail('GW_ERR_INFERENCE') },
  { code: 'GW_ERR_DECODER', started: true, act: ({ pipeline }) => pipeline().fail('GW_ERR_DECODER') },
  { code: 'GW_ERR_INTERNAL', started: true, act: ({ ws, pipeline }) => {
    pipeline().pushAudio = () => { throw new Error('not a GatewayError'); };
    ws.send(pcm16(20));
  } },
  { code: 'GW_ERR_BAD_HOTWORD', started: true,
    act: ({ ws }) => ws.send(JSON.stringify({ type: 'session.update', hotwords: [{ phrase: ' ' }] })) },
  { code: 'GW_ERR_BAD_HOTWORD', started: false, act: ({ ws }) => ws.send(startWith({ hotwords: [{ phrase: ' ' }] })),
    fatalByException: true }, // "Fatal in `session.start`"
  // twice the burst: the budget refills 30 frames a second while the server reads, so a flood of burst + 1 was no
  // flood when a busy machine (two test files at once) spread the reading over 70 ms
  { code: 'GW_ERR_RATE_LIMITED', started: true, act: ({ ws }) => {
    for (let i = 0; i < 2 * PROTOCOL_LIMITS.textMessagesBurst; i++) ws.send('{"type":"ping"}');
  } },
];

/**
 * Codes no session sends as an `error` message: refused at the upgrade (HTTP), the carrier's close alone
 * (GW_ERR_SLOW_CONSUMER, section 2), startup configuration, or raised by the client.
 */
const NEVER_SENT_IN_SESSION: GwErrorCode[] = ['GW_ERR_BAD_CONFIG', 'GW_ERR_UNAUTHORIZED', 'GW_ERR_TOO_MANY_SESSIONS',
  'GW_ERR_KEY_SESSION_LIMIT', 'GW_ERR_SLOW_CONSUMER', 'GW_ERR_UNREACHABLE'];

describe('the error cases below', () => {
  it('cover every code a session can send', () => {
    expect([...new Set([...ERROR_CASES.map((c) => c.code), ...NEVER_SENT_IN_SESSION])].sort())
      .toEqual([...GW_ERROR_CODES].sort());
  });
});

describe.each(['uws', 'ws'] as const)('wire conformance over %s', (transport) => {
  const table = errorTable();

  it.each(ERROR_CASES.map((c) => [`${c.code}${c.started ? '' : ' (before session.start)'}`, c] as const))(
    '%s is sent with the documented fatal flag and close code', async (_, c) => {
      const services = scriptedServices(c.scripted ?? { auto: true });
      const gw = await startGateway(resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport, logLevel: 'silent',
        ...c.config }), { services });
      gateways.push(gw);
      const ws = await connect(gw.port, '/v1/stream');
      const msgs: ServerMessage[] = [];
      ws.on('message', (data: Buffer) => msgs.push(JSON.parse(data.toString()) as ServerMessage));
      const socketClosed = closed(ws);
      if (c.started) {
        ws.send(JSON.stringify(START_16K));
        await until(() => msgs.some((m) => m.type === 'session.started'), 2000, 'session.started');
      }
      c.act({ ws, gw, pipeline: () => services.created[0]! });
      const isError = (m: ServerMessage): m is ErrorMessage => m.type === 'error' && m.code === c.code;
      await until(() => msgs.some(isError), 3000, c.code);
      const error = msgs.find(isError)!;
      const documented = table.get(c.code)!;
      const fatal = c.fatalByException ?? documented.fatal;
      expect(error.fatal).toBe(fatal);
      if (!fatal) {
        // the session goes on (a burst's refill: 30 text frames per second)
        await new Promise((r) => setTimeout(r, 100));
        ws.send(JSON.stringify({ type: 'ping', id: 'after' }));
        await until(() => msgs.some((m) => m.type === 'pong' && m.id === 'after'), 2000, 'pong');
        ws.close();
        return;
      }
      expect((await socketClosed).code).toBe(documented.closeCode);
      const after = msgs.slice(msgs.indexOf(error) + 1);
      expect(after).toEqual(c.started ? [expect.objectContaining({ type: 'session.ended', reason: 'error',
        error_code: c.code })] : []);
    });

  it('a text frame within the announced limits.max_frame_bytes is read, also above the protocol default', async () => {
    const maxFrameBytes = 4 * 1024 * 1024;
    const { ws, box, started } = await startedSession(transport, { maxFrameBytes });
    expect(started.limits.max_frame_bytes).toBe(maxFrameBytes);
    // 1.5 MB: within the text budget's burst (2 MiB) and the announced limit, over the 1 MiB default
    ws.send(JSON.stringify({ type: 'ping', id: 'x'.repeat(1_500_000) }));
    ws.send(JSON.stringify({ type: 'ping', id: 1 }));
    expect(await box.next()).toMatchObject({ type: 'error', code: 'GW_ERR_BAD_MESSAGE', fatal: false });
    expect(await box.next()).toEqual({ type: 'pong', id: 1 });
    ws.close();
  });
});
