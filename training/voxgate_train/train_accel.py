"""Step 3e: train on an accelerator (CUDA) from packed features (feature_pack), for a fixed wall-clock budget.

Why a separate trainer: an accelerator machine is lent for ~30 minutes per session and reached only through
64 MiB transfers, so the corpus travels as packed clean fbank and the waveform augmentation is redone in the feature
domain (feature_augment). It runs as a daemon that the device tool's short calls start, feed and read:
- it starts from --init (a train.py checkpoint's weights; AdamW moments start afresh under a warm-up), trains on the
  shards already in --inbox and loads every new `shard-*.npz.xz` that appears there between rounds (a round: enough
  passes over the loaded corpus for >= --round-batches batches), so training starts before the whole corpus has
  arrived (shards are ordered real speech first);
- batches of --max-seconds padded audio are augmented by DataLoader workers on the CPU cores; the model runs in
  bf16 autocast (CTC loss in fp32); chunk masks are drawn as in train.py;
- the learning rate follows the clock, not the step count, since the budget is time: warm-up over --warmup steps,
  constant, then a linear decay over the last --decay-fraction of --minutes to --final-lr-factor (a number written
  to <inbox>/minutes replaces --minutes: the device's start-up time is known only after the trainer starts);
- every --eval-minutes it scores the held-out subset (40 clips per set, chunk 160 ms, greedy: the figure train.py
  prints) and saves a snapshot; at the end it averages the snapshots of the last --average-fraction of the time and
  writes final.pt, best.pt (lowest subset WER) and averaged.pt (train.py checkpoint format, weights in fp16, as checkpoints/latest.pt: 10 MB,
  under the tool's 16 MiB per returned file), their subset WERs in log.jsonl, and a `done` marker.
`state.step` counts updates in 90-second-batch equivalents (audio seen / 90 s), so train.py's 1/sqrt schedule
continues sensibly from a checkpoint written here.
Usage: python3 -m voxgate_train.train_accel --inbox DIR --init DIR/init.pt --out runs/accel --minutes 24
"""
import argparse
import json
import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .common import greedy, half_weights, ids_to_text, mean_weights, pad_tail_like_gateway, wer_report, word_errors
from .data import make_batches, pad_features
from .feature_augment import FeatureAugmenter, spec_augment, tile_crop
from .model import ChunkMask, ConformerCtc, ModelConfig, sample_mask
from .packed_features import dequantise, read_shard, starts, steps_to_logmel


class Corpus:
    """Training utterances of every loaded shard (uint8 fbank steps in one array per shard) and the held-out subset."""

    def __init__(self):
        self.shards, self.index, self.loaded = [], [], set()
        self.heldout, self.consts = None, None

    def add(self, path: Path) -> None:
        d = read_shard(path)
        steps = dequantise(d["feats"], d["frames"])
        frame_starts, tok_starts = starts(d["frames"]), starts(d["token_count"])
        s = len(self.shards)
        self.shards.append(steps)
        for i in range(len(d["frames"])):
            span = tuple(int(v) for v in d["span"][i]) if d["span"][i][0] >= 0 else None
            tokens = d["tokens"][tok_starts[i]:tok_starts[i] + d["token_count"][i]].astype(np.int64)
            self.index.append((s, int(frame_starts[i]), int(d["frames"][i]), span, float(d["peak"][i]), tokens,
                               str(d["sets"][d["set_index"][i]])))
        if "const_noise_bank" in d:
            self.consts = {k[6:]: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in d.items()
                           if k.startswith("const_")}
            held = dequantise(d["held_feats"], d["held_frames"])
            h_starts, t_starts = starts(d["held_frames"]), starts(d["held_token_count"])
            self.heldout = [(steps_to_logmel(held[a:a + n]), ids_to_text(d["held_tokens"][b:b + m].tolist()),
                             str(d["held_sets"][d["held_set_index"][i]]))
                            for i, (a, n, b, m) in enumerate(zip(h_starts, d["held_frames"], t_starts,
                                                                 d["held_token_count"]))]
        self.loaded.add(path.name)

    def logmel(self, i: int) -> torch.Tensor:
        s, start, n = self.index[i][:3]
        return steps_to_logmel(self.shards[s][start:start + n])

    def seconds(self) -> float:
        return sum(u[2] for u in self.index) / 100.0


