"""Down- and up-sampling stages of the Wan2.2 VAE.

Each stage is a few residual blocks followed by a resampler, plus a parameter-free shortcut that
moves pixels between space/time and channels (AvgDown3D / DupUp3D) and is added to the output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import FrameCache, ResidualBlock, batch_as_frames, causal_conv3d, frames_as_batch


class Downsample(nn.Module):
    """Stride-2 conv in space (padded right/bottom); optionally a stride-2 conv over time.

    The first chunk (a single frame) passes the time step unchanged; later chunks are convolved
    together with the last frame of the chunk before.
    """

    def __init__(self, dim: int, temporal: bool, operations=nn) -> None:
        super().__init__()
        self.resample = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), operations.Conv2d(dim, dim, 3, stride=2))
        self.time_conv = operations.Conv3d(dim, dim, (3, 1, 1), stride=(2, 1, 1)) if temporal else None

    def forward(self, x: Tensor, cache: FrameCache) -> Tensor:
        x = batch_as_frames(self.resample(frames_as_batch(x)), x.shape[0])
        if self.time_conv is None:
            return x
        past = cache.swap(self.time_conv, x, keep=1)
        return x if past is None else self.time_conv(torch.cat([past, x], dim=2))


class Upsample(nn.Module):
    """Optionally doubles the frames (a causal conv to two interleaved outputs), then 2x nearest + conv in space.

    The first chunk is not doubled: the first latent frame decodes to a single frame.
    """

    def __init__(self, dim: int, temporal: bool, operations=nn) -> None:
        super().__init__()
        # nearest-exact only copies values, so it runs in the input's dtype (no fp32 detour)
        self.resample = nn.Sequential(
            nn.Upsample(scale_factor=2.0, mode="nearest-exact"), operations.Conv2d(dim, dim, 3, padding=1)
        )
        self.time_conv = operations.Conv3d(dim, dim * 2, (3, 1, 1)) if temporal else None

    def forward(self, x: Tensor, cache: FrameCache, first_chunk: bool) -> Tensor:
        if self.time_conv is not None and not first_chunk:
            b, c, t, h, w = x.shape
            pairs = causal_conv3d(self.time_conv, x, cache).reshape(b, 2, c, t, h, w)
            x = pairs.permute(0, 2, 3, 1, 4, 5).reshape(b, c, 2 * t, h, w)
        return batch_as_frames(self.resample(frames_as_batch(x)), x.shape[0])


class AvgDown3D(nn.Module):
    """Space/time-to-channel rearrangement, then the mean over groups of channels to `out_dim`."""

    def __init__(self, in_dim: int, out_dim: int, factor_t: int, factor_s: int) -> None:
        super().__init__()
        self.out_dim, self.factor_t, self.factor_s = out_dim, factor_t, factor_s
        self.group = in_dim * factor_t * factor_s * factor_s // out_dim

    def forward(self, x: Tensor) -> Tensor:
        ft, fs = self.factor_t, self.factor_s
        x = F.pad(x, (0, 0, 0, 0, (-x.shape[2]) % ft, 0))  # a leading zero frame for odd lengths
        b, c, t, h, w = x.shape
        x = x.reshape(b, c, t // ft, ft, h // fs, fs, w // fs, fs).permute(0, 1, 3, 5, 7, 2, 4, 6)
        x = x.reshape(b, self.out_dim, self.group, t // ft, h // fs, w // fs)
        return x.mean(dim=2)


class DupUp3D(nn.Module):
    """Channel repetition, then channel-to-space/time; the first chunk keeps only its last frame."""

    def __init__(self, in_dim: int, out_dim: int, factor_t: int, factor_s: int) -> None:
        super().__init__()
        self.out_dim, self.factor_t, self.factor_s = out_dim, factor_t, factor_s
        self.repeats = out_dim * factor_t * factor_s * factor_s // in_dim

    def forward(self, x: Tensor, first_chunk: bool) -> Tensor:
        ft, fs = self.factor_t, self.factor_s
        b, _, t, h, w = x.shape
        x = x.repeat_interleave(self.repeats, dim=1).reshape(b, self.out_dim, ft, fs, fs, t, h, w)
        x = x.permute(0, 1, 5, 2, 6, 3, 7, 4).reshape(b, self.out_dim, t * ft, h * fs, w * fs)
        return x[:, :, ft - 1:] if first_chunk else x


def residual_blocks(in_dim: int, out_dim: int, count: int, operations) -> list[nn.Module]:
    """`count` residual blocks, the first changing the width from `in_dim` to `out_dim`."""
    return [ResidualBlock(in_dim if i == 0 else out_dim, out_dim, operations) for i in range(count)]


class DownStage(nn.Module):
    """`num_blocks` residual blocks, then (except in the last stage) a 2x downsample."""

    def __init__(self, in_dim: int, out_dim: int, num_blocks: int, temporal: bool, spatial: bool, operations=nn) -> None:
        super().__init__()
        blocks = residual_blocks(in_dim, out_dim, num_blocks, operations)
        if spatial:
            blocks.append(Downsample(out_dim, temporal, operations))
        self.downsamples = nn.ModuleList(blocks)
        self.avg_shortcut = AvgDown3D(in_dim, out_dim, 2 if temporal else 1, 2 if spatial else 1)

    def forward(self, x: Tensor, cache: FrameCache) -> Tensor:
        shortcut = self.avg_shortcut(x)
        for block in self.downsamples:
            x = block(x, cache)
        return x + shortcut


class UpStage(nn.Module):
    """`num_blocks` residual blocks, then (except in the last stage) a 2x upsample with a DupUp3D shortcut."""

    def __init__(self, in_dim: int, out_dim: int, num_blocks: int, temporal: bool, spatial: bool, operations=nn) -> None:
        super().__init__()
        blocks = residual_blocks(in_dim, out_dim, num_blocks, operations)
        if spatial:
            blocks.append(Upsample(out_dim, temporal, operations))
        self.upsamples = nn.ModuleList(blocks)
        self.num_blocks = num_blocks
        self.avg_shortcut = DupUp3D(in_dim, out_dim, 2 if temporal else 1, 2) if spatial else None

    def forward(self, x: Tensor, cache: FrameCache, first_chunk: bool) -> Tensor:
        h = x
        for block in self.upsamples[: self.num_blocks]:
            h = block(h, cache)
        if self.avg_shortcut is None:
            return h
        return self.upsamples[-1](h, cache, first_chunk) + self.avg_shortcut(x, first_chunk)
