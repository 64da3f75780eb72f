/**
 * The load benchmark's audio: real speech clips listed in a MANIFEST.tsv (`set<TAB>file<TAB>reference`), decoded
 * from 16-bit PCM WAV, resampled to 16 kHz mono if needed, and concatenated with silence between clips into one
 * pcm_s16le loop that every session streams from its own offset.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resampler } from '../src/dsp/resampler.js';
import { concat } from './bench-random.js';

export const CORPUS_RATE_HZ = 16000;

export interface SpeechCorpus {
  /** 16 kHz mono samples, clips separated by silence; read it as a loop. */
  samples: Int16Array;
  clips: number;
  /** Where the clips came from. */
  dir: string;
}

export interface SpeechCorpusOptions {
  /** Folders to try in order; the first with a MANIFEST.tsv wins. */
  dirs: readonly string[];
  /** Silence inserted after each clip, ms. Default 1000. */
  gapMs?: number;
  /** Stop adding clips past this much audio, seconds. Default 300. */
  maxSeconds?: number;
}

interface Wav { rateHz: number; channels: number; samples: Float32Array }

/** Minimal RIFF/WAVE reader: 16-bit PCM only, channels downmixed to mono. */
export function readWav16(bytes: Buffer, name: string): Wav {
  if (bytes.toString('ascii', 0, 4) !== 'RIFF' || bytes.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error(`${name}: not a RIFF/WAVE file`);
  }
  let rateHz = 0, channels = 0, bits = 0, format = 0;
  let at = 12;
  while (at + 8 <= bytes.length) {
    const id = bytes.toString('ascii', at, at + 4);
    const size = bytes.readUInt32LE(at + 4);
    const body = at + 8;
    if (id === 'fmt ') {
      format = bytes.readUInt16LE(body);
      channels = bytes.readUInt16LE(body + 2);
      rateHz = bytes.readUInt32LE(body + 4);
      bits = bytes.readUInt16LE(body + 14);
    } else if (id === 'data') {
      if (format !== 1 || bits !== 16 || channels < 1) {
        throw new Error(`${name}: need 16-bit PCM, got format ${format}, ${bits} bits, ${channels} channels`);
      }
      const end = Math.min(bytes.length, body + size);
      const frames = Math.floor((end - body) / (2 * channels));
      const samples = new Float32Array(frames);
      for (let f = 0; f < frames; f++) {
        let s = 0;
        for (let c = 0; c < channels; c++) s += bytes.readInt16LE(body + 2 * (f * channels + c));
        samples[f] = s / channels / 32768;
      }
      return { rateHz, channels, samples };
    }
    at = body + size + (size & 1);
  }
  throw new Error(`${name}: no data chunk`);
}

function to16k(wav: Wav): Float32Array {
  if (wav.rateHz === CORPUS_RATE_HZ) return wav.samples;
  const r = new Resampler({ inputRateHz: wav.rateHz, outputRateHz: CORPUS_RATE_HZ });
  const a = r.push(wav.samples), b = r.flush();
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Loads the first folder of `dirs` that has a MANIFEST.tsv. Throws if none has. */
export function loadSpeechCorpus(options: SpeechCorpusOptions): SpeechCorpus {
  const dir = options.dirs.find((d) => existsSync(join(d, 'MANIFEST.tsv')));
  if (dir === undefined) throw new Error(`no MANIFEST.tsv in any of: ${options.dirs.join(', ')}`);
  const gap = Math.round((CORPUS_RATE_HZ * (options.gapMs ?? 1000)) / 1000);
  const maxSamples = CORPUS_RATE_HZ * (options.maxSeconds ?? 300);
  const parts: Float32Array[] = [];
  let total = 0;
  for (const line of readFileSync(join(dir, 'MANIFEST.tsv'), 'utf8').split('\n')) {
    const file = line.split('\t')[1];
    if (!file || total >= maxSamples) continue;
    const clip = to16k(readWav16(readFileSync(join(dir, file)), file));
    parts.push(clip);
    total += clip.length + gap;
  }
  if (parts.length === 0) throw new Error(`${dir}/MANIFEST.tsv lists no clips`);
  const samples = new Int16Array(total);
  let o = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) samples[o + i] = Math.max(-32768, Math.min(32767, Math.round(p[i]! * 32768)));
    o += p.length + gap;
  }
  return { samples, clips: parts.length, dir };
}

/**
 * The committed test clips (test/fixtures/speech, 16 kHz) back to back with no gaps, as floats: the fixed real speech
 * the encoder benchmarks time.
 */
export function fixtureSpeech(): Float32Array {
  const dir = join(process.cwd(), 'test/fixtures/speech');
  const parts: Float32Array[] = [];
  for (const line of readFileSync(join(dir, 'MANIFEST.tsv'), 'utf8').split('\n')) {
    const file = line.split('\t')[1];
    if (file) parts.push(to16k(readWav16(readFileSync(join(dir, file)), file)));
  }
  return concat(parts);
}

/** `count` samples of the loop starting at `offset` (wrapping), as little-endian pcm_s16le bytes. */
export function loopBytes(corpus: Int16Array, offset: number, count: number): Buffer {
  const out = Buffer.allocUnsafe(2 * count);
  const n = corpus.length;
  for (let i = 0; i < count; i++) out.writeInt16LE(corpus[(offset + i) % n]!, 2 * i);
  return out;
}
