"""Step 4: export a checkpoint to ONNX in the NeMo streaming-CTC layout sherpa-onnx binds by position
(shared/docs/model-interface.md), plus tokens.txt and an int8 variant.

Inputs: audio_signal (B, 80, T) | length (B) | cache_last_channel (B, layers, left, 2D) |
cache_last_time (B, layers, D, K-1) | cache_last_channel_len (B). Outputs: log_probs (B, T', V) |
encoded_lengths (B) | the three next states. The time axis is dynamic: a chunk of C output frames takes
T = 4C + 3 feature frames (hop 4C); the metadata's window_size/chunk_shift describe C = 4 (160 ms) for sherpa.

int8 (ONNX Runtime's Python quantiser is not in Debian, so the graph is rewritten here with python3-onnx): every
MatMul whose second input is a constant weight becomes: per-row activation scale max|x| / 127 -> round(x / scale)
+ 128 as uint8 -> MatMulInteger(x_u8 with zero point 128, W_s8) -> Cast -> Mul(w_scale per output column) ->
Mul(x_scale per row). Weights are symmetric per-column int8; convolutions stay fp32 (the depthwise 1-D ones
rewritten as 2-D for ONNX Runtime's fast kernels, in both files: `depthwise_conv1d_as_2d`). Per-row rather than
DynamicQuantizeLinear's per-tensor scale: a row is one frame of one stream, so a stream's codes never depend on the
other streams the gateway batches with it (a loud co-tenant would otherwise coarsen a quiet stream), and batching
stays exact as in fp32. Same accuracy against fp32 and the same speed at batch 8 on this machine.
It also regenerates test/fixtures/model/ (the PyTorch reference the streaming-parity test compares against).
Usage: python3 -m voxgate_train.export --checkpoint training/checkpoints/latest.pt --out models/NAME
"""
import argparse
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from .common import TOKENS, TRAINING_DIR
from .evaluate import load_model
from .fixtures import dump_heldout_fixture

SHERPA_CHUNK = 4  # output frames per sherpa chunk (160 ms)


class NemoStreamingWrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, audio_signal, length, cache_last_channel, cache_last_time, cache_last_channel_len):
        return self.model.forward_chunk(audio_signal.transpose(1, 2), length, cache_last_channel, cache_last_time,
                                        cache_last_channel_len)


def export_fp32(model, path: Path, meta: dict) -> None:
    cfg = model.cfg
    t = 4 * (SHERPA_CHUNK - 1) + 7
    kv, conv, cl = model.zero_caches(1)
    args = (torch.randn(1, cfg.feat_dim, t), torch.tensor([t]), kv, conv, cl)
    names_in = ["audio_signal", "length", "cache_last_channel", "cache_last_time", "cache_last_channel_len"]
    names_out = ["log_probs", "encoded_lengths", "cache_last_channel_next", "cache_last_time_next",
                 "cache_last_channel_len_next"]
    dyn = {n: {0: "B"} for n in names_in + names_out}
    dyn["audio_signal"][2] = "T"
    dyn["log_probs"][1] = "T_out"
    torch.onnx.export(NemoStreamingWrapper(model), args, str(path), input_names=names_in, output_names=names_out,
                      dynamic_axes=dyn, opset_version=17, do_constant_folding=True)
    m = onnx.load(str(path))
    assert [i.name for i in m.graph.input] == names_in, "the exporter dropped an input: sherpa binds by position"
    set_metadata(m, meta)
    depthwise_conv1d_as_2d(m)
    onnx.save(m, str(path))


def depthwise_conv1d_as_2d(m: onnx.ModelProto) -> int:
    """Rewrite every 1-D Conv (the conformer's depthwise causal convolutions) as Unsqueeze -> 2-D Conv over a
    height-1 image -> Squeeze; returns how many. Same arithmetic; why: ONNX Runtime runs a grouped 1-D Conv through
    its generic per-group path (1.3 ms per layer for a batch of 32 chunks of 320 ms on this machine, 11% of the
    model call) and a depthwise 2-D Conv through its NCHWc kernels (0.05 ms)."""
    m.graph.initializer.append(numpy_helper.from_array(np.array([2], np.int64), "conv2d_height_axis"))

    def as_2d(node: onnx.NodeProto, w: onnx.TensorProto) -> list[onnx.NodeProto]:
        w2 = numpy_helper.from_array(numpy_helper.to_array(w)[:, :, None, :], w.name + "_2d")
        m.graph.initializer.append(w2)
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        for k in ("kernel_shape", "strides", "dilations"):
            if k in attrs:
                attrs[k] = [1, *attrs[k]]
        if "pads" in attrs:
            attrs["pads"] = [0, attrs["pads"][0], 0, attrs["pads"][1]]
        p = node.name + "_2d"
        return [helper.make_node("Unsqueeze", [node.input[0], "conv2d_height_axis"], [p + "_in"], name=p + "_in"),
                helper.make_node("Conv", [p + "_in", w2.name, *node.input[2:]], [p + "_out"], name=p, **attrs),
                helper.make_node("Squeeze", [p + "_out", "conv2d_height_axis"], [node.output[0]], name=p + "_out")]

    return rewrite_weighted_nodes(m, "Conv", 3, as_2d)


def rewrite_weighted_nodes(m: onnx.ModelProto, op_type: str, weight_rank: int, rewrite) -> int:
    """Replace every `op_type` node whose second input is a constant weight of `weight_rank` dimensions by the nodes
    `rewrite(node, weight)` returns (it may add initializers), in graph order; then drop initializers no node uses
    any more and check the model. Returns how many nodes were rewritten."""
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    nodes, count = [], 0
    for node in g.node:
        w = inits.get(node.input[1]) if node.op_type == op_type else None
        if w is None or len(w.dims) != weight_rank:
            nodes.append(node)
            continue
        count += 1
        nodes += rewrite(node, w)
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    onnx.checker.check_model(m)
    return count


