"""Rotary position embeddings of the joint [video; audio] token sequence.

A head of width d is d/2 channel pairs; pair j of a token at angle θ_j is rotated by e^{iθ_j}.
Video tokens (f, h, w) use three axes side by side, [t | h | w] with d − 4⌊d/6⌋, 2⌊d/6⌋, 2⌊d/6⌋
dims (44/42/42 for d = 128), each with its own frequencies ω_i = θ^(−2i/D_axis). Audio tokens
rotate only the temporal pairs, at 0.24 × the video temporal frequencies (6 latent frames/s
against 25 audio tokens/s), so audio token p sits where video time 0.24·p would; the other
pairs pass through. Angles are computed in float64 and kept as fp32 cos/sin tables.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ..config import NavaConfig


def axis_dims(head_dim: int) -> tuple[int, int, int]:
    """Rotated dims of the (t, h, w) axes for one head."""
    spatial = 2 * (head_dim // 6)
    return head_dim - 2 * spatial, spatial, spatial


def axis_frequencies(dims: int, theta: float, scale: float = 1.0) -> Tensor:
    """ω_i = scale · θ^(−2i/dims) for the dims/2 pairs of one axis (float64)."""
    return scale * theta ** (-torch.arange(0, dims, 2, dtype=torch.float64) / dims)


class Rope(NamedTuple):
    """cos/sin of the angle of every (token, pair): [L, head_dim/2], fp32."""

    cos: Tensor
    sin: Tensor

    @classmethod
    def from_angles(cls, angles: Tensor, device=None) -> Rope:
        return cls(angles.cos().float().to(device), angles.sin().float().to(device))


def _check_positions(count: int, what: str, config: NavaConfig) -> None:
    if count > config.rope_max_positions:
        raise ValueError(
            f"{what} is {count}, but the model's rotary tables cover {config.rope_max_positions} positions; "
            "generate a shorter or smaller clip."
        )


def video_angles(grid: tuple[int, int, int], config: NavaConfig) -> Tensor:
    """Angles [F·H·W, head_dim/2] of the video tokens of a (F, H, W) patch grid, in (f, h, w) row-major order."""
    for count, what in zip(grid, ("the number of latent frames", "the latent height / 2", "the latent width / 2")):
        _check_positions(count, what, config)
    frames, height, width = grid
    tables = []
    for size, dims, expand_at in zip(grid, axis_dims(config.head_dim), range(3)):
        angles = torch.arange(size, dtype=torch.float64)[:, None] * axis_frequencies(dims, config.rope_theta)
        shape = [1, 1, 1, angles.shape[1]]
        shape[expand_at] = size
        tables.append(angles.view(shape).expand(frames, height, width, -1))
    return torch.cat(tables, dim=-1).reshape(frames * height * width, -1)


def audio_angles(length: int, config: NavaConfig) -> Tensor:
    """Angles [L, head_dim/2] of the audio tokens: scaled temporal pairs, zero (no rotation) elsewhere."""
    _check_positions(length, "the number of audio latent tokens", config)
    temporal_dims = axis_dims(config.head_dim)[0]
    freqs = axis_frequencies(temporal_dims, config.rope_theta, config.audio_rope_scale)
    angles = torch.zeros(length, config.head_dim // 2, dtype=torch.float64)
    angles[:, : freqs.numel()] = torch.arange(length, dtype=torch.float64)[:, None] * freqs
    return angles


def joint_rope(video_grid: tuple[int, int, int] | None, audio_length: int, config: NavaConfig, device=None) -> Rope:
    """The table of the sequence [video tokens; audio tokens] (either part may be absent)."""
    parts = []
    if video_grid is not None:
        parts.append(video_angles(video_grid, config))
    if audio_length:
        parts.append(audio_angles(audio_length, config))
    return Rope.from_angles(torch.cat(parts), device)


def apply_rope(x: Tensor, rope: Rope) -> Tensor:
    """Rotate the consecutive channel pairs of x [B, L, heads, head_dim] (in fp32)."""
    pairs = x.float().unflatten(-1, (-1, 2))
    x0, x1 = pairs.unbind(-1)
    cos, sin = rope.cos[:, None], rope.sin[:, None]
    rotated = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
    return rotated.flatten(-2).to(x.dtype)
