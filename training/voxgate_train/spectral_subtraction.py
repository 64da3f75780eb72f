"""numpy mirror of src/dsp/spectral-subtraction.ts (voxgate's streaming spectral-subtraction denoiser).

Why it exists: training can denoise (or augment) audio exactly as the gateway does at inference time, so the model
sees the same artefacts in both places. Every step mirrors the TypeScript file line by line, in float64; the TS test
test/dsp/spectral-subtraction.test.ts compares the gateway's output with a fixture this module produced
(test/fixtures/gen-spectral-subtraction-fixtures.py), max abs diff <= 1e-4. Change both files together.

Algorithm (see the TS header for the why): 512-sample frames, hop 256, periodic sqrt-Hann windows
w[n] = sin(pi n / 512); frame f covers samples [256 f - 256, 256 f + 256); noise = running mean of the power
spectrum over the first round(init_noise_ms / 16) frames, then recursive averaging in pauses (a posteriori SNR or
level above the windowed minimum frame power below noise_update_snr_db); Berouti over-subtraction
alpha = over_subtraction - 0.15 clamp(snr, -5, 20); spectral floor (gain 1 while the first estimate is learnt); gain
smoothing; weighted overlap-add.
Output is time-aligned with the input and has the same length.
"""
from __future__ import annotations

import math

import numpy as np

N_FFT = 512
HOP = 256
BINS = N_FFT // 2 + 1
TINY = 1e-20
SILENT_POWER = 65536 * 1e-9  # sum P of a frame at -90 dBFS mean power: digital silence, not the room
HOP_MS = HOP / 16000 * 1000  # 16 ms

DEFAULTS = dict(
    init_noise_ms=200.0,
    noise_update_snr_db=3.0,
    min_window_ms=1000.0,
    noise_smoothing=0.9,
    over_subtraction=2.0,
    spectral_floor=0.3,
    gain_smoothing=0.5,
)


def _js_round(x: float) -> int:
    """JavaScript Math.round (halves round up), not Python's banker's rounding."""
    return int(math.floor(x + 0.5))


def _snr_db(signal: float, noise: float) -> float:
    return 10.0 * math.log10(max(signal, TINY) / max(noise, TINY))


def spectral_subtract(x: np.ndarray, **options: float) -> np.ndarray:
    """Denoises 16 kHz mono audio (float, [-1, 1]); returns float64 of the same length, time-aligned."""
    o = {**DEFAULTS, **options}
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown options {sorted(unknown)}")
    x = np.asarray(x, dtype=np.float64)
    total = len(x)
    if total == 0:
        return np.zeros(0)
    window = np.sin(np.pi * np.arange(N_FFT) / N_FFT)
    init_frames = max(1, _js_round(o["init_noise_ms"] / HOP_MS))
    ring = np.full(max(1, _js_round(o["min_window_ms"] / HOP_MS)), np.inf)
    num_frames = -(-total // HOP) + 1  # frames 0 .. ceil(T / 256)
    padded = np.zeros(HOP + num_frames * HOP + HOP)
    padded[HOP:HOP + total] = x
    out = np.zeros(num_frames * HOP + HOP)  # index i holds sample i - 256
    noise = np.zeros(BINS)
    gain = np.ones(BINS)
    learnt = 0  # frames the estimate has seen: digital silence after the first estimate is not counted
    for f in range(num_frames):
        spec = np.fft.rfft(padded[f * HOP:f * HOP + N_FFT] * window)
        power = spec.real * spec.real + spec.imag * spec.imag
        sum_p = float(np.sum(power))
        silent = learnt >= init_frames and sum_p <= SILENT_POWER
        if not silent:
            ring[learnt % len(ring)] = sum_p
        min_p = float(np.min(ring))
        learning = learnt < init_frames
        if silent:
            pass
        elif learnt < init_frames:
            noise = (learnt * noise + power) / (learnt + 1)
        elif min(_snr_db(sum_p, float(np.sum(noise))), _snr_db(sum_p, min_p)) < o["noise_update_snr_db"]:
            a = o["noise_smoothing"]
            noise = a * noise + (1 - a) * power
        snr = min(20.0, max(-5.0, _snr_db(sum_p, float(np.sum(noise)))))
        alpha = o["over_subtraction"] - 0.15 * snr
        d = np.maximum(power - alpha * noise, o["spectral_floor"] * noise)
        g = np.ones(BINS)
        if not learning:  # nothing is subtracted while the first estimate is learnt (see the TS header)
            less = d < power
            g[less] = np.sqrt(d[less] / power[less])
        s = o["gain_smoothing"]
        gain = g if f == 0 else s * gain + (1 - s) * g
        synth = np.fft.irfft(spec * gain, n=N_FFT) * window
        out[f * HOP:f * HOP + N_FFT] += synth
        learnt += 0 if silent else 1
    return out[HOP:HOP + total]
