"""voxgate's streaming conformer CTC model (one file per model family).

Design (why): one network serves every chunk size chosen at run time, so it is trained with dynamic chunk masks
(`ChunkMask`), its convolutions are causal, its positions are relative (a learned per-head bias over clipped
distances: nothing depends on where a chunk sits in the utterance), and each attention head has a sigmoid output
gate. `forward` runs a whole utterance under a chunk mask (training, evaluation); `forward_chunk` runs one chunk
with carried caches (streaming, ONNX export) and reproduces `forward` exactly under the same mask.
Feature normalisation (global mean/std) lives inside the model, as sherpa-onnx expects.
"""
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F

NEG = -10000.0  # additive mask value: large enough to zero a softmax weight, finite so no row turns into NaN


class _Bmm(torch.autograd.Function):
    """Batched matmul as a loop of torch.mm: Debian's CPU torch runs torch.bmm through a slow generic kernel
    (measured 0.5-5 GFLOP/s here) while torch.mm goes through OpenBLAS, so per-slice mm is ~10x faster."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return torch.stack([torch.mm(a[i], b[i]) for i in range(a.shape[0])])

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        n = a.shape[0]
        return (torch.stack([torch.mm(g[i], b[i].t()) for i in range(n)]),
                torch.stack([torch.mm(a[i].t(), g[i]) for i in range(n)]))


def bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(..., M, K) @ (..., K, N) over any leading dims, through _Bmm while training on the CPU (plain matmul for
    export, inference and accelerators, whose batched kernels are fast)."""
    if torch.onnx.is_in_onnx_export() or not torch.is_grad_enabled() or a.device.type != "cpu":
        return torch.matmul(a, b)
    lead = a.shape[:-2]
    out = _Bmm.apply(a.reshape(-1, *a.shape[-2:]), b.reshape(-1, *b.shape[-2:]))
    return out.reshape(*lead, *out.shape[-2:])