def set_metadata(m: onnx.ModelProto, meta: dict) -> None:
    del m.metadata_props[:]
    for k, v in meta.items():
        m.metadata_props.add(key=k, value=str(v))


def metadata_for(model, name: str) -> dict:
    cfg = model.cfg
    return {
        "model_type": "EncDecCTCModelBPE", "model_author": "voxgate", "voxgate_model": name,
        "voxgate_architecture": "streaming conformer CTC, dynamic chunk attention, gated heads",
        "window_size": 4 * (SHERPA_CHUNK - 1) + 7, "chunk_shift": 4 * SHERPA_CHUNK,
        "subsampling_factor": 4, "vocab_size": cfg.vocab_size - 1, "normalize_type": "",
        "cache_last_channel_dim1": cfg.num_layers, "cache_last_channel_dim2": cfg.left_context,
        "cache_last_channel_dim3": 2 * cfg.d_model, "cache_last_time_dim1": cfg.num_layers,
        "cache_last_time_dim2": cfg.d_model, "cache_last_time_dim3": cfg.conv_kernel - 1,
        "left_context_frames": cfg.left_context, "right_context_feature_frames": 3, "frame_shift_ms": 10,
        "feature": "kaldi-fbank-80 povey preemph0.97 dither0 snip_edges=false low20 high-400 16kHz [-1,1]",
    }


def quantise_int8(src: Path, dst: Path) -> int:
    """Rewrite constant-weight MatMuls as per-row int8 quantisation + MatMulInteger; returns how many."""
    m = onnx.load(str(src))
    m.graph.initializer.extend([numpy_helper.from_array(np.array(1.0 / 127.0, np.float32), "q_inv127"),
                                numpy_helper.from_array(np.array(1e-30, np.float32), "q_eps"),
                                numpy_helper.from_array(np.array(128.0, np.float32), "q_offset"),
                                numpy_helper.from_array(np.array(128, np.uint8), "q_xzp")])

    def per_row_int8(node: onnx.NodeProto, w: onnx.TensorProto) -> list[onnx.NodeProto]:
        wf = numpy_helper.to_array(w).astype(np.float32)                       # (in, out)
        scale = np.maximum(np.abs(wf).max(axis=0), 1e-8) / 127.0
        wq = np.clip(np.round(wf / scale), -127, 127).astype(np.int8)
        p = f"{node.name or node.output[0]}_q"
        m.graph.initializer.extend([numpy_helper.from_array(wq, p + "_w"),
                                    numpy_helper.from_array(scale.astype(np.float32), p + "_wscale"),
                                    numpy_helper.from_array(np.zeros(wq.shape[1], np.int8), p + "_wzp")])
        x = node.input[0]
        return [
            # x_scale per row (per frame of each stream): max |x| / 127, so q = round(x / x_scale) is in [-127, 127]
            # and a row's codes never depend on the other rows of the batch.
            helper.make_node("Abs", [x], [p + "_abs"], name=p + "_abs"),
            helper.make_node("ReduceMax", [p + "_abs"], [p + "_max"], axes=[-1], keepdims=1, name=p + "_max"),
            helper.make_node("Mul", [p + "_max", "q_inv127"], [p + "_xs0"], name=p + "_xs0"),
            helper.make_node("Add", [p + "_xs0", "q_eps"], [p + "_xs"], name=p + "_xs"),
            helper.make_node("Div", [x, p + "_xs"], [p + "_div"], name=p + "_div"),
            helper.make_node("Round", [p + "_div"], [p + "_round"], name=p + "_round"),
            helper.make_node("Add", [p + "_round", "q_offset"], [p + "_shift"], name=p + "_shift"),
            helper.make_node("Cast", [p + "_shift"], [p + "_x"], to=TensorProto.UINT8, name=p + "_u8"),
            helper.make_node("MatMulInteger", [p + "_x", p + "_w", "q_xzp", p + "_wzp"], [p + "_i32"],
                             name=p + "_mmi"),
            helper.make_node("Cast", [p + "_i32"], [p + "_f"], to=TensorProto.FLOAT, name=p + "_cast"),
            helper.make_node("Mul", [p + "_f", p + "_wscale"], [p + "_fw"], name=p + "_wmul"),
            helper.make_node("Mul", [p + "_fw", p + "_xs"], [node.output[0]], name=p + "_out"),
        ]

    count = rewrite_weighted_nodes(m, "MatMul", 2, per_row_int8)
    onnx.save(m, str(dst))
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(TRAINING_DIR / "checkpoints" / "latest.pt"))
    ap.add_argument("--out", required=True, help="model directory, e.g. models/voxgate-conformer-ctc-en")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(args.checkpoint)
    export_fp32(model, out / "model.onnx", metadata_for(model, out.name))
    n = quantise_int8(out / "model.onnx", out / "model.int8.onnx")
    (out / "tokens.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(TOKENS)))
    for f in ("model.onnx", "model.int8.onnx"):
        print(f"{f}: {(out / f).stat().st_size / 1e6:.2f} MB")
    print(f"int8: {n} MatMuls quantised")
    # The streaming-parity fixture (test/fixtures/model/) must always describe the shipped weights.
    dump_heldout_fixture(model, out / "model.onnx")


if __name__ == "__main__":
    main()
