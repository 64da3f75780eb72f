/**
 * The `voxgate` CLI: WAV reading, WER, in-process eval over the real model, and the real binary (nodeArgsFor) against a
 * real server.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { rng } from '../../bench/bench-random.js';
import { alternativesFlag, inProcessConfig, startExtras } from '../../src/cli/transcribe-command.js';
import { evaluate, parseManifest, runEval } from '../../src/cli/eval-command.js';
import { formatWerTable, oracleHypothesis, werReport } from '../../src/cli/eval-report.js';
import type { ServerMessage, TranscriptFinalMessage } from '../../src/protocol/messages.js';
import { encodeWav, parseWav, wavChunks } from '../../src/cli/wav.js';
import { GatewayError } from '../../src/protocol/errors.js';
import { normaliseTranscript, wer, WerAccumulator, wordEdits } from '../../src/cli/wer.js';
import { loadSpeechEngine } from '../../src/server/speech-engine.js';
import { pick } from '../protocol/fuzz-frames.js';
import {
  CLI, corpusWer, gatewayLogs, longestFixture, MAX_WER, MODEL_DIR, repeatPcm, ROOT, speechFixtures, startRealGateway,
} from './helpers.js';

const run = promisify(execFile);

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

  it('on 5,000 corrupted files returns consistent audio or throws GW_ERR_BAD_MESSAGE, nothing else', () => {
    const r = rng(5);
    const base = encodeWav(Float32Array.from({ length: 400 }, (_, i) => Math.sin(i / 7) * 0.3), 16000, 2);
    const float32 = encodeWav(new Float32Array(64), 8000, 1, 'pcm_f32le');
    for (let i = 0; i < 5000; i++) {
      const src = r() < 0.8 ? base : float32;
      let bytes = Uint8Array.from(src);
      const v = new DataView(bytes.buffer);
      for (let k = Math.floor(r() * 4); k >= 0; k--) {
        const op = r();
        if (op < 0.3) bytes[Math.floor(r() * 44)] = Math.floor(r() * 256); // header byte
        else if (op < 0.5) v.setUint32(pick(r, [4, 16, 40]), pick(r, [0, 1, 15, 16, 39, 40, 0xffffffff, Math.floor(r() * 2 ** 32)]), true);
        else if (op < 0.65) v.setUint16(20, pick(r, [1, 3, 0xfffe, 0, 2]), true); // format tag
        else if (op < 0.8) bytes = bytes.subarray(0, Math.floor(r() * bytes.length)); // truncated
        else bytes = Uint8Array.from([...bytes.subarray(0, 36), ...bytes.subarray(36 + Math.floor(r() * 8))]); // bytes lost
      }
      let audio: ReturnType<typeof parseWav>;
      try {
        audio = parseWav(bytes, `case ${i}`);
      } catch (e) {
        expect(e, `case ${i}`).toBeInstanceOf(GatewayError);
        expect((e as GatewayError).code).toBe('GW_ERR_BAD_MESSAGE');
        continue;
      }
      expect(audio.data.byteLength % audio.frameBytes, `case ${i}`).toBe(0);
      expect(audio.data.byteOffset + audio.data.byteLength).toBeLessThanOrEqual(bytes.byteOffset + bytes.byteLength);
      expect(audio.frameBytes).toBe((audio.encoding === 'pcm_s16le' ? 2 : 4) * audio.channels);
      expect([...wavChunks(audio, 50)].reduce((a, c) => a + c.byteLength, 0)).toBe(audio.data.byteLength);
    }
  });
});

describe('session flags', () => {
  it('takes the presets and ranges the protocol takes, and refuses anything else with GW_ERR_BAD_CONFIG quoting it', () => {
    expect(startExtras({ latency: 'low', denoise: 'spectral', 'min-confidence': '0.2' }))
      .toEqual({ latency: 'low', denoise: 'spectral', min_confidence: 0.2 });
    const bad = [{ latency: 'toString' }, { latency: 'fast' }, { denoise: 'constructor' }, { 'min-confidence': '' },
      { 'min-confidence': '2' }, { 'background-rejection-db': 'NaN' }];
    for (const flags of bad) {
      const value = Object.values(flags)[0]!;
      expect(() => startExtras(flags), value).toThrow(expect.objectContaining({ code: 'GW_ERR_BAD_CONFIG',
        message: expect.stringContaining(`"${value}"`) }));
    }
  });

  it('numbers are plain decimals, as `serve` takes them: hex, exponents, signs and blanks are refused naming the flag',
    async () => {
      expect(startExtras({ 'min-confidence': '.5', 'background-rejection-db': '12' }))
        .toEqual({ min_confidence: 0.5, background_rejection_db: 12 });
      expect(alternativesFlag('3')).toEqual({ alternatives: 3 });
      // Each value is in its flag's range: only its spelling is wrong (Number() reads every one of them).
      const cases: [string, string[], (value: string) => Promise<unknown>][] = [
        ['min-confidence', ['0x0', '1e-1', ' 0.5', '0.5 ', '+0.5'], async (v) => startExtras({ 'min-confidence': v })],
        ['background-rejection-db', ['0x10', '1e1', ' 5', '5 ', '+5'],
          async (v) => startExtras({ 'background-rejection-db': v })],
        ['alternatives', ['0x2', '1e0', ' 5', '5 ', '2.0'], async (v) => alternativesFlag(v)],
        ['concurrency', ['0x10', '1e1', ' 5', '5 ', '4.0'], (v) => runEval('never-read.tsv', { concurrency: v })],
      ];
      for (const [flag, values, parse] of cases) {
        for (const value of values) {
          const message = new RegExp(`^--${flag} must be .*, got "${value.replace('+', '\\+')}"$`);
          await expect(parse(value), `--${flag} ${JSON.stringify(value)}`).rejects
            .toMatchObject({ code: 'GW_ERR_BAD_CONFIG', message: expect.stringMatching(message) });
        }
      }
    });
});

describe('bad values on the command line', () => {
  const fails = (args: string[]) => run(process.execPath, [...CLI, ...args], { cwd: ROOT, timeout: 30_000 })
    .then(() => { throw new Error(`voxgate ${args.join(' ')} succeeded`); }, (e: { code: number; stderr: string }) => e);

  it('a --url that is not a WebSocket URL is a configuration error quoting it, before any file is read', async () => {
    const wav = speechFixtures()[0]!.file;
    expect(await fails(['transcribe', wav, '--url', 'notaurl'])).toMatchObject({ code: 1,
      stderr: 'voxgate: GW_ERR_BAD_CONFIG: --url must be a ws:// or wss:// URL, got "notaurl"\n' });
    expect(await fails(['transcribe', 'no-such.wav', '--url', 'ftp://localhost/v1/stream'])).toMatchObject({ code: 1,
      stderr: expect.stringContaining('--url must be a ws:// or wss:// URL, got "ftp://localhost/v1/stream"') });
    expect(await fails(['eval', 'no-such.tsv', '--url', 'localhost:8080'])).toMatchObject({ code: 1,
      stderr: expect.stringContaining('--url must be a ws:// or wss:// URL, got "localhost:8080"') });
  }, 60_000);

  it('a number flag in another syntax is a configuration error naming the flag and quoting the value', async () => {
    expect(await fails(['eval', 'no-such.tsv', '--concurrency', '0x10'])).toMatchObject({ code: 1,
      stderr: 'voxgate: GW_ERR_BAD_CONFIG: --concurrency must be an integer in [1, 256], got "0x10"\n' });
  }, 30_000);

  it('a manifest that cannot be read is a configuration error naming it, not an internal one', async () => {
    expect(await fails(['eval', 'no-such.tsv', '--url', 'ws://127.0.0.1:1/v1/stream'])).toMatchObject({ code: 1,
      stderr: expect.stringMatching(/^voxgate: GW_ERR_BAD_CONFIG: cannot read manifest "no-such\.tsv": ENOENT/) });
  }, 30_000);

  it('a server that cannot be reached is GW_ERR_UNREACHABLE naming the URL, not an internal error', async () => {
    const url = 'ws://127.0.0.1:1/v1/stream'; // nothing listens on port 1
    expect(await fails(['transcribe', speechFixtures()[0]!.file, '--url', url])).toMatchObject({ code: 1, stderr:
      expect.stringMatching(/^voxgate: GW_ERR_UNREACHABLE: cannot connect to ws:\/\/127\.0\.0\.1:1\/v1\/stream: .*ECONNREFUSED/) });
  }, 30_000);
});

describe('in-process engine settings', () => {
  it('take the engine\'s settings from the environment, flags first, and ignore the listening ones', () => {
    const env = { PORT: '70000', VOXGATE_MAX_SESSIONS_PER_KEY: '3', VOXGATE_BEAM_SIZE: '4', VOXGATE_LM_WEIGHT: '0.5',
      VOXGATE_PRECISION: 'fp32' };
    const config = inProcessConfig({ precision: 'int8' }, env);
    expect(config).toMatchObject({ beamSize: 4, lmWeight: 0.5, precision: 'int8' });
    expect(() => inProcessConfig({}, { VOXGATE_BEAM_SIZE: '0' })).toThrow(/beamSize must be/); // still checked
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

  it('oracle hypothesis: each final takes the reading that fits the reference best, in order', () => {
    const final = (...texts: string[]) => ({ text: texts[0]!,
      alternatives: texts.map((text) => ({ text, confidence: 0.1 })) }) as TranscriptFinalMessage;
    expect(oracleHypothesis('call me at nine', [final('cold me', 'call me', 'call', 'all me'), final('at nine', 'add nine')]))
      .toBe('call me at nine');
    expect(oracleHypothesis('b c', [final('a'), final('b c', 'b'), final('', 'c')])).toBe('a b c'); // 'a': one reading
    expect(oracleHypothesis('yes', [{ text: 'yeah' } as TranscriptFinalMessage])).toBe('yeah'); // no list: the text
    expect(oracleHypothesis('anything', [])).toBe('');
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
      // n-best lists change no transcript, and their oracle can only be as good or better
      const nBest = await evaluate(fixtures, { services: engine }, { concurrency: 2, extras: {}, alternatives: 4 });
      expect(nBest.hypotheses).toEqual(result.hypotheses);
      expect(nBest.oracleOverall!.wer).toBeLessThanOrEqual(nBest.overall.wer);
      expect(formatWerTable(nBest)).toMatch(/^overall\s+\d+\s+\d+\s+[\d.]+%\s+[\d.]+%$/m);
      expect(werReport(nBest).overall).toMatchObject({ wer: result.overall.wer, oracle_wer: nBest.oracleOverall!.wer });
    } finally {
      await engine.close();
    }
  }, 60_000);

  it('parses manifests relative to their directory', () => {
    const entries = parseManifest('# comment\nset1\tsub/a.wav\thello world\n\n', '/data/m/MANIFEST.tsv');
    expect(entries).toEqual([{ set: 'set1', path: 'sub/a.wav', file: '/data/m/sub/a.wav', reference: 'hello world',
      at: '/data/m/MANIFEST.tsv:2' }]);
    expect(() => parseManifest('only-one-column\n', 'M.tsv')).toThrow(/M.tsv:1/);
  });

  it('the binary in-process: --multichannel on a stereo file prints each channel; a refused start exits 1', async () => {
    const mono = parseWav(readFileSync(speechFixtures()[0]!.file));
    const dv = new DataView(mono.data.buffer, mono.data.byteOffset, mono.data.byteLength);
    const n = mono.data.byteLength / 2;
    const interleaved = new Float32Array(2 * n); // the fixture on the right channel, silence on the left
    for (let i = 0; i < n; i++) interleaved[2 * i + 1] = dv.getInt16(2 * i, true) / 32768;
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'voxgate-stereo-')), 'call.wav');
    writeFileSync(file, encodeWav(interleaved, mono.sampleRateHz, 2));
    const out = await run(process.execPath, [...CLI, 'transcribe', file, '--multichannel'], { cwd: ROOT, timeout: 60_000 });
    const finals = out.stdout.trim().split('\n').filter((l) => l.startsWith('['));
    expect(finals.length).toBeGreaterThanOrEqual(1);
    for (const l of finals) expect(l).toMatch(/^\[ch1 \d+\.\d\d-\d+\.\d\d\] /);
    // a mono file is refused before the model loads (test/cli/source-failure.test.ts has a failing in-process run
    // whose worker threads must not keep it alive)
    const refused = await run(process.execPath, [...CLI, 'transcribe', speechFixtures()[0]!.file, '--multichannel'],
      { cwd: ROOT, timeout: 60_000 }).catch((e: { code: number; stderr: string }) => e);
    expect(refused).toMatchObject({ code: 1 });
    expect((refused as { stderr: string }).stderr).toContain('GW_ERR_BAD_CONFIG: --multichannel needs a stereo file');
  }, 120_000);

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
      const out = await run(process.execPath, [...CLI, 'transcribe', fixture.file, '--url', url, '--latency', 'low',
        '--alternatives', '3'], { cwd: tmpdir() });
      const lines = out.stdout.trim().split('\n');
      expect(lines.length).toBeGreaterThanOrEqual(1);
      const finalAt = lines.map((l) => l.startsWith('[')).lastIndexOf(true);
      expect(lines[finalAt]).toMatch(/^\[\d+\.\d\d-\d+\.\d\d\] /); // a final line, then its other readings
      expect(lines.slice(finalAt + 1).map((l) => l.slice(0, 8))).toEqual(['  alt 2 ', '  alt 3 '].slice(0, lines.length - finalAt - 1));
      for (const l of lines) expect(l).toMatch(/^(partial \d+: |\[\d+\.\d\d-\d+\.\d\d\] |  alt [23] \((0|1)\.\d\d\): )/);
      const badFlag = await run(process.execPath, [...CLI, 'transcribe', fixture.file, '--url', url, '--alternatives', '11'],
        { cwd: tmpdir() }).catch((e: { code: number; stderr: string }) => e);
      expect(badFlag).toMatchObject({ code: 1, stderr: expect.stringContaining('--alternatives must be an integer in [1, 10], got "11"') });

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

describe('voxgate transcribe --url of a long file', () => {
  it('without --realtime: 60 s go unpaced, held only by flow control, and all of it is transcribed', async () => {
    const { wav } = longestFixture();
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'voxgate-long-')), 'long.wav');
    const pcm = repeatPcm(wav, 60_000);
    const samples = Float32Array.from({ length: pcm.byteLength / 2 },
      (_, i) => new DataView(pcm.buffer, pcm.byteOffset).getInt16(2 * i, true) / 32768);
    writeFileSync(file, encodeWav(samples, wav.sampleRateHz));
    const gw = await startRealGateway('uws'); // serve's default carrier
    try {
      const url = `ws://127.0.0.1:${gw.port}/v1/stream`;
      const out = await run(process.execPath, [...CLI, 'transcribe', file, '--url', url, '--json'],
        { cwd: tmpdir(), maxBuffer: 64 << 20 });
      const msgs = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as ServerMessage);
      expect(msgs.filter((m) => m.type === 'error')).toEqual([]);
      expect(msgs.some((m) => m.type === 'flow.pause')).toBe(true);
      expect(msgs[msgs.length - 1]).toMatchObject({ type: 'session.ended', reason: 'client_end', audio_ms: 60_000,
        stats: { processed_audio_ms: 60_000, bytes_discarded: 0 } });
    } finally {
      await gw.close();
    }
  }, 120_000);
});

/** `voxgate serve` as a child process on 127.0.0.1:`port`, its JSON log lines as they come. */
function serveProcess(port: number, extra: string[]) {
  const child = spawn(process.execPath, [...CLI, 'serve', '--host', '127.0.0.1', '--port', String(port), ...extra],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  return { child, ...gatewayLogs(child) };
}

/** The HTTP status an upgrade with this key gets: 101 when the socket opens. */
function upgradeStatus(port: number, key: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`, { headers: { authorization: `Bearer ${key}` } });
    ws.on('open', () => { ws.close(); resolve(101); });
    ws.on('unexpected-response', (_req, res) => { res.destroy(); resolve(res.statusCode ?? 0); });
    ws.on('error', reject);
  });
}

describe('voxgate serve: signals while the model loads', () => {
  // Node's default action for SIGTERM / SIGINT / SIGHUP ends the process by that signal; the model takes seconds
  it('SIGHUP during the load re-reads the key file once ready instead of killing the server', async () => {
    const keys = path.join(mkdtempSync(path.join(tmpdir(), 'voxgate-keys-')), 'keys.txt');
    writeFileSync(keys, 'old-key-1\n');
    const gw = serveProcess(18160, ['--api-keys', keys]);
    try {
      await gw.until('listening');
      expect(gw.msgs()).not.toContain('model loaded, ready');
      writeFileSync(keys, 'new-key-2\n'); // rotated while the model loads
      gw.child.kill('SIGHUP');
      await gw.until('API keys reloaded');
      expect(gw.isDone()).toBe(false);
      expect(await upgradeStatus(18160, 'new-key-2')).toBe(101);
      expect(await upgradeStatus(18160, 'old-key-1')).toBe(401);
      gw.child.kill('SIGTERM');
      expect(await gw.exited).toEqual({ code: 0, signal: null });
    } finally {
      gw.child.kill('SIGKILL');
    }
  }, 60_000);

  it('SIGTERM during the load exits 0 at once (no session can be open yet), logging the signal', async () => {
    const gw = serveProcess(18161, []);
    try {
      await gw.until('listening');
      gw.child.kill('SIGTERM');
      expect(await gw.exited).toEqual({ code: 0, signal: null });
      expect(gw.msgs()).toContain('signal received');
      expect(gw.msgs()).not.toContain('model loaded, ready');
    } finally {
      gw.child.kill('SIGKILL');
    }
  }, 60_000);
});
