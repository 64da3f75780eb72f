/**
 * Ctrl-C (SIGINT) and SIGTERM in `voxgate transcribe`: the built binary (`node dist/src/cli/main.js`, as the package
 * bin runs; build it first with `npx tsc -p tsconfig.build.json`) as a real child process, streaming a long file at
 * 1x against a real gateway on port 0 and in-process, interrupted mid-utterance; and run as nodeArgsFor starts it,
 * interrupted before the session has started, or refusing a pipe before a signal is needed.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTranscribe } from '../../src/cli/transcribe-command.js';
import { encodeWav } from '../../src/cli/wav.js';
import type { ServerMessage, SessionEndedMessage, TranscriptPartialMessage } from '../../src/protocol/messages.js';
import type { Gateway } from '../../src/server/gateway.js';
import {
  CLI, longestFixture, repeatPcm, REQUIRE_PARTIALS, ROOT, speechFixtures, startRealGateway,
} from '../integration/helpers.js';

const MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
/** Far longer than any test waits: an interrupted run must end long before the file does. */
const FILE_MS = 60_000;

let gw: Gateway;
/** Deep flow marks: an unpaced upload leaves seconds of audio to decode after session.end, so the clean end of an
 *  interrupted run takes long enough for a second signal to land before it. */
let deepBacklog: Gateway;
let longFile: string;
beforeAll(async () => {
  expect(existsSync(MAIN), `${MAIN} missing: run npx tsc -p tsconfig.build.json`).toBe(true);
  const { wav } = longestFixture();
  const pcm = repeatPcm(wav, FILE_MS);
  const samples = Float32Array.from({ length: pcm.byteLength / 2 },
    (_, i) => new DataView(pcm.buffer, pcm.byteOffset).getInt16(2 * i, true) / 32768);
  longFile = path.join(mkdtempSync(path.join(tmpdir(), 'voxgate-interrupt-')), 'long.wav');
  writeFileSync(longFile, encodeWav(samples, wav.sampleRateHz));
  [gw, deepBacklog] = await Promise.all([startRealGateway('ws'),
    startRealGateway('ws', { flowHighWaterMs: 10_000, flowLowWaterMs: 8000, backlogLimitMs: 40_000 })]);
}, 60_000);
afterAll(async () => {
  await Promise.all([gw?.close(), deepBacklog?.close()]);
});

/** `voxgate transcribe FILE --json ...` as a child process; its messages and stderr as they come. */
function transcribeProcess(args: string[], { file = longFile, cli = [MAIN] } = {}) {
  const child = spawn(process.execPath, [...cli, 'transcribe', file, '--json', ...args],
    { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
  const msgs: ServerMessage[] = [];
  let pending = '';
  let stderr = '';
  const waiters: (() => void)[] = [];
  const wake = (): void => { for (const w of waiters.splice(0)) w(); };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop()!;
    for (const l of lines) msgs.push(JSON.parse(l) as ServerMessage);
    wake();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    wake();
  });
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });
  /** Resolves with what `found` returns once it is not undefined; rejects if the process exits first. */
  const until = async <T>(what: string, found: () => T | undefined): Promise<T> => {
    for (;;) {
      const v = found();
      if (v !== undefined) return v;
      if (done) throw new Error(`exited without ${what}; stderr: ${stderr}`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), exited]);
    }
  };
  const first = <T extends ServerMessage>(type: T['type']): Promise<T> =>
    until(type, () => msgs.find((m) => m.type === type) as T | undefined);
  const stderrHas = (text: string): Promise<true> => until(`"${text}" on stderr`, () => stderr.includes(text) || undefined);
  return { child, msgs, exited, first, stderrHas, stderr: () => stderr };
}

async function reasonCounts(): Promise<Record<string, number>> {
  const { values } = await gw.metrics.sessionsTotal.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.reason), v.value]));
}

