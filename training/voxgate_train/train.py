"""Step 3: train the streaming conformer CTC model with dynamic chunk masks. Resumable.

State: training/runs/<run>/ckpt.pt (full: weights, optimiser, step, RNG; not in git) is written every
--save-minutes and at the end of every epoch, and with it a weights-only fp32 snapshot
runs/<run>/snapshots/step-<N>.pt (the newest --snapshots kept) for `voxgate_train.average`, and
training/checkpoints/latest.pt (weights in fp16 + counters, committed between sessions while a model trains), so a
new machine resumes from git alone (optimiser moments are rebuilt after a short re-warm-up); `--init PATH` starts a
new run the same way from another weights-only checkpoint (an accelerator run's final.pt, train_accel).
SIGTERM or SIGINT to the main process (`pkill -o -TERM -f voxgate_train.train`) saves both and exits after the
current step.
Cooldown branch (`--run cool --branch-from main --cooldown-steps N`): starts from runs/main/ckpt.pt (weights and
optimiser), scales the learning rate linearly from 1 down to --cooldown-final over N steps, then saves and exits. Why:
the schedule decays as 1/sqrt(step) with no end, so a session ships weights trained at a still-high rate; annealing a
copy for a few hundred steps (the "decay" phase of a warmup-stable-decay schedule) is the low-rate model the main run
would reach, while the main run continues next session from its own un-annealed state. A branch (any run with
--cooldown-steps) never writes checkpoints/latest.pt.
Chunk masks: each batch draws full context (25%) or a chunk of 1-25 output frames (40 ms to 1 s) with a left
context of 16-64 frames, so one model serves every chunk size at run time.
"""
import argparse
import math
import random
import signal
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .augment import Augmenter, maybe_denoise
from .common import SAMPLE_RATE_HZ, TRAINING_DIR, fbank, half_weights, pad_tail_like_gateway
from .data import AudioStore, collate, load_utterances, make_batches
from .evaluate import SHIPPED_WEIGHTS, evaluate_subset
from .feature_augment import spec_augment
from .model import ConformerCtc, ModelConfig, sample_mask

LATEST = TRAINING_DIR / "checkpoints" / "latest.pt"


def lr_at(step: int, peak: float, warmup: int) -> float:
    return peak * min((step + 1) / warmup, math.sqrt(warmup / (step + 1)))


def compute_cmvn(utts, store, r: random.Random, n: int = 600):
    feats = torch.cat([fbank(store.wave(u)) for u in r.sample(utts, min(n, len(utts)))])
    return feats.mean(0), 1.0 / feats.std(0).clamp(min=1e-3)


def snapshot_step(path: Path) -> int:
    return int(path.stem.split("-")[1])


