/**
 * A WAV that cannot be read to its end (it got shorter while it was sent) in `voxgate transcribe` / `eval`: the
 * binary from its sources as a real child process, against a real gateway on port 0 or in-process. The command fails
 * naming the file, and its session is not left open until the server's idle timeout closes it: `transcribe` ends it
 * as at the end of the file and prints the finals of the audio it sent first, `eval` (whose run has failed) abandons
 * it at once.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/cli/wav.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import type { Gateway } from '../../src/server/gateway.js';
import {
  checkTranscriptOrder, CLI, longestFixture, repeatPcm, speechFixtures, startRealGateway,
} from '../integration/helpers.js';

/**
 * 5 min of 16-bit 16 kHz speech: 9.6 MB, read in 1 MiB blocks (32 s of audio), far more than is sent by the time it
 * is cut: whichever block is read next after the cut fails.
 */
const FILE_MS = 300_000;
/** Cut to this, the file still holds its first block but not its second. */
const CUT_BYTES = 1_200_000;

let gw: Gateway;
let wavBytes: Uint8Array;
beforeAll(async () => {
  const { wav } = longestFixture();
  const pcm = repeatPcm(wav, FILE_MS);
  const samples = Float32Array.from({ length: pcm.byteLength / 2 },
    (_, i) => new DataView(pcm.buffer, pcm.byteOffset).getInt16(2 * i, true) / 32768);
  wavBytes = encodeWav(samples, wav.sampleRateHz);
  // an idle timeout far past the test's: a session left open stays open
  gw = await startRealGateway('ws', { idleTimeoutMs: 600_000 });
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

async function sessions(): Promise<{ active: number; ended: Record<string, number> }> {
  const active = (await gw.metrics.sessionsActive.get()).values[0]?.value ?? 0;
  const { values } = await gw.metrics.sessionsTotal.get();
  return { active, ended: Object.fromEntries(values.map((v) => [String(v.labels.reason), v.value])) };
}

function run(args: string[]) {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

/** A fresh copy of the long file in a directory of its own. */
function longCopy(): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-cut-'));
  const file = path.join(dir, 'long.wav');
  writeFileSync(file, wavBytes);
  return { dir, file };
}

const CUT_ERROR = /^voxgate: GW_ERR_BAD_MESSAGE: cannot read .*long\.wav: the file got shorter since it was checked\n$/;

/**
 * `transcribe FILE --json ...args` on a copy of the long file, cut once audio was sent (a transcript message is out,
 * so the first block was read): it exits 1 with the read error, after printing every message of a session that
 * ended cleanly. Returns its messages.
 */
async function transcribeCut(args: string[]): Promise<ServerMessage[]> {
  const { file } = longCopy();
  const p = run(['transcribe', file, '--json', ...args]);
  try {
    await expect.poll(() => p.stdout(), { timeout: 60_000, interval: 20 }).toContain('"type":"transcript.');
    truncateSync(file, CUT_BYTES);
    expect(await p.exited, p.stderr()).toBe(1);
    expect(p.stderr()).toMatch(CUT_ERROR);
    const msgs = p.stdout().trimEnd().split('\n').map((l) => JSON.parse(l) as ServerMessage);
    // before: the session was abandoned at the read error, and what the server had still to say was lost: the
    // final of the utterance in progress, often more, and session.ended
    expect(msgs.at(-1)).toMatchObject({ type: 'session.ended', reason: 'client_end' });
    const finals = checkTranscriptOrder(msgs);
    const utterances = new Set(msgs.flatMap((m) => (m.type === 'transcript.partial' ? [m.utterance_id] : [])));
    expect(finals.length).toBeGreaterThan(0);
    expect(finals.length).toBeGreaterThanOrEqual(utterances.size); // every utterance heard got its final
    return msgs;
  } finally {
    p.child.kill('SIGKILL');
  }
}

/** Runs `args` on a fresh copy of the long file, cuts it once the server has its session, and checks the outcome. */
async function cutWhileSent(args: (file: string, dir: string) => string[], error: RegExp): Promise<void> {
  const { dir, file } = longCopy();
  await expect.poll(async () => (await sessions()).active, { timeout: 30_000 }).toBe(0); // an earlier test's gone
  const before = await sessions();
  const p = run(args(file, dir));
  try {
    await expect.poll(async () => (await sessions()).active, { timeout: 60_000, interval: 20 }).toBe(1);
    truncateSync(file, CUT_BYTES);
    // before: the CLI reported the error but kept its socket open until the server's idle timeout (30 s by default)
    // closed the session as GW_ERR_IDLE_TIMEOUT; only then did the process exit
    await expect.poll(async () => (await sessions()).active, { timeout: 30_000, interval: 50 }).toBe(0);
    expect((await sessions()).ended).toEqual({ ...before.ended, abandoned: (before.ended.abandoned ?? 0) + 1 });
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toMatch(error);
  } finally {
    p.child.kill('SIGKILL');
  }
}

describe('a WAV that gets shorter while it is sent', () => {
  it('transcribe --url ends the session as at the end of the file, prints the finals of the audio sent, then exits 1 '
    + 'naming the file', async () => {
    await expect.poll(async () => (await sessions()).active, { timeout: 30_000 }).toBe(0); // an earlier test's gone
    const before = await sessions();
    await transcribeCut(['--url', `ws://127.0.0.1:${gw.port}/v1/stream`]);
    await expect.poll(async () => (await sessions()).ended, { timeout: 10_000 })
      .toEqual({ ...before.ended, client_end: (before.ended.client_end ?? 0) + 1 });
  }, 120_000);

  it('transcribe in-process: the same', async () => {
    await transcribeCut([]);
  }, 120_000);

  it('eval --url exits 1 naming the manifest line, its session abandoned at once', async () => {
    const f = speechFixtures()[0]!;
    await cutWhileSent((_, dir) => {
      const manifest = path.join(dir, 'MANIFEST.tsv');
      writeFileSync(manifest, `long\tlong.wav\tnot scored\n${f.set}\t${f.file}\t${f.reference}\n`);
      return ['eval', manifest, '--concurrency', '1', '--url', `ws://127.0.0.1:${gw.port}/v1/stream`];
    }, /^voxgate: GW_ERR_BAD_MESSAGE: .*MANIFEST\.tsv:1: cannot read .*long\.wav: the file got shorter/);
  }, 120_000);
});
