"""Ulysses sequence parallelism: the communication pieces (components.md §11).

P ranks share one forward. After the embeddings, video and audio tokens are each zero-padded to a
multiple of P and cut into P equal chunks; rank r keeps [video chunk r; audio chunk r]. Everything
per token (modulation, cross-attention, FFN, heads) runs on the local chunk. The joint self-attention
needs every token: an all-to-all trades "my tokens, all heads" for "all tokens, my H/P heads", the
attention runs over the valid tokens in their global order, and a second all-to-all trades back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True, eq=False)
class SequenceParallel:
    group: dist.ProcessGroup
    size: int
    rank: int

    def chunk(self, length: int) -> int:
        """Tokens per rank for a stream of `length` tokens (padded up to a multiple of the size)."""
        return math.ceil(length / self.size)

    def local_range(self, length: int) -> tuple[int, int]:
        """[start, end) of this rank's chunk in the padded stream (it may reach into the padding)."""
        chunk = self.chunk(length)
        return self.rank * chunk, (self.rank + 1) * chunk

    def shard(self, x: Tensor, dim: int = 1) -> Tensor:
        """This rank's chunk of x along `dim`, zero-padded to the padded length first."""
        start, end = self.local_range(x.shape[dim])
        return _pad_to(x, self.chunk(x.shape[dim]) * self.size, dim).narrow(dim, start, end - start)

    def gather(self, local: Tensor, length: int, dim: int = 1) -> Tensor:
        """The whole stream from every rank's chunk, padding dropped."""
        pieces = [torch.empty_like(local) for _ in range(self.size)]
        dist.all_gather(pieces, local.contiguous(), group=self.group)
        return torch.cat(pieces, dim=dim).narrow(dim, 0, length)

    def heads_to_sequence(self, x: Tensor) -> Tensor:
        """[..., S, H, D] local tokens, all heads -> [P, ..., S, H/P, D]: index i holds rank i's tokens
        for this rank's heads."""
        *lead, heads, dim = x.shape
        if heads % self.size:
            raise ValueError(f"{heads} attention heads cannot be split over {self.size} sequence-parallel ranks")
        send = x.reshape(*lead, self.size, heads // self.size, dim).movedim(-3, 0).contiguous()
        received = torch.empty_like(send)
        dist.all_to_all_single(received, send, group=self.group)
        return received

    def sequence_to_heads(self, x: Tensor) -> Tensor:
        """Inverse of heads_to_sequence: [P, ..., S, H/P, D] (index i: rank i's tokens) -> [..., S, H, D]."""
        send = x.contiguous()
        received = torch.empty_like(send)
        dist.all_to_all_single(received, send, group=self.group)
        return received.movedim(0, -3).flatten(-3, -2)


def _pad_to(x: Tensor, length: int, dim: int) -> Tensor:
    missing = length - x.shape[dim]
    if missing == 0:
        return x
    pad = [0, 0] * (x.ndim - 1 - dim % x.ndim) + [0, missing]
    return F.pad(x, pad)


@dataclass(frozen=True, eq=False)
class UlyssesSequence:
    """One forward's split of the [video; audio] sequence: the valid lengths of both streams (global) and
    what this rank holds of each (a chunk of the stream padded to a multiple of the degree)."""

    sp: SequenceParallel
    video_len: int
    audio_len: int

    @property
    def local_lengths(self) -> tuple[int, int]:
        return tuple(self.sp.chunk(n) if n else 0 for n in (self.video_len, self.audio_len))

    def length(self, stream: str) -> int:
        return self.video_len if stream == "video" else self.audio_len

    def shard_streams(self, x: dict[str, Tensor]) -> dict[str, Tensor]:
        return {stream: self.sp.shard(tokens) for stream, tokens in x.items()}

    def gather_stream(self, local: Tensor, stream: str) -> Tensor:
        return self.sp.gather(local, self.length(stream))

    def shard_groups(self, values: Tensor, stream: str) -> Tensor:
        """values [B, G, ...] for G equal groups of consecutive tokens (one per latent frame when the first
        frame is clean) -> this rank's tokens in equal groups again, of gcd(chunk, tokens per group) tokens,
        so that each token keeps its own timestep. Padding tokens take the last group's values."""
        groups = values.shape[1]
        if groups == 1:
            return values
        length = self.length(stream)
        per_group, chunk = length // groups, self.sp.chunk(length)
        size = math.gcd(chunk, per_group)
        start = self.sp.rank * chunk
        index = (torch.arange(start, start + chunk, size) // per_group).clamp(max=groups - 1)
        return values.index_select(1, index.to(values.device))

    def shard_rope(self, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor]:
        """The rows of the [video; audio] RoPE table (global positions) for this rank's tokens; padding
        tokens get the identity rotation (they are dropped before attention anyway)."""

        def local(table: Tensor, fill: float) -> Tensor:
            parts = table.split((self.video_len, self.audio_len))
            return torch.cat([self._shard_filled(part, fill) for part in parts if len(part)])

        return local(cos, 1.0), local(sin, 0.0)

    def _shard_filled(self, rows: Tensor, fill: float) -> Tensor:
        start, end = self.sp.local_range(len(rows))
        padded = torch.cat([rows, rows.new_full((self.sp.chunk(len(rows)) * self.sp.size - len(rows), *rows.shape[1:]), fill)])
        return padded[start:end]

    def joint_attention(self, q: Tensor, k: Tensor, v: Tensor, lengths: tuple[int, int], masked, kind: str) -> Tensor:
        """`attention.joint_attention` over the whole sequence, from this rank's [video chunk; audio chunk]
        q/k/v [B, S, H, D] (`lengths`: the local chunk lengths). The all-to-all brings every rank's tokens
        for H/P heads in rank order [v0, a0, v1, a1, ...]; they are regrouped to [video; audio], padding
        dropped, attended exactly as in one process, then padded, ungrouped and sent back."""
        from ..mmdit.attention import joint_attention

        video_chunk, audio_chunk = lengths
        size = self.sp.size
        received = self.sp.heads_to_sequence(torch.stack([q, k, v]))  # [P, 3, B, S, H/P, D]

        def stream(tokens: slice, length: int) -> Tensor:  # [3, B, length, H/P, D] in global order
            part = received[:, :, :, tokens]
            return part.permute(1, 2, 0, 3, 4, 5).flatten(2, 3)[:, :, :length]

        video = stream(slice(0, video_chunk), self.video_len)
        audio = stream(slice(video_chunk, video_chunk + audio_chunk), self.audio_len)
        q, k, v = torch.cat([video, audio], dim=2)
        out = joint_attention(q, k, v, (self.video_len, self.audio_len), masked, kind)  # [B, Lv + La, H/P, D]

        def chunks(part: Tensor, chunk: int) -> Tensor:  # [B, P, chunk, H/P, D]
            return _pad_to(part, chunk * size, 1).unflatten(1, (size, chunk))

        video_out, audio_out = out.split((self.video_len, self.audio_len), dim=1)
        back = torch.cat([chunks(video_out, video_chunk), chunks(audio_out, audio_chunk)], dim=2)
        return self.sp.sequence_to_heads(back.movedim(1, 0))  # [B, S, H, D]
