"""ReDimNet building blocks: 2-D convolution blocks on [B, C, F, T] maps, 1-D time-context blocks on [B, C*F, T].

Attribute names follow the released checkpoints' state-dict keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ChannelNorm(nn.Module):
    """LayerNorm across the channels (dim 1) of a [B, C, ...] map."""

    def __init__(self, channels: int, eps: float = 1e-6, device=None, dtype=None):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels, device=device, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(channels, device=device, dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        normed = F.layer_norm(x.movedim(1, -1), self.weight.shape, self.weight.to(x), self.bias.to(x), self.eps)
        return normed.movedim(-1, 1)


def _groups(channels: int, group_divisor: int | None) -> int:
    """Grouped convolutions use groups of `group_divisor` channels; None means a dense convolution."""
    return 1 if group_divisor is None else channels // group_divisor


def _activation(name: str) -> nn.Module:
    return nn.ReLU() if name == "relu" else nn.GELU()


class ConvNeXtLikeBlock(nn.Module):
    """x + pointwise(act(BN(concat of grouped convs with each kernel size))), in 1-D or 2-D."""

    def __init__(self, channels: int, dim: int, kernel_sizes, group_divisor: int | None = 1, activation: str = "gelu",
                 operations=nn, device=None, dtype=None):
        super().__init__()
        conv = operations.Conv2d if dim == 2 else operations.Conv1d
        batch_norm = nn.BatchNorm2d if dim == 2 else nn.BatchNorm1d
        factory = dict(device=device, dtype=dtype)
        self.dwconvs = nn.ModuleList(
            conv(channels, channels, k, padding="same", groups=_groups(channels, group_divisor), **factory)
            for k in kernel_sizes
        )
        self.norm = batch_norm(channels * len(kernel_sizes), **factory)
        self.act = _activation(activation)
        self.pwconv1 = conv(channels * len(kernel_sizes), channels, 1, **factory)

    def forward(self, x: Tensor) -> Tensor:
        branches = torch.cat([dwconv(x) for dwconv in self.dwconvs], dim=1)
        return x + self.pwconv1(self.act(self.norm(branches)))


class FrequencySqueezeExcitation(nn.Module):
    """Rescales each frequency row by a gate computed from the map averaged over channels and time."""

    def __init__(self, num_freq: int, hidden: int, operations=nn, device=None, dtype=None):
        super().__init__()
        self.squeeze = operations.Linear(num_freq, hidden, device=device, dtype=dtype)
        self.exitation = operations.Linear(hidden, num_freq, device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        gate = torch.sigmoid(self.exitation(F.relu(self.squeeze(x.mean(dim=(1, 3))))))
        return x * gate[:, None, :, None]


class ResBasicBlock(nn.Module):
    """ResNet basic block with grouped 3x3 + pointwise convs, ReLU before BN, optional frequency-wise SE."""

    def __init__(self, channels: int, num_freq: int, group_divisor: int | None, use_fwse: bool,
                 operations=nn, device=None, dtype=None):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        groups = _groups(channels, group_divisor)
        self.conv1 = operations.Conv2d(channels, channels, 3, padding=1, bias=False, groups=groups, **factory)
        self.bn1 = nn.BatchNorm2d(channels, **factory)
        self.conv2 = operations.Conv2d(channels, channels, 3, padding=1, bias=False, groups=groups, **factory)
        self.bn2 = nn.BatchNorm2d(channels, **factory)
        # Grouped convolutions are followed by a pointwise mix; dense ones are not.
        grouped = group_divisor is not None
        self.conv1pw = operations.Conv2d(channels, channels, 1, **factory) if grouped else nn.Identity()
        self.conv2pw = operations.Conv2d(channels, channels, 1, **factory) if grouped else nn.Identity()
        se_hidden = min(64, max(channels, 32))
        self.se = FrequencySqueezeExcitation(num_freq, se_hidden, operations, **factory) if use_fwse else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn1(F.relu(self.conv1pw(self.conv1(x))))
        out = self.se(self.bn2(self.conv2pw(self.conv2(out))))
        return F.relu(out + x)


def conv_block_2d(block_type: str, channels: int, num_freq: int, group_divisor: int | None,
                  operations=nn, device=None, dtype=None) -> nn.Module:
    factory = dict(operations=operations, device=device, dtype=dtype)
    if block_type in ("convnext_like", "convnext_like_relu"):
        activation = "relu" if block_type.endswith("relu") else "gelu"
        return ConvNeXtLikeBlock(channels, 2, [(3, 3)], group_divisor, activation, **factory)
    if block_type in ("basic_resnet", "basic_resnet_fwse"):
        return ResBasicBlock(channels, num_freq, group_divisor, block_type.endswith("fwse"), **factory)
    raise ValueError(f"unknown ReDimNet block_2d_type {block_type!r}")


class ConvBlock2d(nn.Module):
    """Holder that gives the 2-D block its `conv_block.` key prefix."""

    def __init__(self, conv_block: nn.Module):
        super().__init__()
        self.conv_block = conv_block

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_block(x)


class SelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, operations=nn, device=None, dtype=None):
        super().__init__()
        self.heads = heads
        factory = dict(device=device, dtype=dtype)
        self.q_proj = operations.Linear(width, width, **factory)
        self.k_proj = operations.Linear(width, width, **factory)
        self.v_proj = operations.Linear(width, width, **factory)
        self.out_proj = operations.Linear(width, width, **factory)

    def forward(self, x: Tensor) -> Tensor:  # [B, T, width]
        def split(t: Tensor) -> Tensor:
            return t.unflatten(-1, (self.heads, -1)).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x)))
        return self.out_proj(out.transpose(1, 2).flatten(2))


class FeedForward(nn.Module):
    def __init__(self, width: int, hidden: int, operations=nn, device=None, dtype=None):
        super().__init__()
        self.intermediate_dense = operations.Linear(width, hidden, device=device, dtype=dtype)
        self.output_dense = operations.Linear(hidden, width, device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.output_dense(F.gelu(self.intermediate_dense(x), approximate="tanh"))


class TransformerEncoderLayer(nn.Module):
    """Post-norm transformer layer (4 heads) on a channels-first sequence [B, width, T]."""

    def __init__(self, width: int, mlp: int, heads: int = 4, operations=nn, device=None, dtype=None):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.attention = SelfAttention(width, heads, operations, **factory)
        self.layer_norm = operations.LayerNorm(width, eps=1e-6, **factory)
        self.feed_forward = FeedForward(width, mlp, operations, **factory)
        self.final_layer_norm = operations.LayerNorm(width, eps=1e-6, **factory)

    def forward(self, x: Tensor) -> Tensor:
        x = x.transpose(1, 2)
        x = self.layer_norm(x + self.attention(x))
        x = self.final_layer_norm(x + self.feed_forward(x))
        return x.transpose(1, 2)


class PositionalConv(nn.Module):
    """x + norm(depthwise conv over time): a convolutional relative-position encoding."""

    def __init__(self, channels: int, kernel_size: int, operations=nn, device=None, dtype=None):
        super().__init__()
        self.conv = operations.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels,
                                      device=device, dtype=dtype)
        self.norm = ChannelNorm(channels, device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.norm(self.conv(x))


def time_context_model(block_type: str, hidden: int, operations=nn, device=None, dtype=None) -> nn.Sequential:
    """The sequence model inside a TimeContextBlock1d, one of ReDimNet's four 1-D block types."""
    factory = dict(operations=operations, device=device, dtype=dtype)
    if block_type == "att":
        return nn.Sequential(
            PositionalConv(hidden, 59, **factory), TransformerEncoderLayer(hidden, 2 * hidden, **factory)
        )
    if block_type == "conv+att":
        convs = [ConvNeXtLikeBlock(hidden, 1, [k], 1, **factory) for k in (7, 19, 31, 59)]
        return nn.Sequential(*convs, TransformerEncoderLayer(hidden, hidden, **factory))
    if block_type == "conv":
        return nn.Sequential(*(ConvNeXtLikeBlock(hidden, 1, [7, 15, 31], 1, **factory) for _ in range(4)))
    if block_type == "fc":
        return nn.Sequential(
            operations.Conv1d(hidden, 2 * hidden, 1, device=device, dtype=dtype),
            ChannelNorm(2 * hidden, device=device, dtype=dtype),
            nn.GELU(),
            operations.Conv1d(2 * hidden, hidden, 1, device=device, dtype=dtype),
        )
    raise ValueError(f"unknown ReDimNet block_1d_type {block_type!r}")


class TimeContextBlock1d(nn.Module):
    """Residual 1-D block: reduce C*F channels to `hidden`, model time, expand back."""

    def __init__(self, channels: int, hidden: int, block_type: str, operations=nn, device=None, dtype=None):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.red_dim_conv = nn.Sequential(
            operations.Conv1d(channels, hidden, 1, **factory), ChannelNorm(hidden, **factory)
        )
        self.tcm = time_context_model(block_type, hidden, operations, **factory)
        self.exp_dim_conv = operations.Conv1d(hidden, channels, 1, **factory)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.exp_dim_conv(self.tcm(self.red_dim_conv(x)))
