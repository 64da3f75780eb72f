"""Step 5b: evaluate the EXPORTED model the way the gateway runs it (ONNX in onnxruntime-node, the TypeScript DSP
pipeline, VAD/endpointing and the native beam search), with `voxgate eval` on the held-out manifest.

Runs (each a `voxgate eval --json`): fp32 and int8 at 160 / 320 / 640 ms chunks (or the --latencies given) on clean
held-out audio, and the serving precision on 5 dB babble and 5 dB pink noise (when `noisy_manifest` made them)
with denoise off and on, and at 320 ms without the token LM (`--lm-weight 0`, what the LM is worth). Plus the
parity runs: fp32 at 160 ms with the VAD off, the greedy decoder and no utterance rejected as noise
(`--min-confidence 0`), i.e. each whole clip decoded as the PyTorch evaluation decodes it, so its WER differs from
the PyTorch figure only by the gateway's features and ONNX run; and the same with beam 1 and no LM (prefix search,
which sums a prefix's paths). `model_card` prints both per set.
Writes every report plus a summary to --out, and decides models/<name>/default-precision.txt: int8 when its overall
WER at the default chunk (320 ms) is within 5% (relative) of fp32's, else fp32.
Needs `npm ci` (or `npm run build`) first, and steps 1 and `noisy_manifest --snr-db 5 [--noise pink]`.
Usage: python3 -m voxgate_train.evaluate_gateway --model ../models/voxgate-conformer-ctc-en --out cache/gateway-eval
"""
import argparse
import json
import subprocess
import time
from pathlib import Path

from .common import CACHE_DIR, REPO_DIR

LATENCY_MS = {"low": 160, "balanced": 320, "accurate": 640}
# (summary key, file name, flags): the first is THE parity figure (model_card's "difference" column).
PARITY_RUNS = [("fp32_160ms_vad_off_greedy", "greedy", ("--decoder", "greedy")),
               ("fp32_160ms_vad_off_beam_1", "beam-1", ("--beam-size", "1", "--lm-weight", "0"))]


def run_eval(manifest: Path, model: Path, precision: str, latency: str, denoise: str, out: Path,
             extra: tuple[str, ...] = ()) -> dict:
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["node", str(REPO_DIR / "dist" / "src" / "cli" / "main.js"), "eval", str(manifest), "--model", str(model),
           "--precision", precision, "--latency", latency, "--denoise", denoise, "--concurrency", "8",
           "--encoder-workers", "2",  # both cores: the eval is bound by the encoder (bench/ numbers in the README)
           "--json", str(out), "--out", str(out.with_suffix(".hyps.tsv")), *extra]
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    report = json.loads(out.read_text())
    report["seconds"] = round(time.time() - t0, 1)
    print(f"{precision} {LATENCY_MS[latency]} ms denoise={denoise} {' '.join(extra)} {manifest.parent.name}: "
          f"WER {100 * report['overall']['wer']:.2f}% ({report['seconds']} s)", flush=True)
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO_DIR / "models" / "voxgate-conformer-ctc-en"))
    ap.add_argument("--out", default=str(CACHE_DIR / "gateway-eval"))
    ap.add_argument("--latencies", nargs="+", default=["low", "balanced", "accurate"], choices=list(LATENCY_MS))
    ap.add_argument("--precisions", nargs="+", default=["fp32", "int8"], choices=["fp32", "int8"])
    ap.add_argument("--parity-only", action="store_true", help="only the parity run (updates summary.json's parity)")
    args = ap.parse_args()
    model, out = Path(args.model).resolve(), Path(args.out)
    clean = CACHE_DIR / "heldout" / "MANIFEST.tsv"
    parity = {key: run_eval(clean, model, "fp32", "low", "off", out / f"parity-fp32-160-{name}.json",
                            ("--vad", "off", "--min-confidence", "0", *flags))
              for key, name, flags in PARITY_RUNS}
    if args.parity_only:
        summary = json.loads((out / "summary.json").read_text())
        summary["parity"] = parity
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return
    summary: dict = {"clean": {}, "parity": parity}
    for p in args.precisions:
        for lat in args.latencies:
            r = run_eval(clean, model, p, lat, "off", out / f"clean-{p}-{LATENCY_MS[lat]}.json")
            summary["clean"][f"{p}_{LATENCY_MS[lat]}ms"] = r
    default = "balanced" if "balanced" in args.latencies else args.latencies[0]
    key = LATENCY_MS[default]
    if "fp32" in args.precisions and "int8" in args.precisions:
        fp32 = summary["clean"][f"fp32_{key}ms"]["overall"]["wer"]
        int8 = summary["clean"][f"int8_{key}ms"]["overall"]["wer"]
        serve = "int8" if int8 <= 1.05 * fp32 else "fp32"
        (model / "default-precision.txt").write_text(serve + "\n")
        summary["serving_precision"] = serve
        print(f"serving precision: {serve} (int8 {100 * int8:.2f}% vs fp32 {100 * fp32:.2f}% at {key} ms)")
    serve = summary.get("serving_precision", args.precisions[0])
    for noise in ("babble5", "pink5"):
        noisy = CACHE_DIR / f"heldout_{noise}" / "MANIFEST.tsv"
        if noisy.exists():
            summary.setdefault(noise, {})
            for dn in ("off", "spectral"):
                summary[noise][f"{serve}_{key}ms_denoise_{dn}"] = run_eval(
                    noisy, model, serve, default, dn, out / f"{noise}-{serve}-{key}-{dn}.json")
    summary["clean"][f"{serve}_{key}ms_denoise_spectral"] = run_eval(
        clean, model, serve, default, "spectral", out / f"clean-{serve}-{key}-spectral.json")
    summary["clean"][f"{serve}_{key}ms_no_lm"] = run_eval(clean, model, serve, default, "off",
                                                          out / f"clean-{serve}-{key}-no-lm.json", ("--lm-weight", "0"))
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
