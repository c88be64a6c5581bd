"""Layers of the LTX-2 audio VAE, which treats a stereo log-mel as a 2-channel image [B, C, time, mel].

Convolutions are causal along time (padding only on the past side) and centred along frequency, so
a latent frame never depends on later audio. Norms are parameter-free PixelNorms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CausalConv2d(nn.Module):
    """Conv2d padded ((k-1)//2, k-1-(k-1)//2) along frequency and (k-1, 0) along time (parameters under `.conv`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, operations=nn, device=None, dtype=None):
        super().__init__()
        span = kernel - 1
        self.padding = (span // 2, span - span // 2, span, 0)
        self.conv = operations.Conv2d(in_channels, out_channels, kernel, device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, self.padding))


class PixelNorm(nn.Module):
    """x / sqrt(mean over channels of x² + 1e-6)."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-6)


class ResnetBlock(nn.Module):
    """norm → SiLU → conv3 → norm → SiLU → conv3, plus the input (through a 1×1 conv when widths differ)."""

    def __init__(self, in_channels: int, out_channels: int, operations=nn, device=None, dtype=None):
        super().__init__()
        factory = dict(operations=operations, device=device, dtype=dtype)
        self.norm = PixelNorm()
        self.conv1 = CausalConv2d(in_channels, out_channels, 3, **factory)
        self.conv2 = CausalConv2d(out_channels, out_channels, 3, **factory)
        if in_channels != out_channels:
            self.nin_shortcut = CausalConv2d(in_channels, out_channels, 1, **factory)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm(x)))
        h = self.conv2(F.silu(self.norm(h)))
        shortcut = self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x
        return shortcut + h


class Downsample(nn.Module):
    """Stride-2 conv3 with two past time rows and one upper mel row of zero padding: T -> ceil(T / 2)."""

    def __init__(self, channels: int, operations=nn, device=None, dtype=None):
        super().__init__()
        self.conv = operations.Conv2d(channels, channels, 3, stride=2, device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 2, 0)))


class Upsample(nn.Module):
    """Nearest ×2 on both axes, causal conv3, then drop the first time row: T -> 2T - 1.

    The first two rows after the causal conv both see only input row 0; dropping one keeps the
    decoder's length at 1 + 2·(T-1), the inverse of the encoder's causal downsampling.
    """

    def __init__(self, channels: int, operations=nn, device=None, dtype=None):
        super().__init__()
        self.conv = CausalConv2d(channels, channels, 3, operations=operations, device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))[:, :, 1:]
