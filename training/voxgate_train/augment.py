"""Waveform augmentation for training: random trimming of leading and trailing silence, speed perturbation,
reverberation, babble or coloured noise at 0-20 dB SNR, a telephony channel (8 kHz band limit and a G.711 mu-law
round trip, back to 16 kHz), gain, and the gateway's own spectral-subtraction denoiser (the numpy mirror of
src/dsp/spectral-subtraction.ts, parity-tested), so the model knows its artefacts when a session asks for
denoise=spectral. SpecAugment (on the fbank features) is in feature_augment. All randomness comes from the caller's
`random.Random`, so a run is reproducible.
"""
import random

import numpy as np
import torch
import torchaudio

from .common import SAMPLE_RATE_HZ
from .spectral_subtraction import spectral_subtract

# Speed factors with small integer resampling ratios (16000 -> 17600 = 10:11 slows to 0.909x, -> 14400 speeds
# to 1.111x): the resampling kernels stay short and are built once.
_SPEED = {0.909: torchaudio.transforms.Resample(16000, 17600), 1.111: torchaudio.transforms.Resample(16000, 14400)}
_DOWN8K = torchaudio.transforms.Resample(16000, 8000)
_UP16K = torchaudio.transforms.Resample(8000, 16000)


def _mulaw_table() -> tuple[np.ndarray, np.ndarray]:
    """G.711 mu-law: encode table for every int16 value (via its 14-bit magnitude) and decode table for codes."""
    decode = np.zeros(256, dtype=np.float32)
    for code in range(256):
        u = ~code & 0xFF
        t = ((u & 0x0F) << 3) + 0x84
        t <<= (u & 0x70) >> 4
        decode[code] = (0x84 - t) if (u & 0x80) else (t - 0x84)
    lin = np.arange(-32768, 32768, dtype=np.int32)
    # nearest decode level for every int16 (the encoder picks the segment/quantiser that yields it)
    order = np.argsort(decode)
    levels = decode[order]
    pos = np.clip(np.searchsorted(levels, lin), 1, 255)
    pick = np.where(np.abs(levels[pos - 1] - lin) <= np.abs(levels[pos] - lin), pos - 1, pos)
    return order[pick].astype(np.uint8), decode / 32768.0


_MULAW_ENC, _MULAW_DEC = _mulaw_table()


def mulaw_round_trip(x: torch.Tensor) -> torch.Tensor:
    ints = np.clip(np.round(x.numpy() * 32768.0), -32768, 32767).astype(np.int32) + 32768
    return torch.from_numpy(_MULAW_DEC[_MULAW_ENC[ints]])


def shaped_noise(n: int, alpha: float, seed: int) -> torch.Tensor:
    """n samples of noise with power spectrum f^-alpha (0 white, 1 pink, 2 brown): a white spectrum shaped."""
    spec = torch.fft.rfft(torch.randn(n, generator=torch.Generator().manual_seed(seed)))
    f = torch.arange(spec.shape[0], dtype=torch.float32).clamp(min=1.0)
    return torch.fft.irfft(spec / f ** (alpha / 2), n=n)


def coloured_noise(n: int, r: random.Random) -> torch.Tensor:
    """White, pink or brown noise, picked at random."""
    alpha = r.choice([0.0, 1.0, 2.0])
    return shaped_noise(n, alpha, r.getrandbits(31))


def synthetic_rir(r: random.Random) -> torch.Tensor:
    """Exponentially decaying noise tail after a unit direct path; RT60 0.15-0.8 s."""
    rt60 = r.uniform(0.15, 0.8)
    n = int(min(rt60, 0.5) * SAMPLE_RATE_HZ)
    t = torch.arange(n, dtype=torch.float32) / SAMPLE_RATE_HZ
    g = torch.Generator().manual_seed(r.getrandbits(31))
    tail = torch.randn(n, generator=g) * torch.exp(-6.9 * t / rt60) * r.uniform(0.1, 0.5)
    tail[0] = 1.0
    return tail / tail.norm()