def save(run_dir: Path, model, opt, state: dict, keep_snapshots: int, write_latest: bool = True) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "state": state,
                "config": model.cfg.to_dict()}, run_dir / "ckpt.tmp")
    (run_dir / "ckpt.tmp").replace(run_dir / "ckpt.pt")
    snapshots = run_dir / "snapshots"
    snapshots.mkdir(exist_ok=True)
    torch.save({"model": model.state_dict(), "state": state, "config": model.cfg.to_dict()},
               snapshots / f"step-{state['step']}.pt")
    for old in sorted(snapshots.glob("step-*.pt"), key=snapshot_step)[:-keep_snapshots]:
        old.unlink()
    if not write_latest:
        return
    LATEST.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": half_weights(model.state_dict()), "state": state, "config": model.cfg.to_dict()}, LATEST.with_suffix(".tmp"))
    LATEST.with_suffix(".tmp").replace(LATEST)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="main")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--max-seconds", type=float, default=120.0, help="padded audio seconds per batch")
    ap.add_argument("--peak-lr", type=float, default=1.5e-3)
    ap.add_argument("--warmup", type=int, default=1500)
    ap.add_argument("--save-minutes", type=float, default=10.0)
    ap.add_argument("--snapshots", type=int, default=12, help="weights-only snapshots kept for averaging")
    ap.add_argument("--stop-after-minutes", type=float, default=0.0, help="save and exit after this long (0: off)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init", default=str(LATEST), help="weights-only checkpoint a new run starts from (default: "
                    "checkpoints/latest.pt; e.g. an accelerator run's averaged.pt)")
    ap.add_argument("--branch-from", default=None, help="start a new run from runs/<this>/ckpt.pt (cooldown branch)")
    ap.add_argument("--cooldown-steps", type=int, default=0, help="anneal over this many steps, then stop (0: off)")
    ap.add_argument("--cooldown-final", type=float, default=0.1, help="learning-rate factor at the cooldown's end")
    ap.add_argument("--oversample", action="append", default=[], metavar="SET=K",
                    help="draw this set's training utterances K times per epoch (repeatable)")
    args = ap.parse_args()
    if args.snapshots < 1:
        ap.error(f"--snapshots must be >= 1, got {args.snapshots}")
    if args.cooldown_steps < 0 or not 0 <= args.cooldown_final <= 1:
        ap.error(f"--cooldown-steps must be >= 0 and --cooldown-final in [0, 1], got {args.cooldown_steps}, "
                 f"{args.cooldown_final}")
    if args.branch_from == args.run:
        ap.error(f"--branch-from must name another run than --run, got {args.branch_from}")
    torch.set_num_threads(args.threads)
    run_dir = TRAINING_DIR / "runs" / args.run

    model = ConformerCtc(ModelConfig())
    opt = torch.optim.AdamW(model.parameters(), lr=args.peak_lr, betas=(0.9, 0.98), weight_decay=1e-3)
    state = {"step": 0, "epoch": 0, "batch": 0, "rewarm": 0}
    source = run_dir / "ckpt.pt"
    if not source.exists() and args.branch_from:
        source = TRAINING_DIR / "runs" / args.branch_from / "ckpt.pt"
        if not source.exists():
            raise SystemExit(f"--branch-from {args.branch_from}: {source} does not exist")
    if source.exists():
        ck = torch.load(source)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        if args.branch_from and source != run_dir / "ckpt.pt":
            state["branch_of"] = args.branch_from
        print(f"resumed {source} at step {state['step']}", flush=True)
    elif Path(args.init).exists():
        ck = torch.load(args.init)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ck["model"].items()})
        state = dict(ck["state"], batch=0 if args.init != str(LATEST) else ck["state"]["batch"],
                     rewarm=ck["state"]["step"])
        print(f"resumed weights {args.init} at step {state['step']} (optimiser re-warm-up)", flush=True)
    elif args.init != str(LATEST):
        raise SystemExit(f"--init {args.init} does not exist")
    else:
        # the shipped model's weights left the tree when it shipped as final: say how to start from them, since a
        # run from scratch by mistake would silently redo all of their training
        print(f"no {LATEST}: training from scratch (to start from the shipped weights: "
              f"git show {SHIPPED_WEIGHTS} > {LATEST})", flush=True)

    if args.cooldown_steps:
        state.setdefault("cooldown_from", state["step"])
        state.setdefault("branch_of", args.branch_from or args.init)   # an annealed copy: never latest.pt
    cooldown_end = state.get("cooldown_from", 0) + args.cooldown_steps
    # a branch records where it came from, so resuming it (with or without --branch-from) never writes latest.pt
    write_latest = "branch_of" not in state
    store = AudioStore()
    train_utts = load_utterances("train")
    real_train = [u for u in train_utts if u.source == "real"]
    for spec in args.oversample:
        name, _, times = spec.partition("=")
        extra = [u for u in train_utts if u.set == name]
        if not extra or not times.isdigit() or int(times) < 1:
            raise SystemExit(f"--oversample {spec}: want SET=K with a training set's name and K >= 1")
        train_utts += extra * (int(times) - 1)
    if state["step"] == 0:
        model.feat_mean, model.feat_istd = compute_cmvn(real_train, store, random.Random(0))
    print(f"{len(train_utts)} training utterances "
          f"({sum(u.length for u in train_utts) / 16000 / 3600:.1f} h), params "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M", flush=True)

    # SIGTERM / SIGINT (a session ending, Ctrl-C): finish the step, save, exit: no progress is lost.
    stop_requested = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop_requested.append(True))
    t_start = t_save = time.time()
    while state["epoch"] < args.epochs:
        batches = make_batches([u.length for u in train_utts], args.max_seconds * SAMPLE_RATE_HZ,
                               random.Random(1000 + state["epoch"]))
        prep = BatchPreparer(train_utts, real_train, batches, state["epoch"])
        loader = torch.utils.data.DataLoader(range(state["batch"], len(batches)), batch_size=None,
                                             num_workers=1, prefetch_factor=3, collate_fn=prep,
                                             persistent_workers=False)
        model.train()
        audio_s, t_log, loss_sum, n_sum = 0.0, time.time(), 0.0, 0
        for feats, lengths, targets, mask, seconds in loader:
            logp, out_len = model(feats, lengths, mask)
            tgt_len = torch.tensor([len(t) for t in targets])
            loss = F.ctc_loss(logp.transpose(0, 1), torch.cat(targets), out_len, tgt_len,
                              blank=0, reduction="sum", zero_infinity=True) / len(targets)
            since = state["step"] - state["rewarm"]
            lr = lr_at(state["step"], args.peak_lr, args.warmup) * (min(1.0, (since + 1) / 300)
                                                                     if state["rewarm"] else 1.0)
            if args.cooldown_steps:
                done = min(1.0, (state["step"] - state["cooldown_from"]) / args.cooldown_steps)
                lr *= 1.0 - (1.0 - args.cooldown_final) * done
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            state["step"] += 1
            state["batch"] += 1
            audio_s += seconds
            loss_sum, n_sum = loss_sum + loss.item() * len(targets), n_sum + len(targets)
            if state["step"] % 25 == 0:
                dt = time.time() - t_log
                print(f"ep {state['epoch']} batch {state['batch']}/{len(batches)} step {state['step']} "
                      f"loss {loss_sum / n_sum:.3f} lr {lr:.2e} speed {audio_s / dt:.1f}x", flush=True)
                audio_s, t_log, loss_sum, n_sum = 0.0, time.time(), 0.0, 0
            stop = bool(stop_requested) or (args.stop_after_minutes and
                                            time.time() - t_start > args.stop_after_minutes * 60) or (
                args.cooldown_steps and state["step"] >= cooldown_end)
            if time.time() - t_save > args.save_minutes * 60 or stop:
                save(run_dir, model, opt, state, args.snapshots, write_latest)
                t_save = time.time()
                print(f"saved at step {state['step']}", flush=True)
                if stop:
                    return
        model.eval()
        report = evaluate_subset(model, store, per_set=40, chunk=4)
        print(f"epoch {state['epoch']} held-out WER (chunk 160 ms, subset): {report}", flush=True)
        state["epoch"] += 1
        state["batch"] = 0
        save(run_dir, model, opt, state, args.snapshots, write_latest)
        # the next periodic save counts from here, so the snapshots stay evenly spaced for averaging
        t_save = time.time()
        print(f"saved at step {state['step']} (end of epoch {state['epoch'] - 1})", flush=True)


