"""Parity fixture for the gateway's ONNX path (test/inference/encoder-pool.test.ts).

Writes, for one real held-out utterance: its fbank features and the log-probs of the PyTorch full-sequence
`model(...)` under ChunkMask(4, left_context) and ChunkMask(16, left_context) (160 ms and 640 ms chunks), which the
streaming ONNX model must reproduce chunk by chunk with carried caches. Raw little-endian float32 .bin files plus
index.json. The index records the sha256 of the model.onnx the fixture belongs to: the test refuses to compare against
a different model and says how to regenerate. Call `dump_parity_fixture` from export (so the fixture always matches the
shipped weights) or run
    python3 -m voxgate_train.fixtures --checkpoint checkpoints/latest.pt --model-dir ../models/NAME \
        --out ../test/fixtures/model
"""
import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from .common import CACHE_DIR, REPO_DIR, SAMPLE_RATE_HZ, TRAINING_DIR, fbank
from .evaluate import load_model
from .model import ChunkMask

PARITY_CHUNKS = (4, 16)  # output frames per chunk: 160 ms and 640 ms


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_f32(path: Path, a: torch.Tensor) -> None:
    path.write_bytes(np.ascontiguousarray(a.detach().cpu().numpy(), dtype="<f4").tobytes())


@torch.no_grad()
def dump_parity_fixture(model, wave16k: torch.Tensor, out_dir, onnx_path=None, clip: dict | None = None) -> dict:
    """Writes feats.bin (T x 80), logp_c<C>.bin (T' x V per chunk size) and index.json into out_dir.

    model: ConformerCtc in eval mode; wave16k: 1-D float waveform in [-1, 1] at 16 kHz; onnx_path: the model.onnx
    exported from the same weights (its sha256 goes into the index); clip: provenance (set, path, text).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    feats = fbank(wave16k.float())                                                  # (T, 80)
    t = feats.shape[0]
    _write_f32(out / "feats.bin", feats)
    index = {
        "about": "PyTorch full-sequence log-probs under streaming chunk masks; written by voxgate_train.fixtures",
        "model_file": None if onnx_path is None else Path(onnx_path).name,
        "model_sha256": None if onnx_path is None else sha256_of(Path(onnx_path)),
        "clip": clip or {},
        "samples": int(wave16k.shape[0]),
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "feat_frames": t,
        "feat_dim": int(feats.shape[1]),
        "feats": "feats.bin",
        "left_context": model.cfg.left_context,
        "vocab_size": model.cfg.vocab_size,
        "chunks": {},
    }
    for c in PARITY_CHUNKS:
        logp, lens = model(feats.unsqueeze(0), torch.tensor([t]), ChunkMask(c, model.cfg.left_context))
        name = f"logp_c{c}.bin"
        _write_f32(out / name, logp[0, : int(lens[0])])
        index["chunks"][str(c)] = {"chunk_ms": 40 * c, "file": name, "frames": int(lens[0])}
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index


def pick_heldout_clip(set_name: str = "an4", min_words: int = 3, min_s: float = 1.5, max_s: float = 3.5) -> dict:
    """First clip (manifest order) of training/cache/heldout/MANIFEST.tsv with enough words and a short duration."""
    heldout = CACHE_DIR / "heldout"
    for line in (heldout / "MANIFEST.tsv").read_text().splitlines():
        s, path, text = line.split("\t")
        if s != set_name or len(text.split()) < min_words:
            continue
        info = sf.info(str(heldout / path))
        if min_s <= info.duration <= max_s:
            return {"set": s, "path": path, "text": text}
    raise SystemExit(f"no held-out {set_name} clip with >= {min_words} words in [{min_s}, {max_s}] s")


def dump_heldout_fixture(model, onnx_path, out_dir=REPO_DIR / "test" / "fixtures" / "model") -> dict:
    """The one-liner for export: the fixture for the standard held-out clip, tied to onnx_path's sha256. The clip
    (4-6 s) is longer than the 2.56 s attention cache plus a chunk, so the test also covers frames leaving the cache."""
    clip = pick_heldout_clip("speechocean762", min_words=4, min_s=4.0, max_s=6.0)
    x, sr = sf.read(str(CACHE_DIR / "heldout" / clip["path"]), dtype="float32")
    assert sr == SAMPLE_RATE_HZ, sr
    return dump_parity_fixture(model, torch.from_numpy(x), out_dir, onnx_path, clip)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(TRAINING_DIR / "checkpoints" / "latest.pt"))
    ap.add_argument("--model-dir", default=str(REPO_DIR / "models" / "voxgate-conformer-ctc-en"),
                    help="directory whose model.onnx was exported from --checkpoint")
    ap.add_argument("--out", default=str(REPO_DIR / "test" / "fixtures" / "model"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    onnx_path = Path(args.model_dir) / "model.onnx"
    index = dump_heldout_fixture(load_model(args.checkpoint), onnx_path if onnx_path.exists() else None, args.out)
    clip = index["clip"]
    size = sum(p.stat().st_size for p in Path(args.out).iterdir())
    print(f"{args.out}: {clip['path']} {clip['text']!r}, {index['feat_frames']} frames, {size / 1e3:.0f} kB, "
          f"model sha256 {index['model_sha256']}")


if __name__ == "__main__":
    main()
