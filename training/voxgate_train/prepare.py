"""Step 1: decide the held-out split (training/splits.tsv) and decode shared/speech into a 16 kHz int16 cache.

Split rule (deterministic, committed as splits.tsv): within each group the units are ranked by
sha1("<group>/<key>") and the first ceil(10%) of them (at least one) are held out.
- multi-speaker sets: unit = speaker id; fsdd and fsdd_removed_jason form one group "fsdd" (7 speakers);
- picovoice_wakeword has no speaker ids: unit = audio file;
- single-speaker sets (asterisk, ljspeech_subset, dctts_own_recordings): unit = prompt text, so a repeated
  prompt is never on both sides.
Outputs (not in git): cache/audio/<set>.npy (int16 concatenated), cache/index.tsv, cache/heldout/<set>/*.wav and
cache/heldout/MANIFEST.tsv in the `set<TAB>path<TAB>reference` format of `voxgate eval`.
"""
import argparse
import hashlib
import math
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from .common import CACHE_DIR, SAMPLE_RATE_HZ, SHARED_SPEECH, TRAINING_DIR, normalise_text

SINGLE_SPEAKER = {"asterisk", "ljspeech_subset", "dctts_own_recordings"}
BY_FILE = {"picovoice_wakeword"}
GROUP = {"fsdd_removed_jason": "fsdd"}
HELDOUT_FRACTION = 0.10


def read_manifest(set_name: str) -> list[tuple[str, str, str]]:
    rows = []
    for line in (SHARED_SPEECH / set_name / "MANIFEST.tsv").read_text().splitlines():
        path, text, speaker = line.split("\t")
        rows.append((path, normalise_text(text), speaker))
    return rows


def unit_of(set_name: str, path: str, text: str, speaker: str) -> tuple[str, str]:
    if set_name in SINGLE_SPEAKER:
        return "prompt", text
    if set_name in BY_FILE:
        return "file", path
    return "speaker", speaker


def compute_splits(sets: list[str]) -> dict[tuple[str, str], str]:
    """(set, key) -> 'train' | 'heldout'."""
    groups: dict[str, set[tuple[str, str]]] = {}
    for s in sets:
        for path, text, spk in read_manifest(s):
            _, key = unit_of(s, path, text, spk)
            groups.setdefault(GROUP.get(s, s), set()).add((s, key))
    split = {}
    for group, units in groups.items():
        ranked = sorted(units, key=lambda u: hashlib.sha1(f"{group}/{u[1]}".encode()).hexdigest())
        n_out = max(1, math.ceil(HELDOUT_FRACTION * len(ranked)))
        for i, u in enumerate(ranked):
            split[u] = "heldout" if i < n_out else "train"
    return split


def load_16k(path: Path) -> np.ndarray:
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    if sr != SAMPLE_RATE_HZ:
        x = torchaudio.functional.resample(torch.from_numpy(x), sr, SAMPLE_RATE_HZ).numpy()
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--splits-only", action="store_true", help="only (re)write training/splits.tsv")
    args = ap.parse_args()
    sets = sorted(p.name for p in SHARED_SPEECH.iterdir() if (p / "MANIFEST.tsv").exists())
    split = compute_splits(sets)
    with open(TRAINING_DIR / "splits.tsv", "w") as f:
        f.write("set\tunit\tkey\tsplit\n")
        for s in sets:
            seen = set()
            for path, text, spk in read_manifest(s):
                unit, key = unit_of(s, path, text, spk)
                if key not in seen:
                    seen.add(key)
                    f.write(f"{s}\t{unit}\t{key}\t{split[(s, key)]}\n")
    if args.splits_only:
        return
    (CACHE_DIR / "audio").mkdir(parents=True, exist_ok=True)
    heldout_dir = CACHE_DIR / "heldout"
    heldout_rows = []
    with open(CACHE_DIR / "index.tsv", "w") as idx:
        for s in sets:
            chunks, offset = [], 0
            for path, text, spk in read_manifest(s):
                _, key = unit_of(s, path, text, spk)
                audio = load_16k(SHARED_SPEECH / s / path)
                sp = split[(s, key)]
                idx.write(f"real\t{s}\t{path}\t{spk}\t{sp}\t{offset}\t{len(audio)}\t{text}\n")
                chunks.append(audio)
                offset += len(audio)
                if sp == "heldout":
                    wav = Path(s) / (Path(path).stem + ".wav")
                    (heldout_dir / s).mkdir(parents=True, exist_ok=True)
                    sf.write(str(heldout_dir / wav), audio, SAMPLE_RATE_HZ, subtype="PCM_16")
                    heldout_rows.append(f"{s}\t{wav}\t{text}")
            np.save(CACHE_DIR / "audio" / f"{s}.npy", np.concatenate(chunks))
            print(f"{s}: {offset / SAMPLE_RATE_HZ / 3600:.2f} h", flush=True)
    (heldout_dir / "MANIFEST.tsv").write_text("\n".join(heldout_rows) + "\n")


if __name__ == "__main__":
    main()
