"""Transformer blocks of the Align-then-Fuse MMDiT (components.md §1.2, §1.3).

Both kinds are the Wan2.2 adaLN-Zero block run over two token streams, video and audio (either may be
absent). In the 10 double-stream ("alignment") blocks audio tokens use their own attention
projections (`*_audio`) and modulation table, while the LayerNorms and the FFN are shared
(`no_split_norm_ffn`); the 20 single-stream ("fusion") blocks use one set of weights for both.
In both kinds the self-attention is one softmax over [video; audio].

Precision follows Wan2.2: the residual stream, time modulation and gates are fp32; layers run in
the model's compute dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .attention import attention, joint_attention
from .rope import Rope, apply_rope

Streams = tuple[Tensor | None, Tensor | None]  # (video tokens, audio tokens), [B, L, dim] each


def per_stream(fn: Callable, *streams: Sequence) -> Streams:
    """Apply fn to the present streams (video, audio) elementwise over the given stream tuples."""
    return tuple(None if args[0] is None else fn(*args) for args in zip(*streams))


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


def gated_add(x: Tensor, y: Tensor, mod: Modulation) -> Tensor:
    """x + gate·y, in fp32."""
    return x + _grouped(y.float(), mod.gate.shape[1], lambda g: g * mod.gate[:, :, None])


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

    def _layer(self, name: str, stream: int) -> nn.Module:
        return getattr(self, f"{name}_audio" if stream == 1 and self.twin_audio else name)

    def _heads(self, x: Tensor) -> Tensor:
        return x.unflatten(-1, (self.num_heads, -1))

    def query(self, x: Tensor, stream: int) -> Tensor:
        return self._heads(self._layer("norm_q", stream)(self._layer("q", stream)(x)))

    def key(self, x: Tensor, stream: int) -> Tensor:
        return self._heads(self._layer("norm_k", stream)(self._layer("k", stream)(x)))

    def value(self, x: Tensor, stream: int) -> Tensor:
        return self._heads(self._layer("v", stream)(x))

    def out(self, x: Tensor, stream: int) -> Tensor:
        return self._layer("o", stream)(x.flatten(2))


class SelfAttention(Projections):
    """One softmax over [video; audio] (or per modality in masked rows), RoPE on q and k."""

    def forward(self, xs: Streams, rope: Rope, masked: Tensor, backend: str) -> Streams:
        present = [(i, x) for i, x in enumerate(xs) if x is not None]
        q = torch.cat([self.query(x, i) for i, x in present], dim=1)
        k = torch.cat([self.key(x, i) for i, x in present], dim=1)
        v = torch.cat([self.value(x, i) for i, x in present], dim=1)
        lengths = tuple(0 if x is None else x.shape[1] for x in xs)
        out = joint_attention(apply_rope(q, rope), apply_rope(k, rope), v, lengths, masked, backend)
        return per_stream(lambda x, y, stream: self.out(y, stream), xs, out.split(lengths, dim=1), (0, 1))


class CrossAttention(Projections):
    """Each stream attends to the (shared) text + speaker context with its own projections."""

    def forward(self, xs: Streams, context: Tensor, backend: str) -> Streams:
        def attend(x: Tensor, stream: int) -> Tensor:
            q, k, v = self.query(x, stream), self.key(context, stream), self.value(context, stream)
            return self.out(attention(q, k, v, backend), stream)

        return per_stream(attend, xs, (0, 1))


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

    def forward(self, xs: Streams, e0: Streams, context: Tensor, rope: Rope, masked: Tensor, backend: str) -> Streams:
        """xs: fp32 token streams; e0: projected time embeddings [B, G, 6, dim] per present stream;
        context: [B, text_len, dim] in the compute dtype, which the layers' inputs are cast to."""
        tables = (self.modulation, getattr(self, "modulation_audio", self.modulation))
        mods = per_stream(lambda e, table: table(e), e0, tables)
        attn_mod = per_stream(lambda m: m.attn, mods)
        ffn_mod = per_stream(lambda m: m.ffn, mods)
        cast = context.dtype

        h = per_stream(lambda x, m: modulate(self.norm1(x), m.shift, m.scale).to(cast), xs, attn_mod)
        xs = per_stream(gated_add, xs, self.self_attn(h, rope, masked, backend), attn_mod)

        h = per_stream(lambda x: self.norm3(x.to(cast)), xs)
        xs = per_stream(lambda x, y: x + y.float(), xs, self.cross_attn(h, context, backend))

        ffn_out = per_stream(lambda x, m: self.ffn(modulate(self.norm2(x), m.shift, m.scale).to(cast)), xs, ffn_mod)
        return per_stream(gated_add, xs, ffn_out, ffn_mod)
