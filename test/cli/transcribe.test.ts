/**
 * `voxgate transcribe` output, the real binary (nodeArgsFor): in-process and against a real server on port 0.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/cli/wav.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { CLI, longestFixture, speechFixtures, startRealGateway } from '../integration/helpers.js';


async function jsonLines(args: string[]): Promise<ServerMessage[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [...CLI, 'transcribe', ...args, '--json'],
    { cwd: tmpdir(), timeout: 60_000 });
  return stdout.trim().split('\n').map((l) => JSON.parse(l) as ServerMessage);
}

describe('voxgate transcribe --json', () => {
  it('prints every server message, session.started first, in-process and with --url', async () => {
    const file = speechFixtures()[0]!.file;
    const local = await jsonLines([file, '--latency', 'low']);
    expect(local[0]).toMatchObject({ type: 'session.started', latency: 'low',
      audio: { encoding: 'pcm_s16le', sample_rate_hz: 16000, channels: 1 } });
    expect(local.filter((m) => m.type === 'session.started')).toHaveLength(1);
    expect(local[local.length - 1]).toMatchObject({ type: 'session.ended', reason: 'client_end',
      session_id: (local[0] as { session_id: string }).session_id });
    const gw = await startRealGateway('ws');
    try {
      const remote = await jsonLines([file, '--url', `ws://127.0.0.1:${gw.port}/v1/stream`]);
      expect(remote[0]).toMatchObject({ type: 'session.started', latency: 'balanced' });
      expect(remote[remote.length - 1]).toMatchObject({ type: 'session.ended', reason: 'client_end',
        session_id: (remote[0] as { session_id: string }).session_id });
    } finally {
      await gw.close();
    }
  }, 120_000);

  it('streams a file past 2 GiB (hours of audio) from the disk: Node reads no file that large at once', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'voxgate-large-'));
    const file = path.join(dir, 'large.wav');
    const dataBytes = 2.5 * 2 ** 30; // 22 hours at 16 kHz: speech, then silence (a sparse file)
    const { wav } = longestFixture();
    const fh = await open(file, 'w');
    try {
      await fh.write(new Uint8Array(encodeWav(new Float32Array(0), 16000).subarray(0, 44)), 0, 44, 0);
      await fh.write(wav.data, 0, wav.data.byteLength, 44);
      await fh.write(Uint8Array.from([0, 0]), 0, 2, 44 + dataBytes - 2);
      const v = new DataView(new ArrayBuffer(4));
      v.setUint32(0, 36 + dataBytes, true);
      await fh.write(new Uint8Array(v.buffer), 0, 4, 4);
      v.setUint32(0, dataBytes, true);
      await fh.write(new Uint8Array(v.buffer), 0, 4, 40);
    } finally {
      await fh.close();
    }
    try {
      // before: "cannot read ...: File size (2684354604) is greater than 2 GiB", exit 1, nothing sent
      const child = spawn(process.execPath, [...CLI, 'transcribe', file, '--json'], { cwd: tmpdir() });
      let stdout = '';
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      // a partial: the speech was read from the file and sent (and the signal handlers are in)
      await new Promise<void>((resolve) => child.stdout.setEncoding('utf8').on('data', (c: string) => {
        stdout += c;
        if (stdout.includes('"transcript.partial"')) resolve();
      }).once('end', resolve));
      child.kill('SIGINT');
      expect({ code: await exited, stderr }).toMatchObject({ code: 130, stderr: expect.stringContaining('SIGINT') });
      const msgs = stdout.trim().split('\n').map((l) => JSON.parse(l) as ServerMessage);
      expect(msgs[0]).toMatchObject({ type: 'session.started', audio: { encoding: 'pcm_s16le', sample_rate_hz: 16000 } });
      expect(msgs[msgs.length - 1]).toMatchObject({ type: 'session.ended', reason: 'client_end' });
    } finally {
      await rm(dir, { recursive: true });
    }
  }, 60_000);

  it('a WAV from a pipe (`sox in.flac -t wav - | voxgate transcribe /dev/stdin`) is refused saying so, not with ESPIPE',
    async () => {
      // a shell's pipe: Node's own stdin pipe for a child is a socket (`open` of it fails otherwise, with ENXIO)
      const child = spawn('/bin/sh', ['-c', 'cat "$0" | exec "$@" transcribe /dev/stdin', speechFixtures()[0]!.file,
        process.execPath, ...CLI], { cwd: tmpdir() });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
      const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
      // before: "voxgate: GW_ERR_BAD_MESSAGE: cannot read /dev/stdin: ESPIPE: invalid seek, read"
      expect({ code, stderr }).toEqual({ code: 1, stderr: 'voxgate: GW_ERR_BAD_MESSAGE: /dev/stdin: not a regular '
        + 'file (a pipe?): the audio is read from the disk as it is sent; save it to a file first\n' });
    }, 60_000);
});

describe('voxgate transcribe, text output', () => {
  it('a fatal server error is printed once (the error line), then the command exits 1', async () => {
    // the server's fatal error was printed by the transcript printer as it arrived and again by main.ts's catch
    const gw = await startRealGateway('ws', { maxDurationMs: 1000 });
    try {
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [...CLI, 'transcribe', longestFixture().entry.file, '--realtime',
          '--url', `ws://127.0.0.1:${gw.port}/v1/stream`], { cwd: tmpdir() });
        let err = '';
        child.stderr.setEncoding('utf8').on('data', (c: string) => { err += c; });
        child.once('close', (c) => resolve({ code: c, stderr: err }));
      });
      expect(code).toBe(1);
      expect(stderr.match(/GW_ERR_MAX_DURATION/g)).toEqual(['GW_ERR_MAX_DURATION']);
      expect(stderr).toContain('error GW_ERR_MAX_DURATION (fatal): session reached its maximum duration of 1000 ms\n');
    } finally {
      await gw.close();
    }
  }, 60_000);
});