class BatchMaker:
    """DataLoader collate_fn: (seed, utterance indices) -> padded augmented features, targets, mask, seconds."""

    def __init__(self, corpus: Corpus):
        self.corpus = corpus
        self.augment = FeatureAugmenter(corpus.consts, self.babble)

    def babble(self, t: int, r: random.Random) -> torch.Tensor:
        return tile_crop(self.corpus.logmel(r.randrange(len(self.corpus.index))).exp(), t, r)

    def __call__(self, item):
        torch.set_num_threads(1)
        seed, ids = item
        r = random.Random(seed)
        feats, targets = [], []
        for i in ids:
            _, _, _, span, peak, tokens, _ = self.corpus.index[i]
            x = self.corpus.logmel(i)
            if r.random() < 0.75:
                x = self.augment(x, span, peak, r)
            feats.append(spec_augment(pad_tail_like_gateway(x), r))
            targets.append(torch.from_numpy(tokens))
        x, lengths = pad_features(feats)
        seconds = sum(self.corpus.index[i][2] for i in ids) / 100.0
        return x, lengths, torch.cat(targets), torch.tensor([len(t) for t in targets]), sample_mask(r, ModelConfig()), seconds


@torch.no_grad()
def evaluate_heldout(model: ConformerCtc, heldout: list, device, chunk: int = 4, batch: int = 64) -> dict:
    """Held-out subset WER per set and overall (word errors / reference words, as evaluate.evaluate)."""
    model.eval()
    errs: dict[str, list[int]] = {}
    for k in range(0, len(heldout), batch):
        part = heldout[k:k + batch]
        x, lengths = pad_features([pad_tail_like_gateway(f) for f, _, _ in part])
        logp, out_len = model(x.to(device), lengths.to(device), ChunkMask(chunk, model.cfg.left_context))
        for j, (_, text, set_name) in enumerate(part):
            e, n = word_errors(text, greedy(logp[j].float().cpu(), int(out_len[j])))
            acc = errs.setdefault(set_name, [0, 0])
            acc[0] += e
            acc[1] += n
    model.train()
    return wer_report(errs)


def half_checkpoint(model: ConformerCtc, state: dict) -> dict:
    return {"model": half_weights(model.state_dict()), "state": dict(state), "config": model.cfg.to_dict()}


