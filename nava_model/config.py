"""Model configuration for the NAVA MMDiT and the presets we ship.

`nava-6.3b` is the released architecture (upstream `NAVA_6B.json` + `configs/nava.yaml`);
`tiny` keeps every structural choice but shrinks the widths so the whole pipeline runs on a CPU
in seconds. Component sizes for the tiny preset (text width, speaker width) must agree with the
tiny component files written by `python -m nava_model make-tiny`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .latent_space import AUDIO_TOKEN_FEATURES, VIDEO_LATENT_CHANNELS

SPEAKER_EMBED_DIM = 192  # ReDimNet embedding width
TEXT_LEN = 512


@dataclass(frozen=True)
class NavaConfig:
    dim: int
    ffn_dim: int
    num_heads: int
    num_double_blocks: int
    num_single_blocks: int
    text_dim: int
    freq_dim: int = 256
    patch_size: tuple[int, int, int] = (1, 2, 2)
    video_in_channels: int = VIDEO_LATENT_CHANNELS
    audio_in_channels: int = AUDIO_TOKEN_FEATURES
    speaker_dim: int = SPEAKER_EMBED_DIM
    text_len: int = TEXT_LEN
    eps: float = 1e-6
    audio_rope_scale: float = 0.24  # 6 video latent frames/s divided by 25 audio tokens/s
    rope_theta: float = 10000.0
    rope_max_positions: int = 1024
    audio_embed_kernel: int = 7

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @property
    def audio_embed_hidden(self) -> int:
        """Hidden width of the audio ConvMLP embedder: SwiGLU 2/3 rule, rounded up to 256."""
        return 256 * math.ceil(int(2 * (4 * self.dim) / 3) / 256)

    @property
    def video_out_features(self) -> int:
        pt, ph, pw = self.patch_size
        return pt * ph * pw * self.video_in_channels

    def __post_init__(self) -> None:
        if self.dim % self.num_heads:
            raise ValueError(f"dim {self.dim} is not divisible by num_heads {self.num_heads}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim {self.head_dim} must be even for RoPE")


PRESETS: dict[str, NavaConfig] = {
    "nava-6.3b": NavaConfig(
        dim=3072, ffn_dim=14336, num_heads=24, num_double_blocks=10, num_single_blocks=20, text_dim=4096
    ),
    # Same structure, widths small enough for a CPU demo; text_dim matches the tiny umT5.
    "tiny": NavaConfig(dim=64, ffn_dim=128, num_heads=2, num_double_blocks=2, num_single_blocks=2, text_dim=64),
}


def get_preset(name: str, **overrides) -> NavaConfig:
    try:
        config = PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
    return replace(config, **overrides) if overrides else config
