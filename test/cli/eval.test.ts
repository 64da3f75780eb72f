/**
 * `voxgate eval` manifests and runs: what is wrong with a manifest or an output path is reported before any file is
 * transcribed, naming the line or the flag, and one failing file stops the whole run (the binary via tsx, against a
 * real server on port 0).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/cli/eval-command.js';
import { encodeWav } from '../../src/cli/wav.js';
import { CLI, longestFixture, repeatPcm, ROOT, speechFixtures, startRealGateway } from '../integration/helpers.js';

/** Nothing listens on port 1: a run that got as far as connecting fails with "connect failed" instead. */
const REFUSING_URL = 'ws://127.0.0.1:1/v1/stream';

function voxgate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [...CLI, ...args], { cwd: ROOT, timeout: 60_000 })
    .then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
}

/** A manifest of `lines` in a fresh directory (paths in it relative to that directory). */
function manifestOf(lines: string[]): { dir: string; manifest: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-eval-'));
  const manifest = path.join(dir, 'MANIFEST.tsv');
  writeFileSync(manifest, lines.map((l) => `${l}\n`).join(''));
  return { dir, manifest };
}

const fixtureLine = (i = 0): string => {
  const f = speechFixtures()[i % speechFixtures().length]!;
  return `${f.set}\t${f.file}\t${f.reference}`;
};

describe('eval manifest', () => {
  it('a UTF-8 byte order mark (Windows editors write one) is not part of the first line', () => {
    expect(parseManifest('\uFEFF# set\tpath\treference\r\nset1\ta.wav\thi\r\n', '/m/M.tsv'))
      .toEqual([{ set: 'set1', path: 'a.wav', file: '/m/a.wav', reference: 'hi', at: '/m/M.tsv:2' }]);
    expect(parseManifest('\uFEFFset1\ta.wav\thi\n', '/m/M.tsv')[0]!.set).toBe('set1');
  });

  it('lines may end in CR alone (tab-delimited text saved by Excel for Mac): not glued into one entry', () => {
    // before: the whole file was one line: after a comment "no entries"; else one entry, set1's reference
    // "hi set2 b.wav yo", and a WER of 1 file against 4 reference words without a word of warning
    expect(parseManifest('set1\ta.wav\thi\rset2\tb.wav\tyo\r', '/m/M.tsv')).toHaveLength(2);
    expect(parseManifest('# head\rset1\ta.wav\thi\rset2\tb.wav\tyo\r', '/m/M.tsv')).toEqual([
      { set: 'set1', path: 'a.wav', file: '/m/a.wav', reference: 'hi', at: '/m/M.tsv:2' },
      { set: 'set2', path: 'b.wav', file: '/m/b.wav', reference: 'yo', at: '/m/M.tsv:3' }]);
  });

  it('a line whose first non-blank character is # is a comment, indented or not', () => {
    expect(parseManifest('# head\n   # indented note\n\t# after a tab\nset1\ta.wav\thi\n  \n', '/m/M.tsv'))
      .toEqual([{ set: 'set1', path: 'a.wav', file: '/m/a.wav', reference: 'hi', at: '/m/M.tsv:4' }]);
  });

  it('a manifest without entries is an error, not a 0% WER', async () => {
    const { manifest } = manifestOf(['# nothing yet', '']);
    expect(await voxgate(['eval', manifest, '--url', REFUSING_URL])).toMatchObject({ code: 1, stdout: '',
      stderr: `voxgate: GW_ERR_BAD_CONFIG: ${manifest}: no entries\n` });
  }, 60_000);

  it('a file that cannot be read is reported with its manifest line before anything is transcribed', async () => {
    const { manifest } = manifestOf([fixtureLine(0), '# a comment', 'set1\tno such.wav\thello', fixtureLine(1)]);
    expect(await voxgate(['eval', manifest, '--url', REFUSING_URL])).toMatchObject({ code: 1, stdout: '',
      stderr: expect.stringMatching(new RegExp(`^voxgate: GW_ERR_BAD_CONFIG: ${manifest}:3: cannot read "no such\\.wav": `
        + 'ENOENT.*\n$')) });
  }, 60_000);

  it('a WAV that cannot be transcribed is refused with its manifest line and why, before anything is transcribed',
    async () => {
      const { dir, manifest } = manifestOf([...[0, 1, 2, 3, 4].map(fixtureLine), 'set1\tdeep.wav\thello', fixtureLine(0)]);
      // 24-bit PCM: readable, but the protocol carries no 24-bit samples; the header says so in its first 36 bytes
      const deep = encodeWav(new Float32Array(300), 16000);
      new DataView(deep.buffer).setUint16(34, 24, true);
      writeFileSync(path.join(dir, 'deep.wav'), deep);
      // before, the pre-check only opened the files, and the run failed on line 1 ("connect failed") instead
      const args = ['eval', manifest, '--url', REFUSING_URL, '--concurrency', '1'];
      expect(await voxgate(args)).toMatchObject({ code: 1, stdout: '',
        stderr: `voxgate: GW_ERR_BAD_MESSAGE: ${manifest}:6: "deep.wav": only 16-bit PCM, 32-bit float or 8-bit G.711 `
          + 'is supported, got 24-bit integer PCM (format 1 with 24 bits); convert it, e.g. '
          + '`ffmpeg -i IN -c:a pcm_s16le OUT.wav`\n' });
      writeFileSync(path.join(dir, 'deep.wav'), 'RIFF');
      expect(await voxgate(args)).toMatchObject({ code: 1,
        stderr: `voxgate: GW_ERR_BAD_MESSAGE: ${manifest}:6: "deep.wav": not a RIFF/WAVE file\n` });
    }, 60_000);

  it('--out and --json that cannot be written are refused before anything is transcribed, naming the flag', async () => {
    const { dir, manifest } = manifestOf([fixtureLine(0)]);
    const missingDir = path.join(dir, 'no-such-dir', 'out.tsv');
    for (const flag of ['--out', '--json']) {
      expect(await voxgate(['eval', manifest, '--url', REFUSING_URL, flag, missingDir]), flag).toMatchObject({ code: 1,
        stderr: expect.stringMatching(new RegExp(`^voxgate: GW_ERR_BAD_CONFIG: ${flag} ${JSON.stringify(missingDir)} `
          + 'cannot be written: ENOENT')) });
    }
    expect(readdirSync(dir)).toEqual(['MANIFEST.tsv']);
  }, 60_000);
});