def fft_convolve(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    n = x.shape[0] + h.shape[0] - 1
    size = 1 << (n - 1).bit_length()
    y = torch.fft.irfft(torch.fft.rfft(x, size) * torch.fft.rfft(h, size), size)
    return y[: x.shape[0]]


def add_at_snr(x: torch.Tensor, noise: torch.Tensor, snr_db: float) -> torch.Tensor:
    px = x.pow(2).mean().clamp(min=1e-10)
    pn = noise.pow(2).mean().clamp(min=1e-10)
    return x + noise * torch.sqrt(px / (pn * 10 ** (snr_db / 10)))


def loud_span(x: torch.Tensor, frame: int = 160, floor_db: float = 35.0) -> tuple[int, int] | None:
    """(first, last) sample of the span that stands out as speech, or None (too short, or nothing stands out: a
    stationary recording). Speech is what is within floor_db of the peak frame and 12 dB above the noise floor (the
    20th-percentile frame, ignoring digital silence), so a noisy recording's background does not count as speech."""
    n = x.shape[0] // frame
    if n < 3:
        return None
    db = 10 * torch.log10(x[: n * frame].reshape(n, frame).pow(2).mean(1) + 1e-10)
    audible = db[db > -90]
    noise_db = float(torch.quantile(audible, 0.2)) if audible.numel() else -100.0
    loud = torch.nonzero(db > max(float(db.max()) - floor_db, noise_db + 12)).flatten()
    if loud.numel() == 0:
        return None
    return int(loud[0]) * frame, (int(loud[-1]) + 1) * frame


def trim_silence(x: torch.Tensor, r: random.Random) -> torch.Tensor:
    """Cuts leading and trailing silence down to a random 50-400 ms (lead) and 100-500 ms (tail), never adding any.
    Why: some sets (picovoice_wakeword) always open with ~1 s of silence, and a model that learnt to count on it
    fails behind the gateway's VAD, which starts an utterance 300 ms before speech."""
    span = loud_span(x)
    if span is None:
        return x
    lead = int(r.uniform(0.05, 0.4) * SAMPLE_RATE_HZ)
    tail = int(r.uniform(0.1, 0.5) * SAMPLE_RATE_HZ)
    return x[max(0, span[0] - lead): min(x.shape[0], span[1] + tail)]


class Augmenter:
    """Applies the chain to one utterance. `babble_source(n, r)` returns n samples of other speech (for babble)."""

    def __init__(self, babble_source, p_trim=0.5, p_speed=0.5, p_reverb=0.15, p_noise=0.4, p_phone=0.25,
                 p_denoise=0.3):
        self.babble_source, self.p_trim = babble_source, p_trim
        self.p_speed, self.p_reverb, self.p_noise, self.p_phone = p_speed, p_reverb, p_noise, p_phone
        self.p_denoise = p_denoise

    def __call__(self, x: torch.Tensor, r: random.Random) -> torch.Tensor:
        if r.random() < self.p_trim:
            x = trim_silence(x, r)
        if r.random() < self.p_speed:
            x = _SPEED[r.choice([0.909, 1.111])](x)
        if r.random() < self.p_reverb:
            x = fft_convolve(x, synthetic_rir(r))
        if r.random() < self.p_noise:
            if r.random() < 0.5:
                noise = sum(self.babble_source(x.shape[0], r) for _ in range(r.randint(3, 6)))
            else:
                noise = coloured_noise(x.shape[0], r)
            x = add_at_snr(x, noise, r.uniform(0.0, 20.0))
        if r.random() < self.p_phone:
            x = _UP16K(mulaw_round_trip(_DOWN8K(x).clamp(-1, 1)))[: x.shape[0]]
        peak = x.abs().max().clamp(min=1e-4)
        gain_db = r.uniform(-20.0, 0.0)
        x = (x / peak * 0.9 * 10 ** (gain_db / 20)).clamp(-1.0, 1.0)
        return maybe_denoise(x, r, self.p_denoise)


def maybe_denoise(x: torch.Tensor, r: random.Random, p: float) -> torch.Tensor:
    """The gateway's denoiser, applied as it runs there: after the channel and the level are what they are."""
    if r.random() >= p:
        return x
    return torch.from_numpy(spectral_subtract(x.numpy().astype(np.float64)).astype(np.float32))
