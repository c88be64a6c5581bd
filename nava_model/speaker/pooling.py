"""Temporal pooling of frame features [B, D, T] into one utterance vector (ReDimNet's `pooling_func`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _std(x: Tensor) -> Tensor:
    return torch.sqrt(torch.var(x, dim=-1) + 1e-7)


class AttentiveStatsPooling(nn.Module):
    """ASTP: attention weights per channel and frame, then the weighted mean and std: [B, D, T] -> [B, 2D]."""

    def __init__(self, in_dim: int, global_context_att: bool = False, bottleneck_dim: int = 128,
                 operations=nn, device=None, dtype=None):
        super().__init__()
        self.global_context_att = global_context_att
        factory = dict(device=device, dtype=dtype)
        # With global context the attention also sees the utterance mean and std of every channel.
        self.linear1 = operations.Conv1d(in_dim * (3 if global_context_att else 1), bottleneck_dim, 1, **factory)
        self.linear2 = operations.Conv1d(bottleneck_dim, in_dim, 1, **factory)
        self.out_dim = 2 * in_dim

    def forward(self, x: Tensor) -> Tensor:
        context = x
        if self.global_context_att:
            stats = (x.mean(-1, keepdim=True), _std(x)[..., None])
            context = torch.cat([x, *(s.expand_as(x) for s in stats)], dim=1)
        alpha = torch.softmax(self.linear2(torch.tanh(self.linear1(context))), dim=-1)
        mean = (alpha * x).sum(-1)
        var = (alpha * x * x).sum(-1) - mean * mean
        return torch.cat([mean, var.clamp(min=1e-7).sqrt()], dim=1)


class StatsPooling(nn.Module):
    """The parameter-free poolings: TAP (mean), TSDP (std), TSTP (mean and std), TMAP (max + mean)."""

    KINDS = ("TAP", "TSDP", "TSTP", "TMAP")

    def __init__(self, kind: str, in_dim: int):
        super().__init__()
        self.kind = kind
        self.out_dim = 2 * in_dim if kind == "TSTP" else in_dim

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "TAP":
            return x.mean(-1)
        if self.kind == "TSDP":
            return _std(x)
        if self.kind == "TSTP":
            return torch.cat([x.mean(-1), _std(x)], dim=1)
        return x.amax(-1) + x.mean(-1)


class MultiHeadAttentiveStatsPooling(nn.Module):
    """MHASTP: channels split into heads, each with its own attention over time; per-head weighted mean and std.

    Each head scores frames with a small conv stack (`att_0`, tanh, ..., `att_{layers-1}`) giving one score per frame,
    or, with `per_channel_scores`, one per channel and frame. [B, D, T] -> [B, 2D].
    """

    def __init__(self, in_dim: int, heads: int = 2, per_channel_scores: bool = False, layers: int = 2,
                 bottleneck_dim: int = 64, operations=nn, device=None, dtype=None):
        super().__init__()
        self.heads = heads
        head_dim = in_dim // heads
        widths = [head_dim] + [bottleneck_dim] * (layers - 1) + [head_dim if per_channel_scores else 1]
        self.heads_att_trans = nn.ModuleList()
        for _ in range(heads):
            scorer = nn.Sequential()
            for i in range(layers):
                if i:
                    scorer.add_module(f"tanh{i - 1}", nn.Tanh())
                conv = operations.Conv1d(widths[i], widths[i + 1], 1, device=device, dtype=dtype)
                scorer.add_module(f"att_{i}", conv)
            self.heads_att_trans.append(scorer)
        self.out_dim = 2 * in_dim

    def forward(self, x: Tensor) -> Tensor:
        stats = []
        for chunk, scorer in zip(x.chunk(self.heads, dim=1), self.heads_att_trans):
            alpha = torch.softmax(scorer(chunk), dim=-1)
            mean = (alpha * chunk).sum(-1)
            var = (alpha * chunk * chunk).sum(-1) - mean * mean
            stats += [mean, var.clamp(min=1e-7).sqrt()]
        return torch.cat(stats, dim=1)


class MultiQueryPooling(nn.Module):
    """MQMHASTP: several independent MHASTP "queries" (8 heads, per-channel scores), concatenated."""

    def __init__(self, in_dim: int, queries: int = 2, operations=nn, device=None, dtype=None):
        super().__init__()
        self.n_query = nn.ModuleList(
            MultiHeadAttentiveStatsPooling(in_dim, 8, True, operations=operations, device=device, dtype=dtype)
            for _ in range(queries)
        )
        self.out_dim = 2 * in_dim * queries

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([query(x) for query in self.n_query], dim=-1)


def make_pooling(name: str, in_dim: int, global_context_att: bool, operations=nn, device=None, dtype=None) -> nn.Module:
    if name == "ASTP":
        return AttentiveStatsPooling(in_dim, global_context_att, operations=operations, device=device, dtype=dtype)
    if name == "MHASTP":
        return MultiHeadAttentiveStatsPooling(in_dim, operations=operations, device=device, dtype=dtype)
    if name == "MQMHASTP":
        return MultiQueryPooling(in_dim, operations=operations, device=device, dtype=dtype)
    if name in StatsPooling.KINDS:
        return StatsPooling(name, in_dim)
    supported = ", ".join(["ASTP", "MHASTP", "MQMHASTP", *StatsPooling.KINDS])
    raise ValueError(f"ReDimNet pooling_func {name!r} is not supported (supported: {supported})")
