"""Utterance store over the prepared cache: real speech (cache/index.tsv + per-set int16 arrays) and synthetic
speech (cache/synth_index.tsv + per-utterance arrays), length-bucketed batches, and feature extraction."""
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .common import CACHE_DIR, SAMPLE_RATE_HZ, fbank, text_to_ids


@dataclass
class Utterance:
    source: str      # "real" | "synth"
    set: str
    path: str
    speaker: str
    split: str
    offset: int
    length: int
    text: str


def read_index(path: Path) -> list[Utterance]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        f = line.split("\t")
        if len(f) == 8:
            out.append(Utterance(f[0], f[1], f[2], f[3], f[4], int(f[5]), int(f[6]), f[7]))
    return out


class AudioStore:
    """Returns float32 waveforms in [-1, 1] at 16 kHz."""

    def __init__(self, cache_dir: Path = CACHE_DIR):
        self.cache_dir = cache_dir
        self._sets: dict[str, np.ndarray] = {}

    def wave(self, u: Utterance) -> torch.Tensor:
        if u.source == "synth":
            a = np.load(self.cache_dir / "audio" / "synth" / f"{u.path}.npy")
        else:
            if u.set not in self._sets:
                self._sets[u.set] = np.load(self.cache_dir / "audio" / f"{u.set}.npy", mmap_mode="r")
            a = self._sets[u.set][u.offset:u.offset + u.length]
        return torch.from_numpy(np.asarray(a, dtype=np.float32) / 32768.0)


def load_utterances(split: str, include_synth: bool = True) -> list[Utterance]:
    utts = [u for u in read_index(CACHE_DIR / "index.tsv") if u.split == split and text_to_ids(u.text)]
    if include_synth and split == "train":
        utts += [u for u in read_index(CACHE_DIR / "synth_index.tsv") if text_to_ids(u.text)]
    return utts


def make_batches(lengths: list[int], max_padded: float, r: random.Random, max_utts: int = 64) -> list[list[int]]:
    """Sort by length, cut into batches of at most max_padded padded length (longest x count) and max_utts
    utterances, shuffle the batch order. Lengths in any unit (samples here, frames in train_accel)."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], r.random()))
    batches, cur = [], []
    for i in order:
        # ascending order: the utterance being added is the batch's longest
        if cur and (lengths[i] * (len(cur) + 1) > max_padded or len(cur) >= max_utts):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    r.shuffle(batches)
    return batches


def pad_features(feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(T_i, F) tensors -> zero-padded (B, max T, F) and the lengths (B)."""
    lengths = torch.tensor([f.shape[0] for f in feats])
    x = torch.zeros(len(feats), int(lengths.max()), feats[0].shape[1])
    for i, f in enumerate(feats):
        x[i, : f.shape[0]] = f
    return x, lengths


def collate(waves: list[torch.Tensor], texts: list[str], feature_fn=fbank):
    x, lengths = pad_features([feature_fn(w) for w in waves])
    targets = [torch.tensor(text_to_ids(t)) for t in texts]
    return x, lengths, targets
