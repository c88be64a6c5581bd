"""A tiled VAE decode spread over the ranks of a replica: tiles are independent, so rank i decodes tiles
i, i + R, i + 2R, ... and every rank receives every tile's output, in tile order, to blend exactly as one
process does (vae/wan22/tiling.py). All tiles of one decode have the same shape."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True, eq=False)
class SpreadTiles:
    group: dist.ProcessGroup
    size: int  # ranks sharing the tiles
    index: int  # this rank's place among them
    device: torch.device  # where control objects travel (the CUDA device under NCCL)

    def tiles_here(self, count: int) -> int:
        return len(range(self.index, count, self.size))

    def __call__(self, compute: Callable[[int], Tensor], count: int) -> Iterator[Tensor]:
        first = compute(self.index) if self.index < count else None
        # a rank without a tile still takes part in every gather: it learns the tiles' shape from the first rank
        box = [None if first is None else (first.shape, first.dtype)]
        dist.broadcast_object_list(box, group=self.group, group_src=0, device=self.device)
        shape, dtype = box[0]
        for start in range(0, count, self.size):
            index = start + self.index
            if index >= count:
                piece = torch.zeros(shape, dtype=dtype, device=self.device if first is None else first.device)
            else:
                piece = first if start == 0 else compute(index)
            pieces = [torch.empty_like(piece) for _ in range(self.size)]
            dist.all_gather(pieces, piece.contiguous(), group=self.group)
            yield from pieces[: count - start]
