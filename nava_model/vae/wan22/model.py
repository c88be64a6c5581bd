"""Wan2.2 video VAE (Wan-Video/Wan2.2 `wan/modules/vae2_2.py`): 4x16x16 compression to 48 channels.

Pixels in [-1, 1] are patchified 2x2 into 12 channels, encoded causally in time (the first frame
alone, then chunks of 4 frames, each to one latent frame) and normalised with per-channel
statistics. Decoding streams one latent frame at a time (the first gives 1 frame, the others 4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from ...checkpoints import Checkpoint, CheckpointError, open_checkpoint, require_layout
from ...components import require_component
from ...latent_space import VIDEO_STRIDE_HW, VideoSizeError, check_video_size, pixel_frames
from ...random_init import random_state_dict, state_dict_shapes
from .keys import diffusers_name, is_diffusers_layout
from .layers import FrameCache, Head, Middle, causal_conv3d, conv3d, patchify, unpatchify
from .resample import DownStage, UpStage
from .tiling import Tiling, TileSpread, run_tiled, tile_grid

PATCH = 2
DIM_MULT = (1, 2, 4, 4)
TEMPORAL_DOWN = (False, True, True)  # per encoder stage (the last stage has no resampler); the decoder mirrors it
NUM_RES_BLOCKS = 2
ENCODE_CHUNK = 4  # pixel frames per latent frame after the first

# Per-channel latent statistics of the released VAE: z = (mu - mean) / std.
LATENT_MEAN = (
    -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557, -0.1382, 0.0542, 0.2813, 0.0891,
    0.1570, -0.0098, 0.0375, -0.1825, -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
    -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230, -0.0313, -0.1649, 0.0117, 0.0723,
    -0.2839, -0.2083, -0.0520, 0.3748, 0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667,
)
LATENT_STD = (
    0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013, 0.8158, 1.0344, 0.5894, 1.0901,
    0.6885, 0.6165, 0.8454, 0.4978, 0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
    0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093, 0.5709, 0.6065, 0.6415, 0.4944,
    0.5726, 1.2042, 0.5458, 1.6887, 0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744,
)
Z_DIM = len(LATENT_MEAN)


@dataclass(frozen=True)
class Wan22VAEConfig:
    dim: int = 160  # encoder base width
    dec_dim: int = 256  # decoder base width
    z_dim: int = Z_DIM


TINY_CONFIG = Wan22VAEConfig(dim=4, dec_dim=2)


class Encoder(nn.Module):
    def __init__(self, dim: int, out_dim: int, operations=nn) -> None:
        super().__init__()
        dims = [dim * m for m in (1, *DIM_MULT)]
        last = len(DIM_MULT) - 1
        self.conv1 = conv3d(operations, 3 * PATCH * PATCH, dims[0], 3)
        self.downsamples = nn.ModuleList(
            DownStage(dims[i], dims[i + 1], NUM_RES_BLOCKS, i < last and TEMPORAL_DOWN[i], i < last, operations)
            for i in range(len(DIM_MULT))
        )
        self.middle = Middle(dims[-1], operations)
        self.head = Head(dims[-1], out_dim, operations)

    def forward(self, x: Tensor, cache: FrameCache) -> Tensor:
        x = causal_conv3d(self.conv1, x, cache)
        for stage in self.downsamples:
            x = stage(x, cache)
        return self.head(self.middle(x, cache), cache)


class Decoder(nn.Module):
    def __init__(self, dim: int, z_dim: int, operations=nn) -> None:
        super().__init__()
        dims = [dim * m for m in (DIM_MULT[-1], *DIM_MULT[::-1])]
        temporal_up = TEMPORAL_DOWN[::-1]
        last = len(DIM_MULT) - 1
        self.conv1 = conv3d(operations, z_dim, dims[0], 3)
        self.middle = Middle(dims[0], operations)
        self.upsamples = nn.ModuleList(
            UpStage(dims[i], dims[i + 1], NUM_RES_BLOCKS + 1, i < last and temporal_up[i], i < last, operations)
            for i in range(len(DIM_MULT))
        )
        self.head = Head(dims[-1], 3 * PATCH * PATCH, operations)

    def forward(self, x: Tensor, cache: FrameCache, first_chunk: bool) -> Tensor:
        x = self.middle(causal_conv3d(self.conv1, x, cache), cache)
        for stage in self.upsamples:
            x = stage(x, cache, first_chunk)
        return self.head(x, cache)


class _Progress:
    """Counts decoded latent frames and reports them as on_frame(done, total)."""

    def __init__(self, callback: Callable[[int, int], None] | None, total: int) -> None:
        self.callback, self.total, self.done = callback, total, 0

    def step(self) -> None:
        self.done += 1
        if self.callback is not None:
            self.callback(self.done, self.total)


class Wan22VAE(nn.Module):
    def __init__(self, config: Wan22VAEConfig = Wan22VAEConfig(), operations=nn) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config.dim, 2 * config.z_dim, operations)
        self.conv1 = conv3d(operations, 2 * config.z_dim, 2 * config.z_dim, 1)  # -> mu, log_var
        self.conv2 = conv3d(operations, config.z_dim, config.z_dim, 1)
        self.decoder = Decoder(config.dec_dim, config.z_dim, operations)

    def _placement(self) -> tuple[torch.device, torch.dtype]:
        """Device and compute dtype of the weights."""
        return self.conv2.weight.device, self.conv2.weight.dtype

    @torch.no_grad()
    def encode(self, video: Tensor, tiled: bool | Tiling = False) -> Tensor:
        """[B, 3, T, H, W] pixels in [-1, 1], T = 4k + 1 -> normalised latent [B, 48, k + 1, H/16, W/16] (fp32)."""
        if video.ndim != 5 or video.shape[1] != 3:
            raise VideoSizeError(f"expected video [B, 3, T, H, W], got {tuple(video.shape)}")
        check_video_size(video.shape[4], video.shape[3], video.shape[2], multiple=VIDEO_STRIDE_HW)
        video = video.to(*self._placement())
        tiling = _tiling(tiled)
        grid = (video.shape[3] // VIDEO_STRIDE_HW, video.shape[4] // VIDEO_STRIDE_HW)
        if tiling is None:
            mu = self._encode_stream(video)
        else:
            mu = run_tiled(self._encode_stream, video, grid, tiling, in_scale=VIDEO_STRIDE_HW, out_scale=1)
        mean, std = _latent_stats(mu.device)
        return (mu.float() - mean) / std

    def _encode_stream(self, video: Tensor) -> Tensor:
        x = patchify(video, PATCH)
        cache = FrameCache()
        chunks = x[:, :, :1], *(x[:, :, 1:].split(ENCODE_CHUNK, dim=2) if x.shape[2] > 1 else ())
        return torch.cat([self.conv1(self.encoder(chunk, cache)).chunk(2, dim=1)[0] for chunk in chunks], dim=2)

    @torch.no_grad()
    def decode(
        self, latent: Tensor, tiled: bool | Tiling = False, on_frame: Callable[[int, int], None] | None = None,
        spread: TileSpread | None = None,
    ) -> Tensor:
        """Normalised latent [B, 48, F, h, w] -> pixels [B, 3, 4(F - 1) + 1, 16h, 16w] in [-1, 1] (fp32).

        `on_frame(done, total)` is called after each decoded latent frame (of each tile when tiled,
        so total = F x tiles); raising from it cancels the decode. `tiled=True` (or a `Tiling`)
        decodes overlapping spatial tiles one after the other to bound memory; `spread` shares the
        tiles among processes (each counts only its own tiles in `on_frame`), with the same result.
        """
        if latent.ndim != 5 or latent.shape[1] != self.config.z_dim:
            raise VideoSizeError(f"expected a latent [B, {self.config.z_dim}, F, h, w], got {tuple(latent.shape)}")
        device, dtype = self._placement()
        mean, std = _latent_stats(device)
        z = (latent.to(device).float() * std + mean).to(dtype)
        z = self.conv2(z)
        tiling = _tiling(tiled)
        grid = (z.shape[3], z.shape[4])
        tiles = 1 if tiling is None else len(tile_grid(grid, tiling))
        if tiling is not None and spread is not None:
            tiles = spread.tiles_here(tiles)
        progress = _Progress(on_frame, z.shape[2] * tiles)
        if tiling is None:
            video = self._decode_stream(z, progress)
        else:
            video = run_tiled(
                lambda tile: self._decode_stream(tile, progress), z, grid, tiling, in_scale=1, out_scale=VIDEO_STRIDE_HW,
                spread=spread,
            )
        return video.clamp_(-1.0, 1.0)

    def _decode_stream(self, z: Tensor, progress: _Progress) -> Tensor:
        b, _, f, h, w = z.shape
        stride = VIDEO_STRIDE_HW
        video = torch.empty(b, 3, pixel_frames(f), h * stride, w * stride, device=z.device, dtype=torch.float32)
        cache = FrameCache()
        start = 0
        for i in range(f):
            frames = unpatchify(self.decoder(z[:, :, i : i + 1], cache, first_chunk=i == 0), PATCH)
            video[:, :, start : start + frames.shape[2]] = frames
            start += frames.shape[2]
            progress.step()
        return video


def _latent_stats(device) -> tuple[Tensor, Tensor]:
    shape = (1, Z_DIM, 1, 1, 1)
    mean = torch.tensor(LATENT_MEAN, device=device, dtype=torch.float32).view(shape)
    std = torch.tensor(LATENT_STD, device=device, dtype=torch.float32).view(shape)
    return mean, std


def _tiling(tiled: bool | Tiling) -> Tiling | None:
    if isinstance(tiled, Tiling):
        return tiled
    return Tiling() if tiled else None


def official_shapes(config: Wan22VAEConfig) -> dict[str, tuple[int, ...]]:
    """Key -> shape table of the official layout at the given widths (built on the meta device)."""
    with torch.device("meta"):
        return state_dict_shapes(Wan22VAE(config))


def _config_from_shapes(shapes: dict[str, tuple[int, ...]], checkpoint: Checkpoint) -> Wan22VAEConfig:
    name = checkpoint.name
    try:
        config = Wan22VAEConfig(
            dim=shapes["encoder.conv1.weight"][0],
            dec_dim=shapes["decoder.head.2.weight"][1],
            z_dim=shapes["conv2.weight"][0],
        )
    except KeyError as exc:
        raise CheckpointError(f"{name} lacks {exc} and is not a complete Wan2.2 VAE: download it again.") from None
    if config.z_dim != Z_DIM:
        raise CheckpointError(f"{name} has {config.z_dim} latent channels; the Wan2.2 VAE has {Z_DIM}.")
    require_layout(checkpoint, "Wan2.2 VAE", shapes, official_shapes(config))
    return config


def _official_names(keys) -> dict[str, str]:
    """File key -> official key; diffusers files are renamed through the rule table."""
    if not is_diffusers_layout(keys):
        return {key: key for key in keys}
    official = {diffusers_name(key): key for key in official_shapes(TINY_CONFIG)}
    unknown = sorted(k for k in keys if k not in official)
    if unknown:
        raise CheckpointError(f"unknown keys for a diffusers AutoencoderKLWan (Wan2.2) file: {unknown[:3]}")
    return {key: official[key] for key in keys}


def load_wan22_vae(path, device="cpu", dtype=torch.float32, operations=nn) -> Wan22VAE:
    """Load `Wan2.2_VAE.pth`, ComfyUI's `wan2.2_vae.safetensors` or a diffusers AutoencoderKLWan (Wan2.2) file
    (a path or an opened `Checkpoint`)."""
    checkpoint = open_checkpoint(path)
    require_component(checkpoint, "video_vae")
    names = _official_names(checkpoint.shapes)
    config = _config_from_shapes({names[k]: shape for k, shape in checkpoint.shapes.items()}, checkpoint)
    state = {names[k]: v.to(device=device, dtype=dtype) for k, v in checkpoint.tensors()}
    with torch.device("meta"):
        model = Wan22VAE(config, operations)
    model.load_state_dict(state, assign=True)
    return model.eval().requires_grad_(False)


def write_tiny_wan22_vae(path, seed: int = 0) -> None:
    """A tiny random-weight VAE file at `path` (z 48 and 4x16x16 kept, widths 4 and 2)."""
    tensors = random_state_dict(official_shapes(TINY_CONFIG), seed)
    save_file(tensors, str(path), metadata={"nava_tiny": "true", "nava_seed": str(seed)})
