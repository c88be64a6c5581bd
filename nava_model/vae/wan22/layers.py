"""Building blocks of the Wan2.2 video VAE: frame streaming, causal convolutions, norms, attention.

Video is processed in chunks of frames (encode: 1 then 4 pixel frames; decode: 1 latent frame).
Every time-causal convolution sees, before each chunk, the last frames of its input from the
previous chunks (zeros before the first), so chunked processing equals a causal pass over the
whole clip while holding only a couple of frames per layer.

Module and attribute names (`residual.2`, `resample.1`, ...) follow the official checkpoint keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FrameCache:
    """The newest input frames of every causal layer, carried from one chunk to the next."""

    def __init__(self) -> None:
        self._tails: dict[nn.Module, Tensor] = {}

    def swap(self, layer: nn.Module, x: Tensor, keep: int) -> Tensor | None:
        """Remember the newest `keep` frames of `layer`'s input stream; return those remembered before (None at first)."""
        past = self._tails.get(layer)
        recent = x if past is None or x.shape[2] >= keep else torch.cat([past, x], dim=2)
        self._tails[layer] = recent[:, :, -keep:].clone()
        return past


def causal_conv3d(conv: nn.Module, x: Tensor, cache: FrameCache) -> Tensor:
    """Run a stride-1 3-D conv causally in time: earlier frames (or zeros) on the left, none on the right."""
    context = conv.kernel_size[0] - 1
    if not context:
        return conv(x)
    past = cache.swap(conv, x, keep=context)  # a time kernel of 3 keeps the 2 frames before
    if past is None:
        past = x[:, :, :0]
    zeros = x.new_zeros(x.shape[0], x.shape[1], context - past.shape[2], *x.shape[3:])
    return conv(torch.cat([zeros, past, x], dim=2))


def conv3d(operations, in_dim: int, out_dim: int, kernel: int) -> nn.Module:
    """A 3-D conv padded in space only; `causal_conv3d` supplies the time padding."""
    return operations.Conv3d(in_dim, out_dim, kernel, padding=(0, kernel // 2, kernel // 2))


class RMSNorm(nn.Module):
    """x / |x| over channels, times sqrt(C) and a learned per-channel scale `gamma`."""

    def __init__(self, dim: int, spatial_dims: int = 3) -> None:
        super().__init__()
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones(dim, *([1] * spatial_dims)))

    def forward(self, x: Tensor) -> Tensor:
        gamma = self.gamma.to(device=x.device, dtype=x.dtype)
        # = F.normalize(x, dim=1), whose norm kernel is many times slower over channels on a CPU
        norm = x.square().sum(dim=1, keepdim=True).sqrt().clamp_min(1e-12)
        return x / norm * (gamma * self.scale)


class ResidualBlock(nn.Module):
    """norm, SiLU, causal conv, norm, SiLU, causal conv, plus a 1x1x1 shortcut when widths change."""

    def __init__(self, in_dim: int, out_dim: int, operations=nn) -> None:
        super().__init__()
        # Slot 5 is the training-time dropout of the official layout.
        self.residual = nn.Sequential(
            RMSNorm(in_dim), nn.SiLU(inplace=True), conv3d(operations, in_dim, out_dim, 3),
            RMSNorm(out_dim), nn.SiLU(inplace=True), nn.Identity(), conv3d(operations, out_dim, out_dim, 3),
        )
        self.shortcut = conv3d(operations, in_dim, out_dim, 1) if in_dim != out_dim else nn.Identity()

    def forward(self, x: Tensor, cache: FrameCache) -> Tensor:
        norm1, act1, conv1, norm2, act2, _, conv2 = self.residual
        h = causal_conv3d(conv1, act1(norm1(x)), cache)
        h = causal_conv3d(conv2, act2(norm2(h)), cache)
        return h + self.shortcut(x)


def frames_as_batch(x: Tensor) -> Tensor:
    """[B, C, T, H, W] -> [B*T, C, H, W]."""
    return x.transpose(1, 2).flatten(0, 1)


def batch_as_frames(x: Tensor, batch: int) -> Tensor:
    """[B*T, C, H, W] -> [B, C, T, H, W]."""
    return x.unflatten(0, (batch, -1)).transpose(1, 2)


class AttentionBlock(nn.Module):
    """Single-head self-attention over the pixels of each frame, with a residual connection."""

    def __init__(self, dim: int, operations=nn) -> None:
        super().__init__()
        self.norm = RMSNorm(dim, spatial_dims=2)
        self.to_qkv = operations.Conv2d(dim, dim * 3, 1)
        self.proj = operations.Conv2d(dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        batch, _, _, height, width = x.shape
        frames = frames_as_batch(x)
        qkv = self.to_qkv(self.norm(frames)).flatten(2).transpose(1, 2)  # [B*T, H*W, 3C]
        q, k, v = qkv.unsqueeze(1).chunk(3, dim=-1)
        attended = F.scaled_dot_product_attention(q, k, v).squeeze(1)
        attended = attended.transpose(1, 2).unflatten(2, (height, width))
        return x + batch_as_frames(self.proj(attended), batch)


class Middle(nn.Sequential):
    """Residual block, per-frame attention, residual block."""

    def __init__(self, dim: int, operations=nn) -> None:
        super().__init__(
            ResidualBlock(dim, dim, operations), AttentionBlock(dim, operations), ResidualBlock(dim, dim, operations)
        )

    def forward(self, x: Tensor, cache: FrameCache) -> Tensor:
        first, attention, second = self
        return second(attention(first(x, cache)), cache)


class Head(nn.Sequential):
    """norm, SiLU, causal conv to the output channels."""

    def __init__(self, dim: int, out_dim: int, operations=nn) -> None:
        super().__init__(RMSNorm(dim), nn.SiLU(inplace=True), conv3d(operations, dim, out_dim, 3))

    def forward(self, x: Tensor, cache: FrameCache) -> Tensor:
        norm, act, conv = self
        return causal_conv3d(conv, act(norm(x)), cache)


def patchify(x: Tensor, patch: int = 2) -> Tensor:
    """[B, C, T, H*p, W*p] -> [B, C*p*p, T, H, W], channels ordered (c, column offset, row offset)."""
    b, c, t, h, w = x.shape
    x = x.reshape(b, c, t, h // patch, patch, w // patch, patch)
    return x.permute(0, 1, 6, 4, 2, 3, 5).reshape(b, c * patch * patch, t, h // patch, w // patch)


def unpatchify(x: Tensor, patch: int = 2) -> Tensor:
    """Inverse of `patchify`."""
    b, cpp, t, h, w = x.shape
    c = cpp // (patch * patch)
    x = x.reshape(b, c, patch, patch, t, h, w)  # (c, column offset, row offset)
    return x.permute(0, 1, 4, 5, 3, 6, 2).reshape(b, c, t, h * patch, w * patch)
