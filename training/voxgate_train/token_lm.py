"""Step 4b: the token n-gram language model the gateway's decoder fuses with the acoustic model (shallow fusion).

Why: a CTC model scores each 40 ms frame on its own, so an under-trained one spells words it has never seen
("can u de" for "computer"). A small n-gram over the model's own tokens (characters here), trained on the
training transcripts and the synthetic domain text (never on held-out text), lets the beam search prefer spellings
the domain uses.

Model: an interpolated Kneser-Ney 8-gram over token ids (the blank id doubles as the start-of-utterance padding,
which the search never emits). Why Kneser-Ney: at order 8 a history's few continuations say little about which
tokens are likely after its shorter suffix; counting the distinct left neighbours instead (continuation counts)
does, and it took the gateway's held-out WER from 29.80% (Witten-Bell, order 8) to 29.43% (int8, 320 ms, beam 8);
order 6 / 7 / 10 gave 30.36 / 29.79 / 29.82%. Stored as a backoff automaton, so the decoder needs no strings and
no hashing:
  state = a history (at most order-1 tokens) seen in training; the start state is order-1 paddings;
  arcs of a state = the tokens seen after it, each with log P(token | history) (already interpolated with the
    lower orders) and the state of the longest seen suffix of history + token;
  a token without an arc: backoff_log_weight[state] + the same query at backoff_state[state] (the history minus
    its oldest token); the empty history (state 0) has an arc for every non-blank token, so every query ends;
  final_log_prob[state] = log P(end of utterance | history).
File (little-endian): b"VXLM", then uint32 version=1, order, vocab_size, num_states, num_arcs, start_state; then
int32 arc_start[num_states + 1], int32 backoff_state[num_states], float32 backoff_log_weight[num_states],
float32 final_log_prob[num_states], int32 arc_token[num_arcs], int32 arc_next[num_arcs], float32
arc_log_prob[num_arcs]. Arcs of a state are contiguous and sorted by token. Read by src/inference/token-lm.ts.
Usage: python3 -m voxgate_train.token_lm [--order 8] [--smoothing kn|wb]
                                          [--out ../models/voxgate-conformer-ctc-en/token-lm.bin]
"""
import argparse
import math
import struct
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from .common import BLANK_ID, REPO_DIR, TOKENS, text_to_ids
from .data import load_utterances

END = -1  # end of utterance, an outcome but not a token


def build(sentences: list[list[int]], order: int, vocab_size: int, smoothing: str = "kn") -> dict:
    """smoothing: "kn" (interpolated Kneser-Ney) or "wb" (Witten-Bell, the LM shipped before session 8)."""
    pad = [BLANK_ID] * (order - 1)
    counts: list[dict[tuple, Counter]] = [defaultdict(Counter) for _ in range(order)]
    for ids in sentences:
        seq = pad + ids + [END]
        for i in range(order - 1, len(seq)):
            for k in range(order):
                counts[k][tuple(seq[i - k:i])][seq[i]] += 1
    tables = continuation_counts(counts, order) if smoothing == "kn" else counts
    discounts = [discount(tables[k]) for k in range(order)]
    outcomes = [t for t in range(vocab_size) if t != BLANK_ID] + [END]

    def own_and_backoff(h: tuple, c: int) -> tuple[float, float]:
        """P(c|h) = own + backoff * P(c|h'). Witten-Bell: own = n(h,c) / (n(h) + types(h)), backoff = types(h) /
        (n(h) + types(h)). Kneser-Ney: own = max(n(h,c) - D, 0) / n(h), backoff = D types(h) / n(h), where n counts
        distinct left neighbours (continuation counts) below the top order, outside sentence starts."""
        cnt = tables[len(h)][h]
        n, types = sum(cnt.values()), len(cnt)
        if smoothing == "kn":
            d = discounts[len(h)]
            return max(cnt[c] - d, 0.0) / n, d * types / n
        return cnt[c] / (n + types), types / (n + types)

    memo: dict[tuple, float] = {}

    def prob(h: tuple, c: int) -> float:
        if (h, c) in memo:
            return memo[(h, c)]
        # h is a seen history (a state or the suffix of one), so it has counts of its own
        lower = 1.0 / len(outcomes) if not h else prob(h[1:], c)
        own, backoff = own_and_backoff(h, c)
        p = own + backoff * lower
        memo[(h, c)] = p
        return p

    histories = sorted({h for k in range(order) for h in counts[k]}, key=lambda h: (len(h), h))
    index = {h: i for i, h in enumerate(histories)}
    assert histories[0] == ()

    def state_of(s: tuple) -> int:
        s = s[len(s) - (order - 1):] if len(s) > order - 1 else s
        while s not in index:
            s = s[1:]
        return index[s]

    arc_start, arc_token, arc_next, arc_lp = [0], [], [], []
    backoff_state, backoff_lw, final_lp = [], [], []
    for h in histories:
        cnt = tables[len(h)][h]
        seen = [t for t in outcomes if t != END and (cnt[t] > 0 or not h)]
        for t in seen:
            arc_token.append(t)
            arc_next.append(state_of(h + (t,)))
            arc_lp.append(math.log(prob(h, t)))
        arc_start.append(len(arc_token))
        backoff_state.append(index[h[1:]] if h else -1)
        backoff_lw.append(math.log(own_and_backoff(h, END)[1]) if h else 0.0)
        final_lp.append(math.log(prob(h, END)))
    return dict(order=order, vocab_size=vocab_size, start_state=index[tuple(pad)],
                arc_start=arc_start, backoff_state=backoff_state, backoff_log_weight=backoff_lw,
                final_log_prob=final_lp, arc_token=arc_token, arc_next=arc_next, arc_log_prob=arc_lp)


