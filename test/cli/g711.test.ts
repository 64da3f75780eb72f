/**
 * G.711 WAV files (telephony recordings: 8 kHz mu-law or A-law) through `voxgate transcribe` and `voxgate eval`, the
 * binary via tsx: their bytes go out as they are, session.start `mulaw` / `alaw`, so the server's own G.711 decoder
 * is what hears them, in-process and with --url. The files are the speech fixtures resampled to 8 kHz and encoded
 * here, next to the same 8 kHz signal as 16-bit PCM.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/cli/wav.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { CLI, loadWav, speechFixtures, startRealGateway, toWire } from '../integration/helpers.js';

const run = promisify(execFile);

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
const u16 = (n: number): number[] => [n & 0xff, n >>> 8];

/** A G.711 WAV as `sox IN -r 8000 -e mu-law OUT.wav` writes one: an 18-byte fmt chunk (cbSize 0), fact, data. */
function g711Wav(tag: 6 | 7, data: Uint8Array, channels: 1 | 2): Uint8Array {
  const fmt = [...u16(tag), ...u16(channels), ...u32(8000), ...u32(8000 * channels), ...u16(channels), ...u16(8),
    ...u16(0)];
  const head = [...ascii('WAVE'), ...ascii('fmt '), ...u32(fmt.length), ...fmt, ...ascii('fact'), ...u32(4),
    ...u32(data.length / channels), ...ascii('data'), ...u32(data.length)];
  const pad = data.length % 2;
  return Uint8Array.from([...ascii('RIFF'), ...u32(head.length + data.length + pad), ...head, ...data,
    ...new Array<number>(pad).fill(0)]);
}

/** Each byte twice: the same signal in both channels of a stereo file. */
const stereo = (mono: Uint8Array): Uint8Array => Uint8Array.from({ length: mono.length * 2 }, (_, i) => mono[i >> 1]!);

const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-g711-'));
const manifest = path.join(dir, 'MANIFEST.tsv');

beforeAll(() => {
  const lines = speechFixtures().flatMap((f, i) => {
    const wav = loadWav(f);
    const pcm8k = toWire(wav, { encoding: 'pcm_s16le', sampleRateHz: 8000, channels: 1 });
    const samples = Float32Array.from({ length: pcm8k.length / 2 },
      (_, j) => new DataView(pcm8k.buffer, pcm8k.byteOffset).getInt16(2 * j, true) / 32768);
    const mulaw = toWire(wav, { encoding: 'mulaw', sampleRateHz: 8000, channels: 1 });
    const alaw = toWire(wav, { encoding: 'alaw', sampleRateHz: 8000, channels: 1 });
    writeFileSync(path.join(dir, `pcm-${i}.wav`), encodeWav(samples, 8000));
    writeFileSync(path.join(dir, `mulaw-${i}.wav`), g711Wav(7, mulaw, 1));
    writeFileSync(path.join(dir, `alaw-${i}.wav`), g711Wav(6, stereo(alaw), 2));
    return ['pcm', 'mulaw', 'alaw'].map((set) => `${set}\t${set}-${i}.wav\t${f.reference}`);
  });
  writeFileSync(manifest, lines.map((l) => `${l}\n`).join(''));
});

async function transcribeJson(args: string[]): Promise<ServerMessage[]> {
  const { stdout } = await run(process.execPath, [...CLI, 'transcribe', ...args, '--json'], { cwd: dir, timeout: 60_000 });
  return stdout.trim().split('\n').map((l) => JSON.parse(l) as ServerMessage);
}

describe('G.711 WAV files', () => {
  it('transcribe sends them as mulaw / alaw, in-process and with --url', async () => {
    const local = await transcribeJson([path.join(dir, 'mulaw-0.wav')]);
    expect(local[0]).toMatchObject({ type: 'session.started',
      audio: { encoding: 'mulaw', sample_rate_hz: 8000, channels: 1 } });
    expect(local[local.length - 1]).toMatchObject({ type: 'session.ended', reason: 'client_end' });
    const gw = await startRealGateway('ws');
    try {
      const remote = await transcribeJson([path.join(dir, 'alaw-0.wav'), '--url', `ws://127.0.0.1:${gw.port}/v1/stream`]);
      expect(remote[0]).toMatchObject({ type: 'session.started',
        audio: { encoding: 'alaw', sample_rate_hz: 8000, channels: 2 } });
      expect(remote[remote.length - 1]).toMatchObject({ type: 'session.ended', reason: 'client_end' });
      // every byte after the 58-byte header, in 50 ms frames: 400 bytes per channel at 8 kHz
      const bytes = readFileSync(path.join(dir, 'alaw-0.wav')).length - 58;
      expect(remote[remote.length - 1]).toMatchObject({ stats: { bytes_received: bytes,
        frames_received: Math.ceil(bytes / 800) } });
    } finally {
      await gw.close();
    }
  }, 120_000);

  it('eval transcribes them in-process as well as the same 8 kHz signal in 16-bit PCM', async () => {
    const report = path.join(dir, 'report.json');
    await run(process.execPath, [...CLI, 'eval', manifest, '--json', report], { cwd: dir, timeout: 120_000 });
    const { sets } = JSON.parse(readFileSync(report, 'utf8')) as
      { sets: Record<string, { files: number; words: number; errors: number }> };
    expect(Object.keys(sets).sort()).toEqual(['alaw', 'mulaw', 'pcm']);
    // G.711 costs the model little: at most 2 more words wrong than 16-bit PCM of the same 8 kHz signal (the shipped
    // model, of the fixtures' 16 words: 7 and 7 against 8). 8 kHz itself costs more than MAX_WER (16 kHz) allows.
    for (const set of ['mulaw', 'alaw']) {
      expect(sets[set], set).toMatchObject({ files: speechFixtures().length, words: sets.pcm!.words });
      expect(sets[set]!.errors, set).toBeLessThanOrEqual(sets.pcm!.errors + 2);
    }
  }, 120_000);
});