describe('eval against a real server', () => {
  it('a file that fails stops the run: no further file is transcribed, the error names its line, --out is untouched',
    async () => {
      const bad = 'not-a-wav.wav';
      const lines = [`set1\t${bad}\tnothing`, ...Array.from({ length: 8 }, (_, i) => fixtureLine(i))];
      const { dir, manifest } = manifestOf(lines);
      writeFileSync(path.join(dir, bad), 'this is not a RIFF file');
      const hyps = path.join(dir, 'hyps.tsv');
      writeFileSync(hyps, 'an earlier run\n');
      const gw = await startRealGateway('ws');
      try {
        const url = `ws://127.0.0.1:${gw.port}/v1/stream`;
        const failed = await voxgate(['eval', manifest, '--url', url, '--concurrency', '2', '--out', hyps]);
        expect(failed).toMatchObject({ code: 1, stdout: '',
          stderr: expect.stringMatching(new RegExp(`^voxgate: GW_ERR_BAD_MESSAGE: ${manifest}:1: .*not a RIFF/WAVE file\n$`)) });
        // The other worker's session at most (abandoned): before, the run went on through all 8 other files.
        const metrics = await (await fetch(`http://127.0.0.1:${gw.port}/metrics`)).text();
        const sessions = [...metrics.matchAll(/^voxgate_sessions_total\{[^}]*\} (\d+)$/gm)]
          .reduce((n, m) => n + Number(m[1]), 0);
        expect(sessions).toBeLessThanOrEqual(1);
        expect(readFileSync(hyps, 'utf8')).toBe('an earlier run\n');
        expect(readdirSync(dir).sort()).toEqual(['MANIFEST.tsv', 'hyps.tsv', bad].sort());

        writeFileSync(manifest, `${lines.slice(1, 3).join('\n')}\n`);
        const ok = await voxgate(['eval', manifest, '--url', url, '--out', hyps]);
        expect(ok).toMatchObject({ code: 0, stdout: expect.stringMatching(/^overall\s+2\s/m) });
        expect(readFileSync(hyps, 'utf8').split('\n')).toHaveLength(3);
        expect(readdirSync(dir).sort()).toEqual(['MANIFEST.tsv', 'hyps.tsv', bad].sort()); // no temporary file left
      } finally {
        await gw.close();
      }
    }, 120_000);

  it('a session the server refuses stops the run and abandons the other worker\'s open session', async () => {
    const { wav } = longestFixture();
    const pcm = repeatPcm(wav, 30_000);
    const samples = Float32Array.from({ length: pcm.byteLength / 2 },
      (_, i) => new DataView(pcm.buffer, pcm.byteOffset).getInt16(2 * i, true) / 32768);
    const { dir, manifest } = manifestOf([]);
    writeFileSync(path.join(dir, 'long.wav'), encodeWav(samples, wav.sampleRateHz));
    // A server for one session at a time: whichever worker connects second is refused while the first streams 30 s.
    writeFileSync(manifest, ['long\tlong.wav\tx', 'long\tlong.wav\tx', ...Array.from({ length: 6 }, (_, i) => fixtureLine(i))]
      .map((l) => `${l}\n`).join(''));
    const gw = await startRealGateway('ws', { maxSessions: 1 });
    try {
      const url = `ws://127.0.0.1:${gw.port}/v1/stream`;
      const failed = await voxgate(['eval', manifest, '--url', url, '--concurrency', '2']);
      expect(failed).toMatchObject({ code: 1, stdout: '',
        stderr: expect.stringMatching(new RegExp(`^voxgate: GW_ERR_TOO_MANY_SESSIONS: ${manifest}:[12]: `)) });
      const metrics = await (await fetch(`http://127.0.0.1:${gw.port}/metrics`)).text();
      const counts = [...metrics.matchAll(/^voxgate_sessions_total\{reason="([^"]*)"\} (\d+)$/gm)]
        .map((m) => [m[1]!, Number(m[2])] as const);
      // Before, the first worker went on through the rest of the manifest after the refusal (client_end sessions).
      expect(counts.filter(([reason]) => reason === 'client_end')).toEqual([]);
      expect(counts.reduce((n, [, c]) => n + c, 0)).toBeLessThanOrEqual(1);
    } finally {
      await gw.close();
    }
  }, 120_000);
});
