"""Log-mel-domain augmentation: SpecAugment, and (for the accelerator trainer, train_accel) the waveform chain of
augment.py redone on packed clean fbank features.

Why a feature-domain chain: an accelerator machine is reached through a 64 MiB-per-call transfer, so the corpus
travels as quantised clean fbank (feature_pack, ~4 KB per second of audio) instead of audio (32 KB/s). Each step of
augment.py has a feature-domain counterpart that works on mel power P = exp(logmel) and keeps its probability and
parameter ranges:
- trim: crop the utterance's loud span (augment.loud_span, computed at pack time) to 50-400 ms lead, 100-500 ms tail;
- speed 0.909x / 1.111x: resample the frame axis (length x1.1 / x0.9) and warp the mel axis (frequencies x f);
- reverberation: convolve P along time with the expected frame energies of augment.synthetic_rir (same RT60 and
  tail-gain ranges, unit energy);
- noise at 0-20 dB SNR: babble is the sum of 3-6 other utterances' P, coloured noise a crop of a bank of real fbank
  of white/pink/brown noise (feature_pack computes it with the real fbank); powers add (the cross term averages out
  over the FFT bins of a mel band);
- telephony: per-bin gain plus level-proportional mu-law noise, fitted at pack time on real round trips
  (feature_pack.phone_channel);
- gain: peak normalisation to 0.9 and -20..0 dB, from the clean peak scaled by the power the chain added.
Not reproduced: the spectral-subtraction denoiser (its artefacts come from the waveform): a short CPU run of train.py
after an accelerator run teaches those.
"""
import math
import random

import torch
import torch.nn.functional as F

LOG_FLOOR = math.log(torch.finfo(torch.float32).eps)  # kaldi's log floor: what fbank gives a silent band


def spec_augment(feats: torch.Tensor, r: random.Random, freq_masks=2, freq_width=12, time_masks=2,
                 time_ratio=0.05) -> torch.Tensor:
    """Masks (with the utterance mean) frequency bands and time spans of a (T, 80) fbank."""
    feats = feats.clone()
    fill = feats.mean()
    t = feats.shape[0]
    for _ in range(freq_masks):
        w = r.randint(0, freq_width)
        f0 = r.randint(0, feats.shape[1] - w)
        feats[:, f0:f0 + w] = fill
    for _ in range(time_masks):
        w = r.randint(0, max(1, int(math.ceil(t * time_ratio))))
        t0 = r.randint(0, max(0, t - w))
        feats[t0:t0 + w] = fill
    return feats


