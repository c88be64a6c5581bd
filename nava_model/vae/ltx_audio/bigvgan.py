"""BigVGAN-v2 building blocks: anti-aliased SnakeBeta activations and the AMP residual block.

An activation creates harmonics above Nyquist; BigVGAN-v2 therefore runs it at twice the sample
rate between a Kaiser-windowed-sinc upsampler and a matching low-pass downsampler. The two 12-tap
filters are buffers stored in the checkpoint; `kaiser_sinc_filter` recomputes their values for
files we write ourselves.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ANTI_ALIAS_RATIO = 2
ANTI_ALIAS_TAPS = 12


def kaiser_sinc_filter(cutoff: float, half_width: float, taps: int) -> Tensor:
    """Low-pass FIR [1, 1, taps]: sinc at `cutoff` (fraction of the sample rate) under a Kaiser window.

    The Kaiser beta follows Kaiser's design formula for the attenuation implied by the transition
    band `half_width`; the taps are normalised to unit DC gain. Computed on the CPU, so that a model
    built on the meta device still gets real values.
    """
    half = taps // 2
    attenuation = 2.285 * (half - 1) * math.pi * (4 * half_width) + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(taps, periodic=False, beta=beta, device="cpu")
    time = torch.arange(-half, half, device="cpu") + 0.5 if taps % 2 == 0 else torch.arange(taps, device="cpu") - half
    response = 2 * cutoff * window * torch.sinc(2 * cutoff * time)
    return (response / response.sum()).view(1, 1, taps)


def anti_alias_filter(ratio: int = ANTI_ALIAS_RATIO, taps: int = ANTI_ALIAS_TAPS) -> Tensor:
    """The filter shared by the ×ratio upsampler and the ÷ratio downsampler of an activation."""
    return kaiser_sinc_filter(0.5 / ratio, 0.6 / ratio, taps)


def depthwise(filter_: Tensor, channels: int, dtype: torch.dtype) -> Tensor:
    return filter_.to(dtype).expand(channels, -1, -1)


def interpolate(x: Tensor, filter_: Tensor, ratio: int, pad: int, crop: tuple[int, int]) -> Tensor:
    """×ratio: replicate-pad, zero-stuff and filter each channel (a depthwise transposed conv), crop."""
    x = F.pad(x, (pad, pad), mode="replicate")
    x = ratio * F.conv_transpose1d(x, depthwise(filter_, x.shape[1], x.dtype), stride=ratio, groups=x.shape[1])
    return x[..., crop[0] : x.shape[-1] - crop[1]]


def dilated_conv_pairs(channels: int, kernel: int, dilations, operations=nn, device=None, dtype=None):
    """The two conv lists of a HiFi-GAN / BigVGAN residual block: dilated convs, then undilated ones."""

    def conv(dilation: int):
        padding = dilation * (kernel - 1) // 2
        return operations.Conv1d(channels, channels, kernel, dilation=dilation, padding=padding, device=device, dtype=dtype)

    return nn.ModuleList(conv(d) for d in dilations), nn.ModuleList(conv(1) for _ in dilations)


class KaiserUpsample(nn.Module):
    """×ratio by zero-stuffing and low-pass filtering (a depthwise transposed conv), edges replicated."""

    def __init__(self, ratio: int = ANTI_ALIAS_RATIO, taps: int = ANTI_ALIAS_TAPS):
        super().__init__()
        self.ratio = ratio
        self.pad = taps // ratio - 1
        self.crop = (self.pad * ratio + (taps - ratio) // 2, self.pad * ratio + (taps - ratio + 1) // 2)
        self.register_buffer("filter", anti_alias_filter(ratio, taps))

    def forward(self, x: Tensor) -> Tensor:
        return interpolate(x, self.filter, self.ratio, self.pad, self.crop)


class LowPass(nn.Module):
    """Depthwise low-pass filter with stride, edges replicated (the filter lives under `lowpass.`)."""

    def __init__(self, ratio: int, taps: int):
        super().__init__()
        self.stride = ratio
        self.pad = (taps // 2 - int(taps % 2 == 0), taps // 2)
        self.register_buffer("filter", anti_alias_filter(ratio, taps))

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, self.pad, mode="replicate")
        return F.conv1d(x, depthwise(self.filter, x.shape[1], x.dtype), stride=self.stride, groups=x.shape[1])


class KaiserDownsample(nn.Module):
    def __init__(self, ratio: int = ANTI_ALIAS_RATIO, taps: int = ANTI_ALIAS_TAPS):
        super().__init__()
        self.lowpass = LowPass(ratio, taps)

    def forward(self, x: Tensor) -> Tensor:
        return self.lowpass(x)


class SnakeBeta(nn.Module):
    """x + sin²(x·e^α) / (e^β + 1e-9), with per-channel log-scale α (frequency) and β (magnitude)."""

    def __init__(self, channels: int, device=None, dtype=None):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels, device=device, dtype=dtype))
        self.beta = nn.Parameter(torch.zeros(channels, device=device, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        alpha = self.alpha.to(x.dtype).exp()[:, None]
        beta = self.beta.to(x.dtype).exp()[:, None]
        return x + torch.sin(x * alpha).pow(2) / (beta + 1e-9)


class AntiAliasedSnake(nn.Module):
    """SnakeBeta evaluated at twice the sample rate."""

    def __init__(self, channels: int, device=None, dtype=None):
        super().__init__()
        self.upsample = KaiserUpsample()
        self.act = SnakeBeta(channels, device=device, dtype=dtype)
        self.downsample = KaiserDownsample()

    def forward(self, x: Tensor) -> Tensor:
        return self.downsample(self.act(self.upsample(x)))


class AMPBlock(nn.Module):
    """Three residual units; unit i: act → conv(k, dilation d_i) → act → conv(k) added to its input."""

    def __init__(self, channels: int, kernel: int, dilations, operations=nn, device=None, dtype=None):
        super().__init__()
        self.convs1, self.convs2 = dilated_conv_pairs(channels, kernel, dilations, operations, device, dtype)
        self.acts1 = nn.ModuleList(AntiAliasedSnake(channels, device=device, dtype=dtype) for _ in dilations)
        self.acts2 = nn.ModuleList(AntiAliasedSnake(channels, device=device, dtype=dtype) for _ in dilations)

    def forward(self, x: Tensor) -> Tensor:
        for conv1, conv2, act1, act2 in zip(self.convs1, self.convs2, self.acts1, self.acts2):
            x = x + conv2(act2(conv1(act1(x))))
        return x