class BatchPreparer:
    """Runs in the DataLoader worker: batch index -> augmented, SpecAugmented fbank batch and its chunk mask.
    Seeded by (epoch, batch), so a resumed run sees the same batches it would have seen."""

    def __init__(self, utts, real_utts, batches, epoch: int):
        self.utts, self.real, self.batches, self.epoch = utts, real_utts, batches, epoch
        self.store = AudioStore()
        self.augment = Augmenter(lambda n, r: babble(self.store, self.real, n, r))

    def __call__(self, batch_index: int):
        torch.set_num_threads(1)
        r = random.Random(self.epoch * 1_000_003 + batch_index)
        utts = [self.utts[i] for i in self.batches[batch_index]]
        waves = [self.augment(self.store.wave(u), r) if r.random() < 0.75
                 else maybe_denoise(self.store.wave(u), r, 0.15) for u in utts]
        feats, lengths, targets = collate(waves, [u.text for u in utts], lambda w: spec_augment(pad_tail_like_gateway(fbank(w)), r))
        return feats, lengths, targets, sample_mask(r, ModelConfig()), sum(w.shape[0] for w in waves) / 16000


def babble(store: AudioStore, utts, n: int, r: random.Random) -> torch.Tensor:
    w = store.wave(r.choice(utts))
    reps = -(-n // max(1, w.shape[0]))
    w = w.repeat(reps)
    start = r.randint(0, w.shape[0] - n)
    return w[start:start + n]


if __name__ == "__main__":
    main()