def tile_crop(p: torch.Tensor, t: int, r: random.Random) -> torch.Tensor:
    """t frames of (N, 80) `p`, repeated as often as needed, from a random start."""
    reps = -(-t // max(1, p.shape[0]))
    p = p.repeat(reps, 1) if reps > 1 else p
    start = r.randint(0, p.shape[0] - t)
    return p[start:start + t]


def rir_frame_energies(r: random.Random, frame_shift: int = 160, rate_hz: int = 16000) -> torch.Tensor:
    """Expected energy per 10 ms frame of augment.synthetic_rir: a unit direct path plus a noise tail of gain
    0.1-0.5 decaying by 60 dB over RT60 0.15-0.8 s (cut at 0.5 s), normalised to unit total energy."""
    rt60 = r.uniform(0.15, 0.8)
    gain = r.uniform(0.1, 0.5)
    n = int(min(rt60, 0.5) * rate_hz)
    t = torch.arange(n, dtype=torch.float64) / rate_hz
    e = gain ** 2 * torch.exp(-13.8 * t / rt60)
    e[0] = 1.0
    frames = -(-n // frame_shift)
    e = F.pad(e, (0, frames * frame_shift - n)).reshape(frames, frame_shift).sum(1)
    return (e / e.sum()).float()


class FeatureAugmenter:
    """The chain for one (T, 80) clean log-mel. `consts` (from feature_pack): mel_centres_hz (80,), noise_bank
    (3, N, 80) log-mel, phone_gain (80,), phone_noise (80,). `babble_source(t, r)` returns (t, 80) mel power of
    another utterance."""

    def __init__(self, consts: dict, babble_source, p_trim=0.5, p_speed=0.5, p_reverb=0.15, p_noise=0.4,
                 p_phone=0.25):
        self.centres = consts["mel_centres_hz"].double()
        self.noise_bank = consts["noise_bank"].float().exp()
        self.phone_gain, self.phone_noise = consts["phone_gain"].float(), consts["phone_noise"].float()
        self.babble_source = babble_source
        self.p_trim, self.p_speed, self.p_reverb, self.p_noise, self.p_phone = p_trim, p_speed, p_reverb, p_noise, p_phone
        self._warp = {f: self._warp_index(f) for f in (0.909, 1.111)}

    def _warp_index(self, factor: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For each output bin: the two source bins and weight that interpolate the input at centre / factor, and
        which bins have no source (their frequency came from above 8 kHz: the resampler left nothing there)."""
        src = self.centres / factor
        pos = torch.searchsorted(self.centres, src).clamp(1, len(self.centres) - 1)
        lo, hi = self.centres[pos - 1], self.centres[pos]
        w = ((src - lo) / (hi - lo)).clamp(0, 1).float()
        return pos - 1, w, src > 8000.0

    def speed(self, p: torch.Tensor, factor: float) -> torch.Tensor:
        t = max(1, round(p.shape[0] / factor))
        logp = p.clamp(min=1e-30).log()
        logp = F.interpolate(logp.T.unsqueeze(0), size=t, mode="linear", align_corners=True)[0].T
        lo, w, empty = self._warp[factor]
        warped = logp[:, lo] * (1 - w) + logp[:, (lo + 1).clamp(max=logp.shape[1] - 1)] * w
        warped[:, empty] = LOG_FLOOR
        return warped.exp()

    def __call__(self, logmel: torch.Tensor, span: tuple[int, int] | None, peak: float, r: random.Random):
        if span is not None and r.random() < self.p_trim:
            first, last = span
            lead, tail = int(r.uniform(5, 40)), int(r.uniform(10, 50))
            logmel = logmel[max(0, first - lead): min(logmel.shape[0], last + tail)]
        p = logmel.exp()
        power_in = p.sum(1).mean()
        if r.random() < self.p_speed:
            p = self.speed(p, r.choice([0.909, 1.111]))
        if r.random() < self.p_reverb:
            h = rir_frame_energies(r)
            k = h.shape[0]
            p = F.conv1d(F.pad(p.T.unsqueeze(1), (k - 1, 0)), h.flip(0).view(1, 1, k)).squeeze(1).T
        if r.random() < self.p_noise:
            t = p.shape[0]
            if r.random() < 0.5:
                noise = sum(self.babble_source(t, r) for _ in range(r.randint(3, 6)))
            else:
                noise = tile_crop(self.noise_bank[r.randrange(self.noise_bank.shape[0])], t, r)
            snr_db = r.uniform(0.0, 20.0)
            ps, pn = p.sum(1).mean().clamp(min=1e-20), noise.sum(1).mean().clamp(min=1e-20)
            p = p + noise * (ps / (pn * 10 ** (snr_db / 10)))
        if r.random() < self.p_phone:
            p = p * self.phone_gain + p.sum(1, keepdim=True) * self.phone_noise
        # Peak normalisation to 0.9, then -20..0 dB: the peak grows with the power the chain added
        peak_now = max(peak, 1e-4) * math.sqrt(float(p.sum(1).mean() / power_in.clamp(min=1e-20)))
        gain = 0.9 * 10 ** (r.uniform(-20.0, 0.0) / 20) / max(peak_now, 1e-4)
        return (p * gain ** 2).clamp(min=1e-30).log().clamp(min=LOG_FLOOR)
