#!/usr/bin/env node
/**
 * The peer side of bench/peer-bench.ts: N sherpa-onnx-node streams (its own fbank, ONNX Runtime and greedy NeMo CTC
 * search) decode the same audio in lockstep, 50 ms per stream per tick, every ready stream decoded by one
 * `decodeStreams` call (sherpa's batched path), as fast as the machine allows. Prints one JSON line.
 *
 * Why a separate CommonJS child: sherpa-onnx-node is CommonJS and exits its process on some errors (see
 * test/inference/sherpa-peer.cjs), and a child keeps its ONNX Runtime threads out of the measuring process.
 *
 * usage: node bench/sherpa-load.cjs AUDIO.f32 MODEL_DIR MODEL_FILE STREAMS THREADS
 *   AUDIO.f32: raw little-endian float32 samples at 16 kHz (the parent writes it), already padded with silence.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const TICK_SAMPLES = 800; // 50 ms at 16 kHz, the gateway's typical frame
const WARMUP_SAMPLES = 16000; // 1 s, as bench/peer-bench.ts

function main() {
  const [audioFile, modelDir, modelFile, streamsArg, threadsArg] = process.argv.slice(2);
  const streams = Number(streamsArg), threads = Number(threadsArg);
  if (!audioFile || !modelDir || !modelFile || !(streams >= 1) || !(threads >= 1)) {
    throw new Error('usage: sherpa-load.cjs AUDIO.f32 MODEL_DIR MODEL_FILE STREAMS THREADS');
  }
  const bytes = fs.readFileSync(audioFile);
  const audio = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const sherpa = require('sherpa-onnx-node');
  const recognizer = new sherpa.OnlineRecognizer({
    featConfig: { sampleRate: 16000, featureDim: 80 },
    modelConfig: {
      nemoCtc: { model: path.join(modelDir, modelFile) },
      tokens: path.join(modelDir, 'tokens.txt'),
      numThreads: threads,
      provider: 'cpu',
      debug: 0,
    },
    decodingMethod: 'greedy_search',
    enableEndpoint: false,
  });
  let calls = 0, rows = 0;
  const drain = (all) => {
    for (;;) {
      const ready = all.filter((s) => recognizer.isReady(s));
      if (ready.length === 0) return;
      recognizer.decodeStreams(ready);
      calls++;
      rows += ready.length;
    }
  };
  const play = (all, samples, tickMs) => {
    for (let o = 0; o < samples.length; o += TICK_SAMPLES) {
      const t = performance.now();
      const piece = samples.subarray(o, Math.min(samples.length, o + TICK_SAMPLES));
      for (const s of all) s.acceptWaveform({ samples: piece, sampleRate: 16000 });
      drain(all);
      tickMs.push(performance.now() - t);
    }
  };
  // Warm-up as the parent does for our engine: the first second through N throwaway streams.
  play(Array.from({ length: streams }, () => recognizer.createStream()), audio.subarray(0, WARMUP_SAMPLES), []);
  calls = 0;
  rows = 0;
  const all = Array.from({ length: streams }, () => recognizer.createStream());
  const tickMs = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  play(all, audio, tickMs);
  for (const s of all) s.inputFinished();
  drain(all);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({
    wallMs, cpuMs: (cpu.user + cpu.system) / 1000, tickMs, calls, meanBatch: rows / Math.max(1, calls),
    texts: all.map((s) => recognizer.getResult(s).text),
  }) + '\n');
}

main();