describe('voxgate transcribe interrupted', () => {
  it.runIf(REQUIRE_PARTIALS)('SIGINT mid-utterance with --url: session.end, the final of the audio sent so far, '
    + 'session.ended client_end, exit 130', async () => {
    const before = await reasonCounts();
    const run = transcribeProcess(['--realtime', '--url', `ws://127.0.0.1:${gw.port}/v1/stream`]);
    try {
      const partial = await run.first<TranscriptPartialMessage>('transcript.partial');
      run.child.kill('SIGINT');
      expect(await run.exited).toEqual({ code: 130, signal: null });
      const ended = run.msgs[run.msgs.length - 1] as SessionEndedMessage;
      expect(ended).toMatchObject({ type: 'session.ended', reason: 'client_end' });
      expect(ended.audio_ms).toBeGreaterThan(0);
      expect(ended.audio_ms).toBeLessThan(FILE_MS);
      // the utterance the partial belonged to got its final, inside the audio sent
      const finals = run.msgs.filter((m) => m.type === 'transcript.final');
      expect(finals.map((f) => f.utterance_id)).toContain(partial.utterance_id);
      for (const f of finals) expect(f.end_ms).toBeLessThanOrEqual(ended.audio_ms);
      expect(run.stderr()).toContain('SIGINT');
      // the server saw a clean end, not an abandoned session
      await expect.poll(async () => (await reasonCounts()).client_end ?? 0, { timeout: 10_000 })
        .toBe((before.client_end ?? 0) + 1);
      expect((await reasonCounts()).abandoned ?? 0).toBe(before.abandoned ?? 0);
    } finally {
      run.child.kill('SIGKILL');
    }
  }, 120_000);

  it.runIf(REQUIRE_PARTIALS)('a second SIGINT exits 130 at once, without waiting for the final', async () => {
    const run = transcribeProcess(['--url', `ws://127.0.0.1:${deepBacklog.port}/v1/stream`]);
    try {
      await run.first('transcript.partial');
      run.child.kill('SIGINT');
      // not back to back: the kernel merges a signal into one still pending, and the child would see only one
      await run.stderrHas('SIGINT: ending the session');
      run.child.kill('SIGINT');
      expect(await run.exited).toEqual({ code: 130, signal: null });
      expect(run.msgs.map((m) => m.type)).not.toContain('session.ended');
    } finally {
      run.child.kill('SIGKILL');
    }
  }, 120_000);

  it.runIf(REQUIRE_PARTIALS)('SIGTERM in-process: the local session ends cleanly with its final, exit 143', async () => {
    const run = transcribeProcess(['--realtime']);
    try {
      const partial = await run.first<TranscriptPartialMessage>('transcript.partial');
      run.child.kill('SIGTERM');
      expect(await run.exited).toEqual({ code: 143, signal: null });
      const ended = run.msgs[run.msgs.length - 1] as SessionEndedMessage;
      expect(ended).toMatchObject({ type: 'session.ended', reason: 'client_end' });
      expect(ended.audio_ms).toBeLessThan(FILE_MS);
      expect(run.msgs.filter((m) => m.type === 'transcript.final').map((f) => f.utterance_id))
        .toContain(partial.utterance_id);
    } finally {
      run.child.kill('SIGKILL');
    }
  }, 120_000);

  it('SIGTERM while connecting with --url (the server has not answered the upgrade): a notice, exit 143 at once, '
    + 'the connection closed', async () => {
    const sockets: Socket[] = [];
    // takes the connection and reads it (else its end is never seen), never answers the upgrade
    const silent = createServer((s) => sockets.push(s.resume()));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const run = transcribeProcess(['--url', `ws://127.0.0.1:${(silent.address() as { port: number }).port}/v1/stream`],
      { cli: CLI });
    try {
      await expect.poll(() => sockets.length, { timeout: 30_000, interval: 20 }).toBe(1);
      const closed = new Promise<void>((resolve) => { sockets[0]!.once('close', () => resolve()); });
      run.child.kill('SIGTERM');
      expect(await run.exited, run.stderr()).toEqual({ code: 143, signal: null });
      expect(run.stderr()).toMatch(/^voxgate: SIGTERM: .*\n$/);
      expect(run.msgs).toEqual([]);
      await closed;
    } finally {
      run.child.kill('SIGKILL');
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 60_000);

  // `transcribe <(...)` hands over a pipe that waits on its writer: opening it blocked until the writer came, so the
  // refusal of pipes (not a regular file) came only then, and a SIGINT in between was the only way out.
  it('a pipe that waits on its writer (`transcribe <(...)`) is refused at once, before any writer opens it, and no '
    + 'model is loaded for nothing', async () => {
    const fifo = path.join(mkdtempSync(path.join(tmpdir(), 'voxgate-interrupt-fifo-')), 'in.wav');
    execFileSync('mkfifo', [fifo]);
    // in-process with a model that is not there: the run fails otherwise if it loads one
    const run = transcribeProcess(['--model', path.join(path.dirname(fifo), 'no-model')], { file: fifo, cli: CLI });
    try {
      const exited = await Promise.race([run.exited, new Promise((r) => setTimeout(() => r('still waiting'), 20_000))]);
      expect(exited, run.stderr()).toEqual({ code: 1, signal: null });
      expect(run.stderr()).toBe(`voxgate: GW_ERR_BAD_MESSAGE: ${fifo}: not a regular file (a pipe?): the audio is read `
        + 'from the disk as it is sent; save it to a file first\n');
      expect(run.msgs).toEqual([]);
    } finally {
      run.child.kill('SIGKILL');
    }
  }, 60_000);

  it('runTranscribe removes its signal handlers when it returns', async () => {
    const counts = (): number[] => ['SIGINT', 'SIGTERM'].map((s) => process.listenerCount(s));
    const before = counts();
    const code = await runTranscribe(speechFixtures()[0]!.file, { url: `ws://127.0.0.1:${gw.port}/v1/stream` });
    expect(code).toBe(0);
    expect(counts()).toEqual(before);
  }, 60_000);
});