def lr_factor(elapsed_fraction: float, step: int, warmup: int, decay_fraction: float, final: float) -> float:
    """Warm-up over `warmup` steps, then constant, then linear decay to `final` over the last decay_fraction."""
    warm = min(1.0, (step + 1) / warmup)
    into_decay = (elapsed_fraction - (1.0 - decay_fraction)) / decay_fraction
    return warm * (1.0 - (1.0 - final) * min(1.0, max(0.0, into_decay)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inbox", required=True, help="folder the shards arrive in")
    ap.add_argument("--init", required=True, help="train.py-format checkpoint to start from")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, required=True, help="wall-clock training budget")
    ap.add_argument("--max-seconds", type=float, default=480.0, help="padded audio seconds per batch")
    ap.add_argument("--max-utts", type=int, default=256)
    ap.add_argument("--peak-lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--decay-fraction", type=float, default=0.4)
    ap.add_argument("--final-lr-factor", type=float, default=0.03)
    ap.add_argument("--eval-minutes", type=float, default=1.5)
    ap.add_argument("--average-fraction", type=float, default=0.2)
    ap.add_argument("--round-batches", type=int, default=800, help="new shards are picked up between rounds")
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out, inbox = Path(args.out), Path(args.inbox)
    (out / "snapshots").mkdir(parents=True, exist_ok=True)
    log = (out / "log.jsonl").open("a")

    def record(**kv):
        kv["t_min"] = round((time.time() - t_start) / 60, 2)
        log.write(json.dumps(kv) + "\n")
        log.flush()
        print(json.dumps(kv), flush=True)

    t_start = time.time()
    ck = torch.load(args.init, map_location="cpu")
    model = ConformerCtc(ModelConfig(**ck["config"]))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ck["model"].items()})
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.peak_lr, betas=(0.9, 0.98), weight_decay=1e-3)
    base_step = int(ck["state"]["step"])
    state = {"step": base_step, "epoch": ck["state"].get("epoch", 0), "batch": 0, "rewarm": 0, "accel_steps": 0,
             "accel_audio_h": 0.0, "init_step": base_step}
    corpus = Corpus()
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))
    snapshots, t_eval, rounds = [], time.time(), 0
    while not stop:
        for path in sorted(inbox.glob("shard-*.npz.xz")):
            if path.name not in corpus.loaded:
                corpus.add(path)
                record(event="shard", name=path.name, utterances=len(corpus.index), hours=round(corpus.seconds() / 3600, 2))
        if corpus.consts is None:
            time.sleep(2)   # shard 0 (constants, held-out subset) has not arrived yet
            continue
        if rounds == 0:
            record(event="start", step=state["step"], wer=evaluate_heldout(model, corpus.heldout, device))
            t_eval = time.time()
        r = random.Random(rounds)
        items = []
        while len(items) < args.round_batches:
            items += [(r.getrandbits(48), b) for b in make_batches([u[2] for u in corpus.index],
                                                                  args.max_seconds * 100, r, args.max_utts)]
        loader = torch.utils.data.DataLoader(items, batch_size=None, num_workers=args.workers, prefetch_factor=4,
                                             collate_fn=BatchMaker(corpus), pin_memory=device.type == "cuda",
                                             multiprocessing_context="fork")
        t_log, audio_s, loss_sum, n_sum, wait_s, t_wait = time.time(), 0.0, 0.0, 0, 0.0, time.time()
        for x, lengths, targets, target_lengths, mask, seconds in loader:
            wait_s += time.time() - t_wait
            frac = (time.time() - t_start) / (args.minutes * 60)
            lr = args.peak_lr * lr_factor(frac, state["accel_steps"], args.warmup, args.decay_fraction,
                                          args.final_lr_factor)
            for g in opt.param_groups:
                g["lr"] = lr
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                logp, out_len = model(x.to(device, non_blocking=True), lengths.to(device), mask)
            loss = F.ctc_loss(logp.float().transpose(0, 1), targets.to(device), out_len, target_lengths.to(device),
                              blank=0, reduction="sum", zero_infinity=True) / len(target_lengths)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            state["accel_steps"] += 1
            state["accel_audio_h"] += seconds / 3600
            state["step"] = base_step + int(state["accel_audio_h"] * 3600 / 90)
            audio_s += seconds
            loss_sum, n_sum = loss_sum + loss.detach() * len(target_lengths), n_sum + len(target_lengths)
            if state["accel_steps"] % 50 == 0:
                if (inbox / "minutes").exists():   # the budget, corrected once the lease's start-up cost is known
                    args.minutes = float((inbox / "minutes").read_text())
                dt = time.time() - t_log
                record(event="train", accel_steps=state["accel_steps"], step=state["step"], loss=round(float(loss_sum) / n_sum, 3),
                       lr=f"{lr:.2e}", speed_x=round(audio_s / dt), data_wait=round(wait_s / dt, 2),
                       audio_h=round(state["accel_audio_h"], 1))
                t_log, audio_s, loss_sum, n_sum, wait_s = time.time(), 0.0, 0.0, 0, 0.0
            done = frac >= 1.0 or bool(stop)
            if time.time() - t_eval > args.eval_minutes * 60 or done:
                wer = evaluate_heldout(model, corpus.heldout, device)
                path = out / "snapshots" / f"step-{state['step']}.pt"
                torch.save(half_checkpoint(model, dict(state, subset_wer=wer["all"])), path)
                snapshots.append((frac, path))
                record(event="snapshot", step=state["step"], accel_steps=state["accel_steps"], wer=wer)
                t_eval = time.time()
            if done:
                stop.append(True)
                break
            t_wait = time.time()
        rounds += 1
    finish(model, snapshots, args.average_fraction, out, corpus, device, record)


def finish(model, snapshots, average_fraction: float, out: Path, corpus: Corpus, device, record) -> None:
    """final.pt = the last snapshot; best.pt = the snapshot with the lowest subset WER (in case the end overfits);
    averaged.pt = the mean of the snapshots of the last average_fraction of the time."""
    loaded = [(frac, torch.load(p)) for frac, p in snapshots]
    last = loaded[-1][1]
    torch.save(last, out / "final.pt")
    best = min((c for _, c in loaded), key=lambda c: c["state"]["subset_wer"])
    torch.save(best, out / "best.pt")
    cks = [c for frac, c in loaded if frac >= loaded[-1][0] - average_fraction]   # the last one always qualifies
    avg = mean_weights([c["model"] for c in cks])
    model.load_state_dict(avg)
    wer = evaluate_heldout(model, corpus.heldout, device)
    torch.save({"model": half_weights(avg),
                "state": dict(last["state"], averaged_steps=[c["state"]["step"] for c in cks], subset_wer=wer["all"]),
                "config": last["config"]}, out / "averaged.pt")
    record(event="done", averaged_steps=[c["state"]["step"] for c in cks], averaged_wer=wer,
           final_wer=last["state"]["subset_wer"], best_step=best["state"]["step"], best_wer=best["state"]["subset_wer"])
    (out / "done").write_text("done\n")


if __name__ == "__main__":
    main()
