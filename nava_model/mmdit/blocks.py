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

    def _heads(self, x: Tensor) -> Tensor:
        return x.unflatten(-1, (self.num_heads, -1))

    def query(self, x: Tensor, stream: str) -> Tensor:
        return self._heads(self._layer("norm_q", stream)(self._layer("q", stream)(x)))

    def key(self, x: Tensor, stream: str) -> Tensor:
        return self._heads(self._layer("norm_k", stream)(self._layer("k", stream)(x)))

    def value(self, x: Tensor, stream: str) -> Tensor:
        return self._heads(self._layer("v", stream)(x))

    def out(self, x: Tensor, stream: str) -> Tensor:
        return self._layer("o", stream)(x.flatten(2))


class SelfAttention(Projections):
    """One softmax over [video; audio] (or within each modality in masked rows), RoPE on q and k."""

    def forward(
        self, x: Streams, rope: Rope, masked: RowMask, kind: str, sequence: UlyssesSequence | None = None
    ) -> Streams:
        """`sequence`: under Ulysses, x holds this rank's chunk of each stream and the attention spans all ranks."""
        q = torch.cat([self.query(tokens, stream) for stream, tokens in x.items()], dim=1)
        k = torch.cat([self.key(tokens, stream) for stream, tokens in x.items()], dim=1)
        v = torch.cat([self.value(tokens, stream) for stream, tokens in x.items()], dim=1)
        lengths = stream_lengths(x)
        attend = joint_attention if sequence is None else sequence.joint_attention
        out = attend(apply_rope(q, rope), apply_rope(k, rope), v, lengths, masked, kind)
        out = dict(zip((VIDEO, AUDIO), out.split(lengths, dim=1)))
        return {stream: self.out(out[stream], stream) for stream in x}


class CrossAttention(Projections):
    """Each stream attends to the (shared) text + speaker context with its own projections."""

    def forward(self, x: Streams, context: Tensor, kind: str) -> Streams:
        return {stream: self.attend(tokens, context, stream, kind) for stream, tokens in x.items()}

    def attend(self, x: Tensor, context: Tensor, stream: str, kind: str) -> Tensor:
        q, k, v = self.query(x, stream), self.key(context, stream), self.value(context, stream)
        return self.out(attention(q, k, v, kind), stream)


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

        # x ← x + g_mlp ⊙ FFN(LN2(x) ⊙ (1 + c_mlp) + s_mlp)
        ffn = {s: self.ffn(modulate(self.norm2(x[s]), mod[s].ffn.shift, mod[s].ffn.scale).to(cast)) for s in x}
        return {s: gated_residual(x[s], ffn[s], mod[s].ffn.gate) for s in x}
