"""Spatial tiling for bounded memory: overlapping tiles, run one after the other, blended linearly.

Tiles are laid out on the latent grid. Each tile runs through the whole clip (the VAE still
streams frame chunks inside it); its output is added into the full-size result with a weight
that ramps linearly across the overlap with each neighbour, and the sum of weights divides the
result at the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor


@dataclass(frozen=True)
class Tiling:
    """Tile side and overlap, in latent pixels (16 output pixels each)."""

    size: int = 32
    overlap: int = 8

    def __post_init__(self) -> None:
        if self.size < 2 or not 0 <= self.overlap <= self.size // 2:
            raise ValueError(f"tiling needs size >= 2 and 0 <= overlap <= size / 2, got {self}")


def tile_spans(length: int, tiling: Tiling) -> list[slice]:
    """Evenly spaced tiles of `tiling.size` covering `length`, neighbours overlapping by at least `tiling.overlap`."""
    if length <= tiling.size:
        return [slice(0, length)]
    count = math.ceil((length - tiling.overlap) / (tiling.size - tiling.overlap))
    starts = [round(i * (length - tiling.size) / (count - 1)) for i in range(count)]
    return [slice(start, start + tiling.size) for start in starts]


def tile_grid(grid: tuple[int, int], tiling: Tiling) -> list[tuple[slice, slice]]:
    """(rows, columns) of every tile over a latent grid of (height, width), row by row."""
    return [(ys, xs) for ys in tile_spans(grid[0], tiling) for xs in tile_spans(grid[1], tiling)]


def _edge_ramp(span: slice, length: int, ramp: int, scale: int, device) -> Tensor:
    """Weights along one axis of a tile's output: linear from its inner edges over `ramp` pixels, else 1."""
    size = (span.stop - span.start) * scale
    position = torch.arange(size, device=device, dtype=torch.float32) + 0.5
    weight = torch.ones(size, device=device)
    if ramp and span.start > 0:
        weight = torch.minimum(weight, position / ramp)
    if ramp and span.stop < length:
        weight = torch.minimum(weight, (size - position) / ramp)
    return weight


class TileSpread(Protocol):
    """Shares the tiles of one decode among processes (nava_model/parallel/tiles.py)."""

    def tiles_here(self, count: int) -> int:
        """How many of `count` tiles this process computes."""

    def __call__(self, compute: Callable[[int], Tensor], count: int) -> Iterator[Tensor]:
        """The outputs of tiles 0 .. count - 1 in order, each computed by one process with compute(index)."""


def run_tiled(
    run: Callable[[Tensor], Tensor], x: Tensor, grid: tuple[int, int], tiling: Tiling, in_scale: int, out_scale: int,
    spread: TileSpread | None = None,
) -> Tensor:
    """Apply `run` to overlapping spatial tiles of `x` and blend the outputs.

    `grid` is the latent (height, width); a latent pixel is `in_scale` pixels of `x` and
    `out_scale` pixels of the output (decode: 1 and 16, encode: 16 and 1). With `spread` the tiles
    are computed by several processes and blended here in the same order, so the result is that of
    one process.
    """
    tiles = tile_grid(grid, tiling)

    def compute(index: int) -> Tensor:
        ys, xs = tiles[index]
        return run(x[..., ys.start * in_scale : ys.stop * in_scale, xs.start * in_scale : xs.stop * in_scale])

    pieces = map(compute, range(len(tiles))) if spread is None else spread(compute, len(tiles))
    ramp = tiling.overlap * out_scale
    out = weights = None
    for (ys, xs), piece in zip(tiles, pieces):
        if out is None:
            out = piece.new_zeros(*piece.shape[:-2], grid[0] * out_scale, grid[1] * out_scale)
            weights = torch.zeros(grid[0] * out_scale, grid[1] * out_scale, device=piece.device)
        weight = torch.outer(
            _edge_ramp(ys, grid[0], ramp, out_scale, piece.device), _edge_ramp(xs, grid[1], ramp, out_scale, piece.device)
        )
        region = (..., slice(ys.start * out_scale, ys.stop * out_scale), slice(xs.start * out_scale, xs.stop * out_scale))
        out[region] += piece * weight.to(piece.dtype)
        weights[region] += weight
    return out.div_(weights.to(out.dtype))
