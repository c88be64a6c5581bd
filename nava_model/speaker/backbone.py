"""The ReDimNet backbone: stages that alternate between a 2-D view [B, c, f, T] and a 1-D view [B, c*f, T].

Every stage keeps c*f = C*F constant (a frequency stride s multiplies the channels by s), so all stage
outputs share one 1-D shape; each stage reads a learned softmax-weighted sum of all earlier outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .blocks import ChannelNorm, ConvBlock2d, TimeContextBlock1d, conv_block_2d


@dataclass(frozen=True)
class StageSpec:
    stride: int  # frequency stride (channels grow by the same factor)
    num_blocks: int
    conv_exp: int  # channel expansion inside the 2-D blocks
    att_block_red: int | None  # C*F // att_block_red channels in the 1-D block; None = no 1-D block


class LayerWeights(nn.Module):
    """Softmax-weighted sum over a list of [B, C*F, T] outputs; `w` is [1, N, C*F or 1, 1]."""

    def __init__(self, count: int, channels: int, device=None, dtype=None):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1, count, channels, 1, device=device, dtype=dtype))

    def forward(self, outputs: list[Tensor]) -> Tensor:
        weights = torch.softmax(self.w, dim=1).to(outputs[0])
        return (weights * torch.stack(outputs, dim=1)).sum(dim=1)


class To2d(nn.Module):
    """[B, f*c, T] (frequency-major) -> [B, c, f, T]."""

    def __init__(self, freq: int, channels: int):
        super().__init__()
        self.freq, self.channels = freq, channels

    def forward(self, x: Tensor) -> Tensor:
        return x.unflatten(1, (self.freq, self.channels)).transpose(1, 2)


class To1d(nn.Module):
    """[B, c, f, T] -> [B, f*c, T] (frequency-major)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.transpose(1, 2).flatten(1, 2)


def _stage(index: int, spec: StageSpec, c: int, f: int, width: int, block_1d: str, block_2d: str,
           group_divisor: int | None, operations, factory: dict) -> nn.Sequential:
    """Layers of stage `index` for an input of c channels x f bins, width = c*f.

    The list indices are the checkpoint's keys.
    """
    inputs = index + 1
    out_c, out_f = c * spec.stride, f // spec.stride
    wide = out_c * spec.conv_exp
    layers = [
        # The first stage has a single input: its weight is one scalar.
        LayerWeights(inputs, width if inputs > 1 else 1, **factory),
        To2d(f, c),
        operations.Conv2d(c, wide, (spec.stride, 1), stride=(spec.stride, 1), **factory),
    ]
    layers += [
        ConvBlock2d(conv_block_2d(block_2d, wide, out_f, group_divisor, operations, **factory))
        for _ in range(spec.num_blocks)
    ]
    if spec.conv_exp != 1:
        relu = "relu" in block_1d and "relu" in block_2d
        groups = 1 if group_divisor is None else out_c // group_divisor
        layers.append(nn.Sequential(
            operations.Conv2d(wide, out_c, 3, padding="same", groups=groups, **factory),
            nn.BatchNorm2d(out_c, eps=1e-6, **factory),
            nn.ReLU() if relu else nn.GELU(),
            operations.Conv2d(out_c, out_c, 1, **factory),
        ))
    layers.append(To1d())
    if spec.att_block_red is not None:
        layers.append(TimeContextBlock1d(width, width // spec.att_block_red, block_1d, operations, **factory))
    return nn.Sequential(*layers)


class ReDimNetBackbone(nn.Module):
    """log-mel [B, 1, F, T] -> frame features [B, C*F, T] (or [B, out_channels, T] through `mfa`)."""

    def __init__(self, F: int, C: int, block_1d: str, block_2d: str, stages: list[StageSpec],
                 group_divisor: int | None, out_channels: int | None, operations=nn, device=None, dtype=None):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.stem = nn.Sequential(
            operations.Conv2d(1, C, 3, padding="same", **factory),
            ChannelNorm(C, **factory),
            To1d(),
        )
        self.num_stages = len(stages)
        c, f = C, F
        for index, spec in enumerate(stages):
            if spec.stride not in (1, 2, 3) or f % spec.stride:
                raise ValueError(f"stage {index}: frequency stride {spec.stride} does not divide {f} bins")
            stage = _stage(index, spec, c, f, F * C, block_1d, block_2d, group_divisor, operations, factory)
            self.add_module(f"stage{index}", stage)
            c, f = c * spec.stride, f // spec.stride
        self.fin_wght1d = LayerWeights(len(stages) + 1, F * C, **factory)
        if out_channels is None:
            self.mfa = nn.Identity()
        else:
            self.mfa = nn.Sequential(
                operations.Conv1d(F * C, out_channels, 1, **factory), nn.BatchNorm1d(out_channels, **factory)
            )

    def forward(self, x: Tensor) -> Tensor:
        outputs = [self.stem(x)]
        for index in range(self.num_stages):
            outputs.append(getattr(self, f"stage{index}")(outputs))
        return self.mfa(self.fin_wght1d(outputs))
