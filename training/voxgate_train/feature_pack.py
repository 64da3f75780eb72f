"""Step 3d (accelerator runs only): pack the training corpus as clean fbank shards small enough to travel to an
accelerator machine, for train_accel.

Why features and not audio: the device tool moves at most 64 MiB per call; 20 h of 16 kHz int16 audio is 2.3 GB,
the same audio as fbank quantised to 0.25 nat steps, delta-coded along time and xz-compressed is ~4 KB/s (~290 MB,
5 shards). The quantisation error (uniform, +-0.125 nat) is far below a mel band's own frame-to-frame fluctuation.
Each utterance keeps what feature_augment needs to redo the waveform chain: its loud span (augment.loud_span, in
frames) and its peak amplitude. Shard 0 also holds the held-out subset train.py reports (40 clips per set, same
draw) and the constants of the feature-domain chain, fitted here with the real waveform functions: mel centres,
a bank of real fbank of white / pink / brown noise, and the telephony channel's per-bin gain and noise.

Usage: python3 -m voxgate_train.feature_pack [--out cache/accel] [--shard-hours 4.0 --first-shard-hours 2.4]
  [--init runs/main/ckpt.pt]   (also writes init.pt: that checkpoint's weights, fp32, with its counters)
  [--max-hours H]              (only the first H hours: training/README.md's CPU smoke test of the accelerator path)
Shards are ordered real speech first, then synthetic, so an accelerator run that starts on shard 0 and receives the
rest while it trains sees the real speech longest.
"""
import argparse
import random
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch

from .augment import _DOWN8K, _UP16K, loud_span, mulaw_round_trip, shaped_noise
from .common import CACHE_DIR, SAMPLE_RATE_HZ, TRAINING_DIR, fbank, text_to_ids
from .data import AudioStore, load_utterances
from .evaluate import sample_per_set
from .packed_features import quantise, write_shard

FRAME = 160


def pack_one(u) -> dict:
    wave = AudioStore().wave(u)
    span = loud_span(wave)
    first, last = (span[0] // FRAME, -(-span[1] // FRAME)) if span else (-1, -1)
    return {"feats": quantise(fbank(wave)), "span": (first, last), "peak": float(wave.abs().max()),
            "tokens": np.array(text_to_ids(u.text), dtype=np.int8), "set": u.set}


def stack_items(items: list[dict]) -> dict:
    sets = sorted({it["set"] for it in items})
    return {"feats": np.concatenate([it["feats"] for it in items]),
            "frames": np.array([it["feats"].shape[0] for it in items], dtype=np.int32),
            "tokens": np.concatenate([it["tokens"] for it in items]),
            "token_count": np.array([len(it["tokens"]) for it in items], dtype=np.int32),
            "set_index": np.array([sets.index(it["set"]) for it in items], dtype=np.int16), "sets": np.array(sets)}


def write_items(path: Path, items: list[dict], extra: dict) -> int:
    """stack_items + each utterance's loud span and peak + extra, as one shard."""
    return write_shard(path, dict(stack_items(items), span=np.array([it["span"] for it in items], dtype=np.int32),
                                  peak=np.array([it["peak"] for it in items], dtype=np.float32), **extra))


def phone_channel(waves: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bin gain a and level-proportional noise b with P_phone ~ a * P + b * sum_bins(P), fitted on real round
    trips (8 kHz band limit + G.711 mu-law): a from frames where the bin is strong, b from what a leaves over."""
    pc, pp = [], []
    for w in waves:
        pc.append(fbank(w).exp())
        pp.append(fbank(_UP16K(mulaw_round_trip(_DOWN8K(w).clamp(-1, 1)))[: w.shape[0]]).exp())
    pc, pp = torch.cat(pc).double(), torch.cat(pp).double()
    energy = pc.sum(1, keepdim=True)
    share = pc / energy
    gain, noise = torch.zeros(pc.shape[1]), torch.zeros(pc.shape[1])
    for k in range(pc.shape[1]):
        strong = share[:, k] >= share[:, k].quantile(0.7)
        gain[k] = (pp[strong, k] / pc[strong, k]).median()
        noise[k] = ((pp[:, k] - gain[k] * pc[:, k]).clamp(min=0) / energy[:, 0]).median()
    return gain, noise


def constants(real_train: list, store: AudioStore) -> dict:
    mel = lambda f: 1127.0 * np.log1p(np.asarray(f) / 700.0)  # noqa: E731 (kaldi's mel scale)
    lo, hi = mel(20.0), mel(SAMPLE_RATE_HZ / 2 - 400.0)
    centres_mel = lo + (np.arange(80) + 1) * (hi - lo) / 81
    centres_hz = 700.0 * np.expm1(centres_mel / 1127.0)
    noises = [shaped_noise(60 * SAMPLE_RATE_HZ, alpha, 7 + i) for i, alpha in enumerate((0.0, 1.0, 2.0))]
    bank = np.stack([fbank(0.05 * n / n.abs().max()).numpy() for n in noises]).astype(np.float16)
    gain, noise = phone_channel([store.wave(u) for u in random.Random(3).sample(real_train, 150)])
    return {"mel_centres_hz": centres_hz, "noise_bank": bank, "phone_gain": gain.numpy(), "phone_noise": noise.numpy()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(CACHE_DIR / "accel"))
    ap.add_argument("--shard-hours", type=float, default=4.0)
    ap.add_argument("--first-shard-hours", type=float, default=2.4, help="shard 0 travels with init.pt")
    ap.add_argument("--init", default=None, help="a train.py checkpoint whose weights start the accelerator run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-hours", type=float, default=None,
                    help="pack only the first this many hours (a smoke test of the accelerator path on the CPU)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    store = AudioStore()
    train = load_utterances("train")
    r = random.Random(11)
    real = [u for u in train if u.source == "real"]
    synth = [u for u in train if u.source == "synth"]
    r.shuffle(real)
    r.shuffle(synth)
    held = sample_per_set(load_utterances("heldout", include_synth=False), lambda u: u.set, 40)
    if args.init:
        ck = torch.load(args.init)
        torch.save({"model": ck["model"], "state": ck["state"], "config": ck["config"]}, out / "init.pt")
        print(f"init.pt: weights of {args.init} at step {ck['state']['step']}", flush=True)
    groups, cur, cur_s, limit, total_s = [], [], 0.0, args.first_shard_hours * 3600, 0.0
    for u in real + synth:
        total_s += u.length / SAMPLE_RATE_HZ
        if args.max_hours is not None and total_s > args.max_hours * 3600:
            break
        if cur and cur_s + u.length / SAMPLE_RATE_HZ > limit:
            groups.append(cur)
            cur, cur_s, limit = [], 0.0, args.shard_hours * 3600
        cur.append(u)
        cur_s += u.length / SAMPLE_RATE_HZ
    groups.append(cur)
    first_extra = {f"const_{k}": v for k, v in constants(real, store).items()}
    with Pool(args.workers) as pool:
        first_extra.update({f"held_{k}": v for k, v in stack_items(pool.map(pack_one, held, chunksize=16)).items()})
        for i, group in enumerate(groups):
            items = pool.map(pack_one, group, chunksize=32)
            extra = first_extra if i == 0 else {}
            size = write_items(out / f"shard-{i}.npz.xz", items, extra)
            hours = sum(u.length for u in group) / SAMPLE_RATE_HZ / 3600
            print(f"shard {i}: {len(group)} utterances, {hours:.2f} h, {size / 2**20:.1f} MiB", flush=True)


if __name__ == "__main__":
    main()
