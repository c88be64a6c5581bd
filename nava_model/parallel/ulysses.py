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
