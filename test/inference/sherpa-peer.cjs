#!/usr/bin/env node
/**
 * Independent peer: decodes a 16 kHz WAV with sherpa-onnx-node (greedy streaming NeMo CTC) and prints one JSON line
 * {text, tokens, timestamps, chunks, decodeMs}. Runs as a CHILD PROCESS because sherpa exits the process on some
 * errors (missing metadata key: exit 255; ONNX Runtime error: abort 134), see shared/docs/model-interface.md.
 *
 * usage: node test/inference/sherpa-peer.cjs WAV MODEL_DIR [--model model.onnx] [--pad-ms 800] [--feed-ms 0]
 *   --feed-ms N  feed the samples in N ms pieces, decoding whenever ready (0: all at once)
 * The WAV must be 16-bit PCM mono at 16 kHz (as test/fixtures/speech/*.wav); samples are fed as int16 / 32768,
 * followed by --pad-ms of zeros and inputFinished().
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

function readWav16(file) {
  const b = fs.readFileSync(file);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${file}: not a WAV`);
  let pos = 12, fmt = null;
  while (pos + 8 <= b.length) {
    const id = b.toString('ascii', pos, pos + 4), size = b.readUInt32LE(pos + 4), body = pos + 8;
    if (id === 'fmt ') {
      fmt = { format: b.readUInt16LE(body), channels: b.readUInt16LE(body + 2), rate: b.readUInt32LE(body + 4),
        bits: b.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (!fmt || fmt.format !== 1 || fmt.channels !== 1 || fmt.bits !== 16) {
        throw new Error(`${file}: need 16-bit PCM mono, got ${JSON.stringify(fmt)}`);
      }
      const n = Math.floor(Math.min(size, b.length - body) / 2);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = b.readInt16LE(body + 2 * i) / 32768;
      return { samples: out, sampleRate: fmt.rate };
    }
    pos = body + size + (size & 1);
  }
  throw new Error(`${file}: no data chunk`);
}

function main() {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    if (i < 0) return dflt;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const modelFile = opt('--model', 'model.onnx');
  const padMs = Number(opt('--pad-ms', '800'));
  const feedMs = Number(opt('--feed-ms', '0'));
  const [wav, modelDir] = args;
  if (!wav || !modelDir) throw new Error('usage: sherpa-peer.cjs WAV MODEL_DIR [--model F] [--pad-ms N] [--feed-ms N]');
  const sherpa = require('sherpa-onnx-node');
  const { samples, sampleRate } = readWav16(wav);
  const recognizer = new sherpa.OnlineRecognizer({
    featConfig: { sampleRate: 16000, featureDim: 80 },
    modelConfig: {
      nemoCtc: { model: path.join(modelDir, modelFile) },
      tokens: path.join(modelDir, 'tokens.txt'),
      numThreads: 1,
      provider: 'cpu',
      debug: 0,
    },
    decodingMethod: 'greedy_search',
    enableEndpoint: false,
  });
  const stream = recognizer.createStream();
  let chunks = 0;
  const t0 = process.hrtime.bigint();
  const drain = () => {
    while (recognizer.isReady(stream)) {
      recognizer.decode(stream);
      chunks++;
    }
  };
  const all = new Float32Array(samples.length + Math.round((padMs * sampleRate) / 1000));
  all.set(samples);
  const piece = feedMs > 0 ? Math.max(1, Math.round((feedMs * sampleRate) / 1000)) : all.length;
  for (let i = 0; i < all.length; i += piece) {
    stream.acceptWaveform({ samples: all.slice(i, i + piece), sampleRate });
    drain();
  }
  stream.inputFinished();
  drain();
  const decodeMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const r = recognizer.getResult(stream);
  process.stdout.write(JSON.stringify({
    text: r.text, tokens: r.tokens, timestamps: r.timestamps, chunks, decodeMs,
    audioMs: (samples.length * 1000) / sampleRate,
  }) + '\n');
}

main();
