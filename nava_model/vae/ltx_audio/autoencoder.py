"""Encoder and decoder of the LTX-2 audio VAE (stereo log-mel image <-> 8 x T/4 x 16 latent).

Encoder: conv_in, per level `num_res_blocks` resnet blocks (+ a stride-2 downsample except at the
last level), a mid pair of blocks, PixelNorm, SiLU, conv_out to 2·z channels (mean, log-variance).
Decoder: the mirror image with `num_res_blocks + 1` blocks per level and nearest ×2 upsampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from nava_model.vae.ltx_audio.layers import CausalConv2d, Downsample, PixelNorm, ResnetBlock, Upsample

TIME_DOWNSAMPLE = 4  # two stride-2 levels


@dataclass(frozen=True)
class AudioVaeConfig:
    """`audio_vae` section of the checkpoint's `config` JSON (released values as defaults)."""

    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 4)
    num_res_blocks: int = 2
    z_channels: int = 8
    double_z: bool = True
    in_channels: int = 2
    out_ch: int = 2
    mel_bins: int = 64
    sample_rate: int = 16000
    hop_length: int = 160
    n_fft: int = 1024

    @property
    def latent_rows(self) -> int:
        """Mel rows per latent channel after the two frequency halvings (64 -> 16)."""
        return self.mel_bins // 2 ** (len(self.ch_mult) - 1)

    @property
    def token_dim(self) -> int:
        return self.z_channels * self.latent_rows

    @classmethod
    def from_json(cls, cfg: dict) -> AudioVaeConfig:
        params = cfg.get("model", {}).get("params", {})
        dd = params.get("ddconfig", {})
        stft = cfg.get("preprocessing", {}).get("stft", {})
        mel = cfg.get("preprocessing", {}).get("mel", {})
        unsupported = {
            "norm_type": (dd.get("norm_type", "pixel"), "pixel"),
            "causality_axis": (dd.get("causality_axis", "height"), "height"),
            "mid_block_add_attention": (bool(dd.get("mid_block_add_attention", False)), False),
            "attn_resolutions": (bool(dd.get("attn_resolutions")), False),
            "causal": (stft.get("causal", True), True),
        }
        for name, (value, released) in unsupported.items():
            if value != released:
                raise ValueError(f"unsupported LTX audio VAE setting {name}={value!r} (released files use {released!r})")
        return cls(
            ch=int(dd.get("ch", 128)),
            ch_mult=tuple(dd.get("ch_mult", (1, 2, 4))),
            num_res_blocks=int(dd.get("num_res_blocks", 2)),
            z_channels=int(dd.get("z_channels", 8)),
            double_z=bool(dd.get("double_z", True)),
            in_channels=int(dd.get("in_channels", 2)),
            out_ch=int(dd.get("out_ch", 2)),
            mel_bins=int(dd.get("mel_bins") or mel.get("n_mel_channels") or cfg.get("variables", {}).get("mel_bins") or 64),
            sample_rate=int(params.get("sampling_rate", 16000)),
            hop_length=int(stft.get("hop_length", 160)),
            n_fft=int(stft.get("filter_length", 1024)),
        )

    def to_json(self) -> dict:
        ddconfig = {
            "double_z": self.double_z,
            "mel_bins": self.mel_bins,
            "z_channels": self.z_channels,
            "resolution": 256,
            "in_channels": self.in_channels,
            "out_ch": self.out_ch,
            "ch": self.ch,
            "ch_mult": list(self.ch_mult),
            "num_res_blocks": self.num_res_blocks,
            "attn_resolutions": [],
            "dropout": 0.0,
            "mid_block_add_attention": False,
            "norm_type": "pixel",
            "causality_axis": "height",
        }
        return {
            "model": {"params": {"ddconfig": ddconfig, "sampling_rate": self.sample_rate}},
            "preprocessing": {
                "stft": {"filter_length": self.n_fft, "hop_length": self.hop_length, "causal": True},
                "mel": {"n_mel_channels": self.mel_bins},
            },
        }


def mid_block(channels: int, factory: dict) -> nn.Module:
    mid = nn.Module()
    mid.block_1 = ResnetBlock(channels, channels, **factory)
    mid.block_2 = ResnetBlock(channels, channels, **factory)
    return mid


class AudioEncoder(nn.Module):
    def __init__(self, config: AudioVaeConfig, operations=nn, device=None, dtype=None):
        super().__init__()
        factory = dict(operations=operations, device=device, dtype=dtype)
        self.z_channels = config.z_channels
        widths = [config.ch * m for m in config.ch_mult]
        self.conv_in = CausalConv2d(config.in_channels, config.ch, 3, **factory)
        self.down = nn.ModuleList()
        width = config.ch
        for level, out in enumerate(widths):
            stage = nn.Module()
            stage.block = nn.ModuleList(
                ResnetBlock(width if i == 0 else out, out, **factory) for i in range(config.num_res_blocks)
            )
            width = out
            if level < len(widths) - 1:
                stage.downsample = Downsample(width, **factory)
            self.down.append(stage)
        self.mid = mid_block(width, factory)
        self.norm_out = PixelNorm()
        out_channels = 2 * config.z_channels if config.double_z else config.z_channels
        self.conv_out = CausalConv2d(width, out_channels, 3, **factory)

    def forward(self, mel: Tensor) -> Tensor:
        """Log-mel [B, 2, T, mel_bins] -> latent mean [B, z, ceil(T / 4), mel_bins / 4]."""
        h = self.conv_in(mel)
        for stage in self.down:
            for block in stage.block:
                h = block(h)
            if hasattr(stage, "downsample"):
                h = stage.downsample(h)
        h = self.mid.block_2(self.mid.block_1(h))
        h = self.conv_out(F.silu(self.norm_out(h)))
        return h[:, : self.z_channels]


class AudioDecoder(nn.Module):
    def __init__(self, config: AudioVaeConfig, operations=nn, device=None, dtype=None):
        super().__init__()
        factory = dict(operations=operations, device=device, dtype=dtype)
        self.config = config
        widths = [config.ch * m for m in config.ch_mult]
        width = widths[-1]
        self.conv_in = CausalConv2d(config.z_channels, width, 3, **factory)
        self.mid = mid_block(width, factory)
        stages = []
        for level in reversed(range(len(widths))):
            stage = nn.Module()
            stage.block = nn.ModuleList(
                ResnetBlock(width if i == 0 else widths[level], widths[level], **factory)
                for i in range(config.num_res_blocks + 1)
            )
            width = widths[level]
            if level > 0:
                stage.upsample = Upsample(width, **factory)
            stages.insert(0, stage)
        self.up = nn.ModuleList(stages)
        self.norm_out = PixelNorm()
        self.conv_out = CausalConv2d(width, config.out_ch, 3, **factory)

    def forward(self, z: Tensor) -> Tensor:
        """Latent [B, z, T, 16] -> log-mel [B, 2, 4T - 3, mel_bins] (cropped or zero-padded to that size)."""
        frames = max(TIME_DOWNSAMPLE * z.shape[2] - (TIME_DOWNSAMPLE - 1), 1)
        h = self.mid.block_2(self.mid.block_1(self.conv_in(z)))
        for stage in reversed(self.up):
            for block in stage.block:
                h = block(h)
            if hasattr(stage, "upsample"):
                h = stage.upsample(h)
        h = self.conv_out(F.silu(self.norm_out(h)))
        h = h[:, :, :frames, : self.config.mel_bins]
        return F.pad(h, (0, self.config.mel_bins - h.shape[3], 0, frames - h.shape[2]))