@dataclass
class ModelConfig:
    feat_dim: int = 80
    vocab_size: int = 29          # incl. blank at id 0
    d_model: int = 144
    num_heads: int = 4
    num_layers: int = 10
    ffn_mult: int = 4
    conv_kernel: int = 15
    subsampling_channels: int = 96
    left_context: int = 64        # attention cache in 40 ms frames (2.56 s) used by the exported streaming model
    rel_clip_left: int = 64
    rel_clip_right: int = 32
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ChunkMask:
    """Chunk of `chunk` output frames sees itself and `left` frames before it; chunk=0 means full context."""
    chunk: int = 0
    left: int = 0

    def build(self, t: int, lengths: torch.Tensor) -> torch.Tensor:
        """Additive mask (B, 1, T, T) for T output frames."""
        idx = torch.arange(t, device=lengths.device)
        valid_key = idx[None, :] < lengths[:, None]                             # (B, T)
        if self.chunk <= 0:
            allowed = torch.ones(t, t, dtype=torch.bool, device=lengths.device)
        else:
            start = (idx // self.chunk) * self.chunk
            end = start + self.chunk
            allowed = (idx[None, :] < end[:, None]) & (idx[None, :] >= (start - self.left)[:, None])
        ok = allowed[None] & valid_key[:, None, :]
        return ((~ok).float() * NEG).unsqueeze(1)


def sample_mask(r, cfg: "ModelConfig") -> ChunkMask:
    """The training draw (`r` a random.Random): full context (25%) or a chunk of 1-25 output frames (40 ms to 1 s)
    with a left context of 16-64 frames, so one model serves every chunk size at run time."""
    if r.random() < 0.25:
        return ChunkMask(0, 0)
    chunk = r.choice([r.randint(1, 25), r.choice([2, 4, 8, 16])])
    return ChunkMask(chunk, r.choice([16, 32, 48, cfg.left_context, cfg.left_context]))


def output_frames(feature_frames: torch.Tensor) -> torch.Tensor:
    """Frames after 4x subsampling by two unpadded 3x3/stride-2 convs: (N - 7) // 4 + 1 (0 if N < 7)."""
    return torch.clamp(torch.div(feature_frames - 7, 4, rounding_mode="floor") + 1, min=0)


class Subsampling(nn.Module):
    """Two 3x3 stride-2 convolutions without time padding: output frame t reads input frames 4t .. 4t+6."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c = cfg.subsampling_channels
        self.conv1 = nn.Conv2d(1, c, 3, 2)
        self.conv2 = nn.Conv2d(c, c, 3, 2)
        f = ((cfg.feat_dim - 3) // 2 + 1 - 3) // 2 + 1
        self.out = nn.Linear(c * f, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:           # (B, T, 80) -> (B, T', D)
        x = F.relu(self.conv2(F.relu(self.conv1(x.unsqueeze(1)))))
        b, c, t, f = x.shape
        return self.out(x.transpose(1, 2).reshape(b, t, c * f))


class FeedForward(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm = nn.LayerNorm(cfg.d_model)
        self.w1 = nn.Linear(cfg.d_model, cfg.d_model * cfg.ffn_mult)
        self.w2 = nn.Linear(cfg.d_model * cfg.ffn_mult, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.w2(F.silu(self.w1(self.norm(x)))))


class GatedSelfAttention(nn.Module):
    """Multi-head self-attention with relative position bias and a per-head sigmoid output gate."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.h, self.dk = cfg.num_heads, cfg.d_model // cfg.num_heads
        self.norm = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.gate = nn.Linear(cfg.d_model, cfg.num_heads)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.clip_left, self.clip_right = cfg.rel_clip_left, cfg.rel_clip_right
        self.rel_bias = nn.Parameter(torch.zeros(cfg.num_heads, cfg.rel_clip_left + cfg.rel_clip_right + 1))
        self.drop = nn.Dropout(cfg.dropout)

    def bias(self, rel: torch.Tensor) -> torch.Tensor:            # rel (Tq, Tk) int -> (H, Tq, Tk)
        return self.rel_bias[:, torch.clamp(rel, -self.clip_left, self.clip_right) + self.clip_left]

    def attend(self, x, k, v, rel, mask):
        b, t, _ = x.shape
        q = self.qkv_q(x)
        scores = bmm(q, k.transpose(-1, -2)) / (self.dk ** 0.5) + self.bias(rel).unsqueeze(0) + mask
        ctx = bmm(torch.softmax(scores, dim=-1), v)                                    # (B, H, T, dk)
        ctx = ctx * torch.sigmoid(self.gate(x)).transpose(1, 2).unsqueeze(-1)
        return self.drop(self.out(ctx.transpose(1, 2).reshape(b, t, self.h * self.dk)))

    def split(self, x: torch.Tensor) -> torch.Tensor:             # (B, T, D) -> (B, H, T, dk)
        b, t, _ = x.shape
        return x.reshape(b, t, self.h, self.dk).transpose(1, 2)

    def qkv_q(self, x):
        return self.split(F.linear(x, self.qkv.weight[: self.h * self.dk], self.qkv.bias[: self.h * self.dk]))

    def kv(self, x: torch.Tensor) -> torch.Tensor:               # (B, T, 2D): keys then values
        d = self.h * self.dk
        return F.linear(x, self.qkv.weight[d:], self.qkv.bias[d:])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        kv = self.kv(x)
        d = self.h * self.dk
        t = x.shape[1]
        pos = torch.arange(t, device=x.device)
        return self.attend(x, self.split(kv[..., :d]), self.split(kv[..., d:]), pos[None, :] - pos[:, None], mask)

    def forward_chunk(self, x, cache_kv, mask):
        """x (B, T, D); cache_kv (B, L, 2D) the keys/values of the L frames before the chunk."""
        x = self.norm(x)
        kv = torch.cat([cache_kv, self.kv(x)], dim=1)
        d = self.h * self.dk
        t, left = x.shape[1], cache_kv.shape[1]
        rel = torch.arange(left + t, device=x.device)[None, :] - left - torch.arange(t, device=x.device)[:, None]
        y = self.attend(x, self.split(kv[..., :d]), self.split(kv[..., d:]), rel, mask)
        return y, kv[:, -left:]


class CausalConvModule(nn.Module):
    """Pointwise-GLU, causal depthwise conv (left padding = kernel-1, cached when streaming), LayerNorm, SiLU."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.d_model
        self.norm = nn.LayerNorm(d)
        self.pw1 = nn.Linear(d, 2 * d)
        self.dw = nn.Conv1d(d, d, cfg.conv_kernel, groups=d)
        self.dw_norm = nn.LayerNorm(d)
        self.pw2 = nn.Linear(d, d)
        self.drop = nn.Dropout(cfg.dropout)
        self.pad = cfg.conv_kernel - 1

    def forward(self, x: torch.Tensor, cache: torch.Tensor | None = None):
        y = F.glu(self.pw1(self.norm(x)), dim=-1).transpose(1, 2)        # (B, D, T)
        y = F.pad(y, (self.pad, 0)) if cache is None else torch.cat([cache, y], dim=2)
        new_cache = y[:, :, -self.pad:]
        y = self.dw_norm(self.dw(y).transpose(1, 2))
        return self.drop(self.pw2(F.silu(y))), new_cache


class ConformerBlock(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ff1, self.ff2 = FeedForward(cfg), FeedForward(cfg)
        self.attn = GatedSelfAttention(cfg)
        self.conv = CausalConvModule(cfg)
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, x, mask):
        x = x + 0.5 * self.ff1(x)
        x = x + self.attn(x, mask)
        x = x + self.conv(x)[0]
        return self.norm(x + 0.5 * self.ff2(x))

    def forward_chunk(self, x, mask, cache_kv, cache_conv):
        x = x + 0.5 * self.ff1(x)
        a, new_kv = self.attn.forward_chunk(x, cache_kv, mask)
        x = x + a
        c, new_conv = self.conv(x, cache_conv)
        x = x + c
        return self.norm(x + 0.5 * self.ff2(x)), new_kv, new_conv


class ConformerCtc(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("feat_mean", torch.zeros(cfg.feat_dim))
        self.register_buffer("feat_istd", torch.ones(cfg.feat_dim))
        self.subsampling = Subsampling(cfg)
        self.layers = nn.ModuleList(ConformerBlock(cfg) for _ in range(cfg.num_layers))
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)

    def forward(self, feats: torch.Tensor, feat_lengths: torch.Tensor, mask: ChunkMask):
        """feats (B, T, 80) -> log-probs (B, T', V), output lengths (B)."""
        x = self.subsampling((feats - self.feat_mean) * self.feat_istd)
        lengths = output_frames(feat_lengths)
        m = mask.build(x.shape[1], lengths)
        for layer in self.layers:
            x = layer(x, m)
        return F.log_softmax(self.head(x), dim=-1), lengths

    def forward_chunk(self, feats, feat_lengths, cache_kv, cache_conv, cache_len):
        """One streaming chunk. feats (B, T, 80) with T = 4C+3; cache_kv (B, layers, L, 2D);
        cache_conv (B, layers, D, K-1); cache_len (B) frames seen so far. Returns log-probs (B, C, V), lengths and
        the next caches. A chunk shorter than the others (length < T) may only be an utterance's last."""
        x = self.subsampling((feats - self.feat_mean) * self.feat_istd)
        lengths = output_frames(feat_lengths)
        b, t, _ = x.shape
        left = cache_kv.shape[2]
        n = torch.arange(left + t, device=x.device)
        valid_cache = n[None, :] >= left - torch.clamp(cache_len, max=left)[:, None]
        valid_chunk = (n[None, :] - left) < lengths[:, None]
        is_cache = n[None, :] < left
        ok = (is_cache & valid_cache) | (~is_cache & valid_chunk)                     # (B, L+T); no bool Where in ORT
        mask = ((~ok).float() * NEG)[:, None, None, :]  # float32 (torch.where with scalars exports float64)
        new_kv, new_conv = [], []
        for i, layer in enumerate(self.layers):
            x, kv, conv = layer.forward_chunk(x, mask, cache_kv[:, i], cache_conv[:, i])
            new_kv.append(kv)
            new_conv.append(conv)
        logp = F.log_softmax(self.head(x), dim=-1)
        return logp, lengths, torch.stack(new_kv, 1), torch.stack(new_conv, 1), cache_len + lengths

    def zero_caches(self, batch: int):
        c = self.cfg
        return (torch.zeros(batch, c.num_layers, c.left_context, 2 * c.d_model),
                torch.zeros(batch, c.num_layers, c.d_model, c.conv_kernel - 1),
                torch.zeros(batch, dtype=torch.long))
