/**
 * The dsp layer's public surface: pure typed-array math, no I/O, no RxJS (docs/architecture.md). Stages import from
 * here; tests import the files directly.
 */
export * from './g711.js';
export * from './pcm-decoder.js';
export * from './resampler.js';
export * from './fft.js';
export * from './fbank.js';
export * from './spectral-subtraction.js';
export * from './energy-vad.js';
