"""Chooses the gateway denoiser's defaults: greedy WER of a checkpoint on a held-out subset, clean and with babble
(the `noisy_manifest` WAVs), with denoise off and with the spectral subtractor (numpy mirror) at each setting of a
small grid of over-subtraction x spectral floor. The gateway's acceptance asks for >= 10% relative fewer errors on
5 dB babble at <= 3% relative cost on clean speech, so both columns are printed per setting.
Usage: python3 -m voxgate_train.tune_denoise [--checkpoint PATH] [--per-set 40] [--snr-db 5] [--chunk 8]
"""
import argparse
import itertools

import numpy as np
import soundfile as sf
import torch

from .common import CACHE_DIR, TRAINING_DIR, word_errors
from .evaluate import load_model, sample_per_set, transcribe
from .spectral_subtraction import spectral_subtract


def wer(model, waves: list[torch.Tensor], refs: list[str], chunk: int, options: dict | None) -> float:
    errors = words = 0
    for w, ref in zip(waves, refs):
        if options is not None:
            w = torch.from_numpy(spectral_subtract(w.numpy().astype(np.float64), **options).astype(np.float32))
        e, n = word_errors(ref, transcribe(model, w, chunk))
        errors, words = errors + e, words + n
    return 100.0 * errors / max(1, words)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(TRAINING_DIR / "checkpoints" / "latest.pt"))
    ap.add_argument("--per-set", type=int, default=40)
    ap.add_argument("--snr-db", type=float, default=5.0)
    ap.add_argument("--chunk", type=int, default=8, help="chunk in 40 ms frames (8: the gateway's balanced preset)")
    ap.add_argument("--over-subtraction", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    ap.add_argument("--spectral-floor", type=float, nargs="+", default=[0.02, 0.1, 0.3])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint)
    clean_dir, noisy_dir = CACHE_DIR / "heldout", CACHE_DIR / f"heldout_babble{args.snr_db:g}"
    rows = sample_per_set([line.split("\t") for line in (clean_dir / "MANIFEST.tsv").read_text().splitlines() if line],
                          lambda row: row[0], args.per_set)
    refs = [row[2] for row in rows]

    def load(d):
        return [torch.from_numpy(sf.read(str(d / row[1]), dtype="float32")[0]) for row in rows]

    clean, noisy = load(clean_dir), load(noisy_dir)
    base_clean, base_noisy = wer(model, clean, refs, args.chunk, None), wer(model, noisy, refs, args.chunk, None)
    print(f"{len(rows)} clips, chunk {args.chunk * 40} ms; denoise off: clean {base_clean:.1f}%, "
          f"babble {args.snr_db:g} dB {base_noisy:.1f}%", flush=True)
    print("over_subtraction\tspectral_floor\tclean\tclean_rel\tbabble\tbabble_rel", flush=True)
    for alpha, floor in itertools.product(args.over_subtraction, args.spectral_floor):
        options = {"over_subtraction": alpha, "spectral_floor": floor}
        c, n = wer(model, clean, refs, args.chunk, options), wer(model, noisy, refs, args.chunk, options)
        print(f"{alpha:g}\t{floor:g}\t{c:.1f}\t{100 * (c / base_clean - 1):+.1f}%\t{n:.1f}\t"
              f"{100 * (n / base_noisy - 1):+.1f}%", flush=True)


if __name__ == "__main__":
    main()
