"""Transformer blocks of the Align-then-Fuse MMDiT.

Both kinds are the Wan2.2 adaLN-Zero block run over two token streams, video and audio (either may be
absent). In the 10 double-stream ("alignment") blocks audio tokens use their own attention
projections (`*_audio`) and modulation table, while the LayerNorms and the FFN are shared
(`no_split_norm_ffn`); the 20 single-stream ("fusion") blocks use one set of weights for both.
In both kinds the self-attention is one softmax over [video; audio].

Precision follows Wan2.2: the residual stream, time modulation and gates are fp32; layers run in
the model's compute dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor, nn

from .attention import RowMask, attention, joint_attention
from .rope import Rope, apply_rope

if TYPE_CHECKING:
    from ..parallel.ulysses import UlyssesSequence

VIDEO, AUDIO = "video", "audio"
# Token streams by name, [B, L, dim] each, in the order (video, audio) of the joint sequence; an absent
# modality has no entry.
Streams = dict[str, Tensor]


class Modulation(NamedTuple):
    """adaLN shift / scale / gate, each [B, G, dim] fp32 for G equal groups of consecutive tokens."""

    shift: Tensor
    scale: Tensor
    gate: Tensor


class BlockModulation(NamedTuple):
    attn: Modulation
    ffn: Modulation


def _grouped(x: Tensor, groups: int, fn: Callable[[Tensor], Tensor]) -> Tensor:
    return fn(x.unflatten(1, (groups, -1))).flatten(1, 2)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """x·(1 + scale) + shift, with shift and scale [B, G, dim] per group of consecutive tokens."""
    return _grouped(x, shift.shape[1], lambda g: g * (1 + scale[:, :, None]) + shift[:, :, None])


def gated_residual(x: Tensor, y: Tensor, gate: Tensor) -> Tensor:
    """x + gate·y in fp32, with gate [B, G, dim] per group of consecutive tokens."""
    return x + _grouped(y.float(), gate.shape[1], lambda g: g * gate[:, :, None])


class ModulationTable(nn.Module):
    """A learned [1, 6, dim] table added to the projected time embedding e0 (key `….modulation`)."""

    def __init__(self, dim: int, device=None, dtype=None):
        super().__init__()
        self.modulation = nn.Parameter(torch.empty(1, 6, dim, device=device, dtype=dtype))

    def forward(self, e0: Tensor) -> BlockModulation:
        """e0 [B, G, 6, dim] -> the attention and FFN modulations."""
        chunks = (self.modulation.float().to(e0.device) + e0).unbind(2)
        return BlockModulation(Modulation(*chunks[:3]), Modulation(*chunks[3:]))


class RMSNorm(nn.Module):
    """x / rms(x) · weight over the full width (computed in fp32), as Wan's q/k norms."""

    def __init__(self, dim: int, eps: float, device=None, dtype=None):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(dim, device=device, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return normed.to(x.dtype) * self.weight.to(x)


class Projections(nn.Module):
    """q, k, v, o Linears with q/k RMSNorms; `twin_audio` adds a second set (`*_audio`) used by audio tokens."""

    def __init__(self, dim: int, num_heads: int, eps: float, twin_audio: bool, operations, device=None, dtype=None):
        super().__init__()
        self.num_heads = num_heads
        self.twin_audio = twin_audio

        def linear():
            return operations.Linear(dim, dim, device=device, dtype=dtype)

        def norm():
            return RMSNorm(dim, eps, device=device, dtype=dtype)

        self.q, self.k, self.v, self.o = linear(), linear(), linear(), linear()
        self.norm_q, self.norm_k = norm(), norm()
        if twin_audio:
            self.q_audio, self.k_audio, self.v_audio, self.o_audio = linear(), linear(), linear(), linear()
            self.norm_q_audio, self.norm_k_audio = norm(), norm()

    def _layer(self, name: str, stream: str) -> nn.Module:
        return getattr(self, f"{name}_audio" if stream == AUDIO and self.twin_audio else name)

    def _over_streams(self, h: Streams, *names: str) -> Tensor:
        """The layers `names` in turn over the tokens [video; audio]: one call on the joint tokens where the streams
        share the weights (each weight read, or dequantised, once), one per stream with the audio twins."""
        if not self.twin_audio:
            y = joint(h)
            for name in names:
                y = getattr(self, name)(y)
            return y
        parts = []
        for stream, y in h.items():
            for name in names:
                y = self._layer(name, stream)(y)
            parts.append(y)
        return torch.cat(parts, dim=1)

    def _heads(self, x: Tensor) -> Tensor:
        return x.unflatten(-1, (self.num_heads, -1))

    def queries(self, h: Streams) -> Tensor:
        """RMSNorm(W_q h) of [video; audio] as heads [B, L, heads, head_dim]."""
        return self._heads(self._over_streams(h, "q", "norm_q"))

    def out(self, y: Tensor, like: Streams) -> Streams:
        """W_o over the attention output [B, L, heads, head_dim] of [video; audio], split into streams."""
        if not self.twin_audio:
            return split(self.o(y.flatten(2)), like)
        return {stream: self._layer("o", stream)(part) for stream, part in split(y.flatten(2), like).items()}


class SelfAttention(Projections):
    """One softmax over [video; audio] (or within each modality in masked rows), RoPE on q and k."""

    def forward(
        self, h: Streams, rope: Rope, masked: RowMask, kind: str, sequence: UlyssesSequence | None = None
    ) -> Streams:
        """`sequence`: under Ulysses, h holds this rank's chunk of each stream and the attention spans all ranks."""
        q = apply_rope(self.queries(h), rope)
        k = apply_rope(self._heads(self._over_streams(h, "k", "norm_k")), rope)
        v = self._heads(self._over_streams(h, "v"))
        attend = joint_attention if sequence is None else sequence.joint_attention
        return self.out(attend(q, k, v, stream_lengths(h), masked, kind), h)


class CrossAttention(Projections):
    """Every token attends to the (shared) text + speaker context; audio tokens use the `*_audio` projections
    in double blocks."""

    def forward(self, h: Streams, context: Tensor, kind: str) -> Streams:
        if not self.twin_audio:  # one set of weights: all queries in one call, the context's keys and values once
            return self.out(self._attend(self.queries(h), context, VIDEO, kind), h)
        out = {}
        for stream, tokens in h.items():  # audio twins: their own projections of the context too
            one = {stream: tokens}
            out |= self.out(self._attend(self.queries(one), context, stream, kind), one)
        return out

    def _attend(self, q: Tensor, context: Tensor, stream: str, kind: str) -> Tensor:
        k = self._heads(self._layer("norm_k", stream)(self._layer("k", stream)(context)))
        v = self._heads(self._layer("v", stream)(context))
        return attention(q, k, v, kind)


def joint(x: Streams) -> Tensor:
    """The tokens [video; audio] as one sequence (no copy for a single stream)."""
    parts = list(x.values())
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def split(y: Tensor, like: Streams) -> Streams:
    """A joint sequence back into streams of the lengths of `like`."""
    return dict(zip(like, y.split([tokens.shape[1] for tokens in like.values()], dim=1)))


def stream_lengths(x: Streams) -> tuple[int, int]:
    """(video tokens, audio tokens) of the joint sequence; 0 for an absent stream."""
    return tuple(x[stream].shape[1] if stream in x else 0 for stream in (VIDEO, AUDIO))


class Block(nn.Module):
    """The Wan2.2 block over (video, audio) streams; `twin_audio=True` makes it a double-stream block."""

    def __init__(
        self, dim: int, ffn_dim: int, num_heads: int, eps: float, twin_audio: bool, operations, device=None, dtype=None
    ):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.norm1 = operations.LayerNorm(dim, eps=eps, elementwise_affine=False, **factory)
        self.self_attn = SelfAttention(dim, num_heads, eps, twin_audio, operations, **factory)
        self.norm3 = operations.LayerNorm(dim, eps=eps, elementwise_affine=True, **factory)
        self.cross_attn = CrossAttention(dim, num_heads, eps, twin_audio, operations, **factory)
        self.norm2 = operations.LayerNorm(dim, eps=eps, elementwise_affine=False, **factory)
        self.ffn = nn.Sequential(
            operations.Linear(dim, ffn_dim, **factory),
            nn.GELU(approximate="tanh"),
            operations.Linear(ffn_dim, dim, **factory),
        )
        self.modulation = ModulationTable(dim, **factory)
        if twin_audio:
            self.modulation_audio = ModulationTable(dim, **factory)

    def modulations(self, e0: Streams) -> dict[str, BlockModulation]:
        """Each stream's table + its time embedding e0 [B, G, 6, dim]; audio has its own table in double blocks."""
        audio_table = getattr(self, "modulation_audio", self.modulation)
        return {stream: (audio_table if stream == AUDIO else self.modulation)(e) for stream, e in e0.items()}

    def forward(
        self, x: Streams, e0: Streams, context: Tensor, rope: Rope, masked: RowMask, kind: str,
        sequence: UlyssesSequence | None = None,
    ) -> Streams:
        """x: fp32 tokens per present stream; e0: their time embeddings [B, G, 6, dim]; context [B, text_len, dim]
        in the compute dtype, which the layers' inputs are cast to; rope: the table of [video; audio];
        masked: per row, whether cross-modal attention is removed; kind: the resolved attention kernel;
        sequence: the Ulysses split when x holds only this rank's tokens (everything but the self-attention
        is per token, so only that needs the other ranks)."""
        mod = self.modulations(e0)
        cast = context.dtype

        # x ← x + g_msa ⊙ SelfAttn(LN1(x) ⊙ (1 + c_msa) + s_msa), one softmax over [video; audio]
        h = {s: modulate(self.norm1(x[s]), mod[s].attn.shift, mod[s].attn.scale).to(cast) for s in x}
        attn = self.self_attn(h, rope, masked, kind, sequence)
        x = {s: gated_residual(x[s], attn[s], mod[s].attn.gate) for s in x}

        # x ← x + CrossAttn(norm3(x), context), no modulation
        cross = self.cross_attn({s: self.norm3(x[s].to(cast)) for s in x}, context, kind)
        x = {s: x[s] + cross[s].float() for s in x}

        # x ← x + g_mlp ⊙ FFN(LN2(x) ⊙ (1 + c_mlp) + s_mlp), one FFN call over [video; audio] (shared weights)
        h = {s: modulate(self.norm2(x[s]), mod[s].ffn.shift, mod[s].ffn.scale).to(cast) for s in x}
        ffn = split(self.ffn(joint(h)), x)
        return {s: gated_residual(x[s], ffn[s], mod[s].ffn.gate) for s in x}
