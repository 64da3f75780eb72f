"""The packed-feature shard format shared by feature_pack (writes, on the development machine) and train_accel
(reads, on an accelerator machine): clean fbank as uint8 steps of STEP_NAT above feature_augment.LOG_FLOOR,
delta-coded along time within each utterance, in an xz-compressed npz. numpy and torch only (no torchaudio), so it
loads wherever the trainer runs."""
import io
import lzma
from pathlib import Path

import numpy as np
import torch

from .feature_augment import LOG_FLOOR

STEP_NAT = 0.25


def quantise(logmel: torch.Tensor) -> np.ndarray:
    """(T, 80) log-mel -> uint8 steps, delta-coded along time (mod 256)."""
    q = np.clip(np.round((logmel.numpy() - LOG_FLOOR) / STEP_NAT), 0, 255).astype(np.int16)
    return np.diff(q, axis=0, prepend=0).astype(np.uint8)


def starts(counts: np.ndarray) -> np.ndarray:
    """Offsets of consecutive runs of `counts` items each in their concatenation."""
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def dequantise(delta: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Inverse of quantise for utterances of `frames` frames each, concatenated -> uint8 steps. One cumulative sum
    over all, minus each utterance's running start (mod 256)."""
    total = np.cumsum(delta, axis=0, dtype=np.uint8)
    first = starts(frames)
    before = np.where(first[:, None] > 0, total[np.maximum(first - 1, 0)], 0).astype(np.uint8)
    return total - np.repeat(before, frames, axis=0)


def steps_to_logmel(steps: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(steps.astype(np.float32) * STEP_NAT + LOG_FLOOR)


def write_shard(path: Path, arrays: dict) -> int:
    """xz-compressed npz, written atomically (a trainer may be watching the folder); returns its size in bytes."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = lzma.compress(buf.getvalue(), preset=6)
    path.with_suffix(".tmp").write_bytes(data)
    path.with_suffix(".tmp").replace(path)
    return len(data)


def read_shard(path: Path) -> dict:
    with np.load(io.BytesIO(lzma.decompress(path.read_bytes()))) as z:
        return {k: z[k] for k in z.files}
