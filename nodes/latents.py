"""NAVA latents <-> ComfyUI LATENT dicts, following Core's conventions so Core nodes can take them.

- Video: Core keeps raw Wan2.2 VAE latents in LATENT and normalises inside the model
  (`latent_formats.Wan22.process_in`); NAVA works on normalised latents. So video leaves as
  `process_out(x)`, and Core's VAE Decode with wan2.2_vae decodes it directly.
- Audio: Core's LTX-2 audio LATENT is the normalised latent as [B, 8, T, 16] (channels, time,
  mel rows); NAVA's tokens are the same numbers as [B, T, 128] with feature = channel * 16 + row.
- Audio + video: Core's LTX-2 AV LATENT, `samples` = NestedTensor((video, audio)), which
  LTXVSeparateAVLatent splits; video-only is a plain video LATENT, audio-only an audio LATENT.
"""

from __future__ import annotations

import torch
from comfy import latent_formats
from comfy.nested_tensor import NestedTensor

from nava_model.latent_space import (
    AUDIO_LATENT_CHANNELS,
    AUDIO_LATENT_ROWS,
    AUDIO_SAMPLE_RATE,
    VIDEO_FPS,
    VIDEO_LATENT_CHANNELS,
)
from nava_model.pipeline import AVLatent


def _audio_to_core(tokens: torch.Tensor) -> torch.Tensor:
    return tokens.unflatten(-1, (AUDIO_LATENT_CHANNELS, AUDIO_LATENT_ROWS)).transpose(1, 2)


def _audio_from_core(latent: torch.Tensor) -> torch.Tensor:
    return latent.transpose(1, 2).flatten(2)


def to_comfy_latent(latent: AVLatent) -> dict:
    video = None if latent.video is None else latent_formats.Wan22().process_out(latent.video.float().cpu())
    audio = None if latent.audio is None else _audio_to_core(latent.audio.float().cpu())
    if video is not None and audio is not None:
        return {"samples": NestedTensor((video, audio)), "fps": latent.fps}
    if video is not None:
        return {"samples": video, "fps": latent.fps}
    # Core's audio LATENT records the rate the audio VAE encodes at
    return {"samples": audio, "type": "audio", "sample_rate": AUDIO_SAMPLE_RATE, "fps": latent.fps}


def from_comfy_latent(latent: dict) -> AVLatent:
    samples = latent["samples"]
    parts = samples.unbind() if getattr(samples, "is_nested", False) else [samples]
    video = next((p for p in parts if p.ndim == 5), None)
    audio = next((p for p in parts if p.ndim == 4), None)
    if video is None and audio is None:
        raise ValueError(
            f"this LATENT holds {[tuple(p.shape) for p in parts]}, neither a video latent "
            f"[B, {VIDEO_LATENT_CHANNELS}, F, H, W] nor an LTX audio latent [B, {AUDIO_LATENT_CHANNELS}, T, "
            f"{AUDIO_LATENT_ROWS}]: connect the latent output of NAVA Sampler"
        )
    if video is not None and video.shape[1] != VIDEO_LATENT_CHANNELS:
        raise ValueError(
            f"video latent has {video.shape[1]} channels; NAVA's Wan2.2 latents have {VIDEO_LATENT_CHANNELS}"
        )
    if audio is not None and tuple(audio.shape[1::2]) != (AUDIO_LATENT_CHANNELS, AUDIO_LATENT_ROWS):
        raise ValueError(
            f"audio latent {tuple(audio.shape)} is not an LTX audio latent "
            f"[B, {AUDIO_LATENT_CHANNELS}, T, {AUDIO_LATENT_ROWS}]"
        )
    return AVLatent(
        video=None if video is None else latent_formats.Wan22().process_in(video.float()),
        audio=None if audio is None else _audio_from_core(audio.float()),
        fps=float(latent.get("fps", VIDEO_FPS)),
    )
