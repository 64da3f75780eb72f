"""Step 3b: checkpoint averaging: the mean of the weights of the newest training snapshots, as one checkpoint that
`evaluate` and `export` read (the format of checkpoints/latest.pt, in fp32).

Why: the learning rate decays as 1/sqrt(step) and is still ~5e-4 when a session has to stop, so the last weights
sit at a random point of the noise around the minimum the run is heading for; the mean of snapshots spread over the
last epoch or so lies closer to it (Izmailov et al. 2018, SWA; WeNet and ESPnet ship averaged models the same way).
The model has LayerNorm only (no batch statistics), so averaging every float tensor is all there is to it.

Snapshots: train.py writes runs/<run>/snapshots/step-<N>.pt at every save (weights only, fp32); --last picks the
newest N by step. --compare prints the held-out subset WER (40 clips per set, 160 ms, greedy: the figure train.py
prints after each epoch) of the newest snapshot and of the average, so the better one can be exported.
Usage: python3 -m voxgate_train.average [--run main] [--last 6] [--out runs/main/averaged.pt] [--compare]
"""
import argparse
from pathlib import Path

import torch

from .common import TRAINING_DIR, mean_weights
from .data import AudioStore
from .evaluate import evaluate_subset, load_model
from .train import snapshot_step


def average(paths: list[Path]) -> dict:
    """Mean of every float tensor over the checkpoints in `paths`; other tensors, counters and config: the newest."""
    cks = [torch.load(p) for p in sorted(paths, key=snapshot_step)]
    newest = cks[-1]
    if any(ck["config"] != newest["config"] for ck in cks):
        raise SystemExit("snapshots of different model configurations cannot be averaged")
    model = mean_weights([ck["model"] for ck in cks])
    steps = [ck["state"]["step"] for ck in cks]
    return {"model": model, "state": dict(newest["state"], averaged_steps=steps), "config": newest["config"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="main")
    ap.add_argument("--last", type=int, default=6, help="how many of the newest snapshots to average")
    ap.add_argument("--out", default=None, help="default: runs/<run>/averaged.pt")
    ap.add_argument("--compare", action="store_true", help="print the held-out subset WER of newest vs average")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    run_dir = TRAINING_DIR / "runs" / args.run
    snapshots = sorted((run_dir / "snapshots").glob("step-*.pt"), key=snapshot_step)
    if args.last < 2 or len(snapshots) < args.last:
        raise SystemExit(f"--last must be >= 2 and at most the {len(snapshots)} snapshots in {run_dir / 'snapshots'}, "
                         f"got {args.last}")
    chosen = snapshots[-args.last:]
    out = Path(args.out) if args.out else run_dir / "averaged.pt"
    averaged = average(chosen)
    torch.save(averaged, out)
    print(f"averaged steps {averaged['state']['averaged_steps']} -> {out}", flush=True)
    if args.compare:
        store = AudioStore()
        for label, path in (("newest", chosen[-1]), ("average", out)):
            report = evaluate_subset(load_model(path), store, per_set=40, chunk=4)
            print(f"{label}: held-out subset WER (160 ms) {report}", flush=True)


if __name__ == "__main__":
    main()