def continuation_counts(counts: list[dict[tuple, Counter]], order: int) -> list[dict[tuple, Counter]]:
    """Kneser-Ney's lower-order tables: n(h, c) = how many distinct tokens precede h c. The top order and the
    histories that start with the sentence-start padding (nothing can precede them) keep their raw counts."""
    tables = [defaultdict(Counter) for _ in range(order)]
    tables[order - 1] = counts[order - 1]
    for k in range(order - 1):
        for longer, cnt in counts[k + 1].items():
            for c in cnt:
                tables[k][longer[1:]][c] += 1
        for h, cnt in counts[k].items():
            if h and h[0] == BLANK_ID:
                tables[k][h] = cnt
    return tables


def discount(table: dict[tuple, Counter]) -> float:
    """The absolute discount D = n1 / (n1 + 2 n2) from how many n-grams were seen once and twice (Ney et al.)."""
    n1 = sum(1 for cnt in table.values() for v in cnt.values() if v == 1)
    n2 = sum(1 for cnt in table.values() for v in cnt.values() if v == 2)
    return min(max(n1 / (n1 + 2 * n2), 0.1), 0.9) if n1 + n2 else 0.5


def write(lm: dict, path: Path) -> None:
    num_states, num_arcs = len(lm["backoff_state"]), len(lm["arc_token"])
    with open(path, "wb") as f:
        f.write(b"VXLM" + struct.pack("<6I", 1, lm["order"], lm["vocab_size"], num_states, num_arcs,
                                      lm["start_state"]))
        for name, dtype in [("arc_start", "<i4"), ("backoff_state", "<i4"), ("backoff_log_weight", "<f4"),
                            ("final_log_prob", "<f4"), ("arc_token", "<i4"), ("arc_next", "<i4"),
                            ("arc_log_prob", "<f4")]:
            f.write(np.asarray(lm[name], dtype=dtype).tobytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--order", type=int, default=8)
    ap.add_argument("--smoothing", choices=["kn", "wb"], default="kn")
    ap.add_argument("--out", default=str(REPO_DIR / "models" / "voxgate-conformer-ctc-en" / "token-lm.bin"))
    args = ap.parse_args()
    sentences = [ids for ids in (text_to_ids(u.text) for u in load_utterances("train")) if ids]
    lm = build(sentences, args.order, len(TOKENS), args.smoothing)
    write(lm, Path(args.out))
    print(f"{len(sentences)} training transcripts -> {args.out}: order {args.order}, {args.smoothing}, "
          f"{len(lm['backoff_state'])} states, {len(lm['arc_token'])} arcs, {Path(args.out).stat().st_size} bytes")


if __name__ == "__main__":
    main()
