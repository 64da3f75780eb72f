"""Step 6: render the measured tables of the model card (models/<name>/README.md) from the evaluation reports, so the
card's numbers are exactly what `evaluate` (PyTorch) and `evaluate_gateway` (ONNX in Node) measured.

The card's prose is written by hand; this replaces the text between `<!-- tables:begin -->` and
`<!-- tables:end -->`. Usage:
  python3 -m voxgate_train.model_card --card ../models/NAME/README.md --pytorch cache/pytorch-eval.json \
      --pytorch-babble cache/pytorch-eval-babble10.json --gateway cache/gateway-eval/summary.json
"""
import argparse
import json
from pathlib import Path

BEGIN, END = "<!-- tables:begin -->", "<!-- tables:end -->"
TARGETS = {"an4": 15, "sc_testset_v002": 10, "sc_v001_vinsis": 10, "fsdd": 5, "asterisk": 15, "speechocean762": 35}


def pct(x: float) -> str:
    return f"{x:.1f}"


def pytorch_table(report: dict, babble: dict | None) -> list[str]:
    cols = list(report)                                    # chunk_160ms, chunk_320ms, chunk_640ms
    sets = [s for s in report[cols[0]] if s != "all"] + ["all"]
    head = ["set", "target"] + [c.replace("chunk_", "") for c in cols] + (["160ms + 10 dB babble"] if babble else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in sets:
        row = [s, f"<= {TARGETS[s]}" if s in TARGETS else ""] + [pct(report[c][s]) for c in cols]
        if babble:
            row.append(pct(next(iter(babble.values()))[s]))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def gateway_table(summary: dict) -> list[str]:
    runs = summary["clean"]
    sets = sorted(next(iter(runs.values()))["sets"])
    head = ["set"] + [k.replace("_", " ") for k in runs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in sets + ["overall"]:
        vals = [100 * (r["overall"] if s == "overall" else r["sets"][s])["wer"] for r in runs.values()]
        lines.append("| " + " | ".join([s] + [pct(v) for v in vals]) + " |")
    for noise, what in (("babble5", "5 dB babble (held-out clips mixed with 5 other held-out clips; "
                                    "`noisy_manifest --snr-db 5`)"),
                        ("pink5", "5 dB pink noise (`noisy_manifest --snr-db 5 --noise pink`)")):
        if summary.get(noise):
            lines += ["", what + ":", "", "| run | overall WER |", "|---|---|"]
            lines += [f"| {k.replace('_', ' ')} | {pct(100 * r['overall']['wer'])} |" for k, r in summary[noise].items()]
    if "serving_precision" in summary:
        lines += ["", f"Serving precision (`default-precision.txt`): **{summary['serving_precision']}**."]
    return lines


def parity_table(summary: dict, pytorch: dict) -> list[str]:
    """Gateway with the VAD off (whole clips, as PyTorch decodes them), greedy and beam 1, against PyTorch at 160 ms."""
    runs = summary.get("parity") or {}
    greedy, beam1 = runs.get("fp32_160ms_vad_off_greedy"), runs.get("fp32_160ms_vad_off_beam_1")
    if greedy is None or beam1 is None:
        return []
    pt = pytorch["chunk_160ms"]
    lines = ["", "Parity: the exported fp32 model through `voxgate eval --vad off --latency low --min-confidence 0` (each "
             "clip decoded whole, no utterance rejected as noise, as the PyTorch evaluation decodes it) with `--decoder greedy` (best path, as PyTorch decodes) and with "
             "`--beam-size 1 --lm-weight 0` (prefix search), against the PyTorch figure at 160 ms; the difference is "
             "greedy's:", "",
             "| set | gateway greedy | gateway beam 1 | PyTorch | difference (points) |", "|---|---|---|---|---|"]
    def wer(run: dict, s: str) -> float:
        return 100 * (run["overall"] if s == "overall" else run["sets"][s])["wer"]

    for s in sorted(greedy["sets"]) + ["overall"]:
        ref = pt["all" if s == "overall" else s]
        lines.append(f"| {s} | {pct(wer(greedy, s))} | {pct(wer(beam1, s))} | {pct(ref)} | {wer(greedy, s) - ref:+.2f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--card", required=True)
    ap.add_argument("--pytorch", required=True)
    ap.add_argument("--pytorch-babble", default=None)
    ap.add_argument("--gateway", required=True)
    args = ap.parse_args()
    pt = json.loads(Path(args.pytorch).read_text())
    bab = json.loads(Path(args.pytorch_babble).read_text()) if args.pytorch_babble else None
    gw = json.loads(Path(args.gateway).read_text())
    body = ["### PyTorch evaluation (greedy, streaming chunk mask with the exported 2.56 s left context, each clip's "
            "end padded as the gateway pads an utterance's), WER %", ""]
    body += pytorch_table(pt, bab)
    body += ["", "### Exported ONNX in Node (`voxgate eval`: TypeScript DSP, VAD/endpointing, native beam search with "
             "the token LM unless the run says `no lm`), WER %", ""]
    body += gateway_table(gw)
    body += parity_table(gw, pt)
    card = Path(args.card)
    text = card.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    card.write_text(text[:start] + "\n" + "\n".join(body) + "\n" + text[end:])


if __name__ == "__main__":
    main()
