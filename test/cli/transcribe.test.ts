/**
 * `voxgate transcribe` output, the binary via tsx: in-process and against a real server on port 0.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { ROOT, speechFixtures, startRealGateway } from '../integration/helpers.js';

const CLI = ['--import', pathToFileURL(createRequire(path.join(ROOT, 'package.json')).resolve('tsx')).href,
  path.join(ROOT, 'src', 'cli', 'main.ts')];

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
});
