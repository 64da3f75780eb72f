"""Step 5: PyTorch evaluation on the held-out split: greedy CTC WER per set at chunk 160 / 320 / 640 ms (the
streaming chunk mask with the exported left context, which forward_chunk reproduces exactly; each clip's end padded
as the gateway pads an utterance, common.pad_tail_like_gateway), optionally with 10 dB babble.
Usage: python3 -m voxgate_train.evaluate [--checkpoint PATH] [--chunks 4 8 16] [--babble-db 10]
"""
import argparse
import json
import random
from pathlib import Path

import torch

from .augment import add_at_snr
from .common import TRAINING_DIR, fbank, greedy, pad_tail_like_gateway, wer_report, word_errors
from .data import AudioStore, load_utterances
from .model import ChunkMask, ConformerCtc, ModelConfig


@torch.no_grad()
def transcribe(model: ConformerCtc, wave: torch.Tensor, chunk: int) -> str:
    feats = pad_tail_like_gateway(fbank(wave)).unsqueeze(0)
    mask = ChunkMask(chunk, model.cfg.left_context) if chunk > 0 else ChunkMask(0, 0)
    logp, lens = model(feats, torch.tensor([feats.shape[1]]), mask)
    return greedy(logp[0], int(lens[0]))


def evaluate(model, store, utts, chunk: int, babble_db: float | None = None, seed: int = 0) -> dict:
    r = random.Random(seed)
    errs: dict[str, list[int]] = {}
    for u in utts:
        w = store.wave(u)
        if babble_db is not None:
            others = [store.wave(o) for o in r.sample(utts, 5)]
            noise = sum(o.repeat(-(-w.shape[0] // max(1, o.shape[0])))[: w.shape[0]] for o in others)
            w = add_at_snr(w, noise, babble_db).clamp(-1, 1)
        e, n = word_errors(u.text, transcribe(model, w, chunk))
        acc = errs.setdefault(u.set, [0, 0])
        acc[0] += e
        acc[1] += n
    return wer_report(errs)


def sample_per_set(items: list, set_of, per_set: int) -> list:
    """At most per_set items of every set (`set_of(item)` names it), drawn with a fixed seed per set."""
    by_set: dict[str, list] = {}
    for item in items:
        by_set.setdefault(set_of(item), []).append(item)
    return [x for s in by_set.values() for x in random.Random(0).sample(s, min(per_set, len(s)))]


def evaluate_subset(model, store, per_set: int, chunk: int) -> dict:
    subset = sample_per_set(load_utterances("heldout", include_synth=False), lambda u: u.set, per_set)
    return evaluate(model, store, subset, chunk)


# The shipped model's weights left the tree when it shipped as final (the model issue's rule for latest.pt); git
# history keeps them, so the scripts that need them say where to find them instead of failing on a bare path.
SHIPPED_WEIGHTS = "7b616c3acd137d72b3c9a4dd1841aef9dbe4aee3:training/checkpoints/latest.pt"


def load_model(path) -> ConformerCtc:
    if not Path(path).exists():
        raise SystemExit(f"no checkpoint at {path}; the shipped model's weights are in git history: "
                         f"git show {SHIPPED_WEIGHTS} > {path}")
    ck = torch.load(path)
    model = ConformerCtc(ModelConfig(**ck["config"]))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ck["model"].items()})
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(TRAINING_DIR / "checkpoints" / "latest.pt"))
    ap.add_argument("--chunks", type=int, nargs="+", default=[4, 8, 16], help="chunk sizes in 40 ms frames")
    ap.add_argument("--babble-db", type=float, default=None)
    ap.add_argument("--json", default=None, help="write the report here")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, store = load_model(args.checkpoint), AudioStore()
    utts = load_utterances("heldout", include_synth=False)
    out = {}
    for c in args.chunks:
        out[f"chunk_{c * 40}ms"] = evaluate(model, store, utts, c, args.babble_db)
        print(f"chunk {c * 40} ms{'' if args.babble_db is None else f' babble {args.babble_db} dB'}: "
              f"{out[f'chunk_{c * 40}ms']}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
