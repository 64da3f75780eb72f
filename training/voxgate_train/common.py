"""Shared constants of the recipe: paths, the character vocabulary, and the exact fbank the gateway computes.

The fbank settings are the ones sherpa-onnx (kaldi-native-fbank) and voxgate's src/dsp/fbank.ts compute, written
down in shared/docs/model-interface.md; the model is trained on exactly these features.
"""
import os
import re
from pathlib import Path

import torch

TRAINING_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = TRAINING_DIR.parent
SHARED_SPEECH = Path(os.environ.get("VOXGATE_SPEECH", REPO_DIR.parent / "shared" / "speech"))
CACHE_DIR = Path(os.environ.get("VOXGATE_CACHE", TRAINING_DIR / "cache"))
SAMPLE_RATE_HZ = 16000
NUM_MEL_BINS = 80

# <blk>=0, word separator '▁'=1, apostrophe=2, a..z=3..28: the order of models/*/tokens.txt.
TOKENS = ["<blk>", "▁", "'"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
BLANK_ID = 0
SPACE_ID = 1
_CHAR_TO_ID = {c: i for i, c in enumerate(TOKENS)}
_CHAR_TO_ID[" "] = SPACE_ID


def normalise_text(text: str) -> str:
    """Lowercase, keep a-z, apostrophe and single spaces (the corpus transcripts already follow this)."""
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^a-z' ]+", " ", text)
    return re.sub(r" +", " ", text).strip()


def text_to_ids(text: str) -> list[int]:
    return [_CHAR_TO_ID[c] for c in normalise_text(text)]


def ids_to_text(ids) -> str:
    return "".join(" " if i == SPACE_ID else TOKENS[i] for i in ids if i != BLANK_ID).strip()


def fbank(wave16k: torch.Tensor) -> torch.Tensor:
    """80-dim Kaldi fbank of a 1-D float waveform in [-1, 1] at 16 kHz -> (frames, 80); frames = (N + 80) // 160."""
    import torchaudio  # here, not at the top: the accelerator trainer (train_accel) reads packed features only
    return torchaudio.compliance.kaldi.fbank(
        wave16k.unsqueeze(0), sample_frequency=SAMPLE_RATE_HZ, num_mel_bins=NUM_MEL_BINS,
        frame_length=25.0, frame_shift=10.0, window_type="povey", preemphasis_coefficient=0.97,
        remove_dc_offset=True, round_to_power_of_two=True, use_power=True, low_freq=20.0, high_freq=-400.0,
        dither=0.0, snip_edges=False, use_log_fbank=True, use_energy=False, energy_floor=0.0)


def greedy(logp: torch.Tensor, length: int) -> str:
    """Best-path CTC decoding of (T, V) log-probs: argmax per frame, repeats merged, blanks dropped."""
    best = logp[:length].argmax(-1).tolist()
    out, prev = [], -1
    for t in best:
        if t != prev and t != BLANK_ID:
            out.append(t)
        prev = t
    return ids_to_text(out)


def wer_report(errors: dict[str, list[int]]) -> dict:
    """{set: [word errors, reference words]} -> WER % per set (sorted) and "all" (corpus WER over every set)."""
    report = {s: round(100.0 * e / max(1, n), 2) for s, (e, n) in sorted(errors.items())}
    total_e, total_n = sum(v[0] for v in errors.values()), sum(v[1] for v in errors.values())
    report["all"] = round(100.0 * total_e / max(1, total_n), 2)
    return report


def mean_weights(state_dicts: list[dict]) -> dict:
    """Mean of every float tensor over the state dicts (in fp32); other tensors from the last."""
    return {k: (torch.stack([sd[k].float() for sd in state_dicts]).mean(0) if v.is_floating_point() else v)
            for k, v in state_dicts[-1].items()}


def half_weights(state_dict: dict) -> dict:
    """Float tensors in fp16 (on the CPU): how checkpoints/latest.pt and accelerator results store weights."""
    return {k: (v.detach().half().cpu() if v.is_floating_point() else v.cpu()) for k, v in state_dict.items()}


def pad_tail_like_gateway(feats: torch.Tensor) -> torch.Tensor:
    """(T, 80) -> (4 ceil(T / 4) + 3, 80), the last frame repeated: how the gateway's encode stage ends an utterance
    (src/stream/encode.ts), so every 40 ms of audio gets an output frame. Without it the subsampling drops the last
    3-6 frames, and a word that ends with the clip (fsdd's trimmed digits) loses its last token: fsdd held-out WER
    61.0% unpadded vs 52.4% padded (step 5,865, 160 ms). Training and evaluation frame utterances as deployed."""
    t = feats.shape[0]
    return torch.cat([feats, feats[-1:].expand(4 * -(-t // 4) + 3 - t, -1)])


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    """(edit distance in words, reference word count)."""
    r, h = ref.split(), hyp.split()
    prev = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        cur = [i] + [0] * len(h)
        for j, hw in enumerate(h, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rw != hw))
        prev = cur
    return prev[-1], len(r)
