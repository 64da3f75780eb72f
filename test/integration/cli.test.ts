/**
 * The `voxgate` CLI: WAV reading, WER, in-process eval over the real model, and the real binary (via tsx) against a
 * real server.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { evaluate, formatWerTable, parseManifest } from '../../src/cli/eval-command.js';
import { encodeWav, parseWav, wavChunks } from '../../src/cli/wav.js';
import { normaliseTranscript, wer, WerAccumulator, wordEdits } from '../../src/cli/wer.js';
import { loadSpeechEngine } from '../../src/server/speech-engine.js';
import { corpusWer, MAX_WER, MODEL_DIR, ROOT, speechFixtures, startRealGateway } from './helpers.js';

const run = promisify(execFile);
// tsx's loader by absolute URL, so the CLI can run from any working directory (as `npm start` must).
const CLI = ['--import', pathToFileURL(createRequire(path.join(ROOT, 'package.json')).resolve('tsx')).href,
  path.join(ROOT, 'src', 'cli', 'main.ts')];

describe('wav reader', () => {
  it('reads 16-bit PCM and 32-bit float, mono and stereo, any rate in 8000-48000, and chunks in 50 ms frames', () => {
    const samples = Float32Array.from({ length: 4410 * 2 }, (_, i) => Math.sin(i / 10) * 0.5);
    const s16 = parseWav(encodeWav(samples, 44100, 2, 'pcm_s16le'));
    expect(s16).toMatchObject({ encoding: 'pcm_s16le', sampleRateHz: 44100, channels: 2, frameBytes: 4 });
    expect(s16.durationMs).toBeCloseTo(100, 6);
    const f32 = parseWav(encodeWav(samples.subarray(0, 800), 8000, 1, 'pcm_f32le'));
    expect(f32).toMatchObject({ encoding: 'pcm_f32le', sampleRateHz: 8000, channels: 1, frameBytes: 4, durationMs: 100 });
    expect(new DataView(f32.data.buffer, f32.data.byteOffset).getFloat32(4, true)).toBeCloseTo(samples[1]!, 6);
    const chunks = [...wavChunks(s16, 50)];
    expect(chunks.map((c) => c.byteLength)).toEqual([2205 * 4, 2205 * 4]);
  });

  it('rejects what the protocol cannot carry, naming the value', () => {
    expect(() => parseWav(encodeWav(new Float32Array(10), 96000))).toThrow(/96000/);
    const eightBit = encodeWav(new Float32Array(10), 16000);
    new DataView(eightBit.buffer).setUint16(34, 8, true);
    expect(() => parseWav(eightBit)).toThrow(/8 bits/);
    expect(() => parseWav(new TextEncoder().encode('not a wav file at all'))).toThrow(/RIFF/);
  });
});

describe('wer', () => {
  it('counts word substitutions, deletions and insertions after normalisation', () => {
    expect(normaliseTranscript("Hello, World!  It's 'ok'")).toEqual(['hello', 'world', "it's", 'ok']);
    expect(wordEdits(['a', 'b', 'c', 'd'], ['a', 'x', 'c'])).toEqual({ substitutions: 1, deletions: 1, insertions: 0,
      errors: 2, referenceWords: 4 });
    expect(wordEdits(['a'], ['b', 'a', 'c'])).toMatchObject({ insertions: 2, errors: 2 });
    expect(wer('turn on the lights', 'Turn on the light.')).toBe(0.25);
    expect(wer('', '')).toBe(0);
    const acc = new WerAccumulator();
    acc.add('a b', 'a b');
    acc.add('c d e f', '');
    expect(acc.wer).toBeCloseTo(4 / 6);
  });
});

describe('voxgate eval / transcribe with the real model', () => {
  it(`eval in-process: every fixture through the full pipeline on one shared pool, corpus WER <= ${MAX_WER}`, async () => {
    const fixtures = speechFixtures();
    const engine = await loadSpeechEngine({ modelDir: MODEL_DIR, precision: 'auto' });
    try {
      const result = await evaluate(fixtures, { services: engine }, { concurrency: 2, extras: {} });
      expect(result.hypotheses.map((h) => h.path)).toEqual(fixtures.map((f) => f.path));
      expect(result.overall.files).toBe(fixtures.length);
      expect(result.overall.wer).toBeLessThanOrEqual(MAX_WER);
      expect(result.overall.wer).toBeCloseTo(corpusWer(fixtures.map((f, i) =>
        ({ reference: f.reference, hypothesis: result.hypotheses[i]!.hypothesis }))).wer, 9);
      const table = formatWerTable(result);
      expect(table).toMatch(/^set\s+files\s+words\s+WER$/m);
      expect(table).toMatch(/^overall\s+\d+\s+\d+\s+[\d.]+%$/m);
    } finally {
      await engine.close();
    }
  }, 60_000);

  it('parses manifests relative to their directory', () => {
    const entries = parseManifest('# comment\nset1\tsub/a.wav\thello world\n\n', '/data/m/MANIFEST.tsv');
    expect(entries).toEqual([{ set: 'set1', path: 'sub/a.wav', file: '/data/m/sub/a.wav', reference: 'hello world' }]);
    expect(() => parseManifest('only-one-column\n', 'M.tsv')).toThrow(/M.tsv:1/);
  });

  it('the binary: --help, transcribe --url against a real server, eval --url --out', async () => {
    const help = await run(process.execPath, [...CLI, 'transcribe', '--help'], { cwd: ROOT });
    expect(help.stdout).toContain('Usage: voxgate transcribe FILE.wav');
    const serveHelp = await run(process.execPath, [...CLI, 'serve', '--help'], { cwd: tmpdir() });
    expect(serveHelp.stdout).toContain('--max-sessions');
    const bad = await run(process.execPath, [...CLI, 'frobnicate'], { cwd: ROOT }).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 2 });

    const gw = await startRealGateway('ws');
    try {
      const url = `ws://127.0.0.1:${gw.port}/v1/stream`;
      const fixture = speechFixtures()[0]!;
      const out = await run(process.execPath, [...CLI, 'transcribe', fixture.file, '--url', url, '--latency', 'low'],
        { cwd: tmpdir() });
      const lines = out.stdout.trim().split('\n');
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines[lines.length - 1]).toMatch(/^\[\d+\.\d\d-\d+\.\d\d\] /); // a final line
      for (const l of lines) expect(l).toMatch(/^(partial \d+: |\[\d+\.\d\d-\d+\.\d\d\] )/);

      const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-eval-'));
      const manifest = path.join(dir, 'MANIFEST.tsv');
      writeFileSync(manifest, `${fixture.set}\t${fixture.file}\t${fixture.reference}\n`);
      const hyps = path.join(dir, 'hyps.tsv');
      const report = path.join(dir, 'wer.json');
      const ev = await run(process.execPath, [...CLI, 'eval', manifest, '--url', url, '--out', hyps, '--json', report],
        { cwd: tmpdir() });
      expect(ev.stdout).toMatch(/^overall\s+1\s+\d+\s+[\d.]+%$/m);
      const words = fixture.reference.split(' ').length;
      expect(JSON.parse(readFileSync(report, 'utf8'))).toMatchObject({
        sets: { [fixture.set]: { files: 1, words } }, overall: { files: 1, words } });
      expect(readFileSync(hyps, 'utf8')).toMatch(new RegExp(`^${fixture.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\t.*\n$`));
    } finally {
      await gw.close();
    }
  }, 60_000);
});
