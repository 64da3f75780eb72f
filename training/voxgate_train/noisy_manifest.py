"""Makes a noisy copy of the held-out manifest for `voxgate eval` (denoise on/off comparisons).

Each held-out clip gets babble (the sum of 5 other held-out clips, looped to length; the default) or stationary
pink noise (--noise pink) at --snr-db, with a fixed seed, written as 16-bit WAVs under
cache/heldout_<noise><SNR>/ with a MANIFEST.tsv in the same `set<TAB>path<TAB>reference` format. The PyTorch
evaluation (`evaluate --babble-db`) mixes babble the same way.
Usage: python3 -m voxgate_train.noisy_manifest --snr-db 5 [--noise babble|pink]
"""
import argparse
import random

import numpy as np
import soundfile as sf
import torch

from .augment import add_at_snr, shaped_noise
from .common import CACHE_DIR, SAMPLE_RATE_HZ


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snr-db", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", choices=["babble", "pink"], default="babble")
    args = ap.parse_args()
    src = CACHE_DIR / "heldout"
    rows = [line.split("\t") for line in (src / "MANIFEST.tsv").read_text().splitlines() if line]
    waves = {p: torch.from_numpy(sf.read(str(src / p), dtype="float32")[0]) for _, p, _ in rows}
    out = CACHE_DIR / f"heldout_{args.noise}{args.snr_db:g}"
    r = random.Random(args.seed)
    for s, p, _ in rows:
        w = waves[p]
        if args.noise == "pink":
            noise = shaped_noise(w.shape[0], 1.0, r.getrandbits(31))
        else:
            others = [waves[o] for _, o, _ in r.sample(rows, 5)]
            noise = sum(o.repeat(-(-w.shape[0] // max(1, o.shape[0])))[: w.shape[0]] for o in others)
        y = add_at_snr(w, noise, args.snr_db).clamp(-1, 1).numpy()
        (out / s).mkdir(parents=True, exist_ok=True)
        sf.write(str(out / p), np.round(y * 32767).astype(np.int16), SAMPLE_RATE_HZ, subtype="PCM_16")
    (out / "MANIFEST.tsv").write_text("".join("\t".join(row) + "\n" for row in rows))
    print(f"{len(rows)} clips -> {out}")


if __name__ == "__main__":
    main()
