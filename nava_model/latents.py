"""Final latents on disk (`--latents-out`): a safetensors file with `video` [1, 48, F, H, W] and/or
`audio` [1, L, 128] in fp32, to decode later or to compare runs exactly."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save_file

from .media import atomic_output
from .pipeline import AVLatent

LATENT_KEYS = ("video", "audio")


def save_latents(path: str | Path, latent: AVLatent, metadata: dict | None = None) -> Path:
    """Write atomically (temporary name, then rename): an existing file is replaced only by a whole one."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"--latents-out must name a .safetensors file, got {path.name}")
    tensors = {key: getattr(latent, key).detach().float().cpu().contiguous()
               for key in LATENT_KEYS if getattr(latent, key) is not None}
    header = {"fps": str(latent.fps), **{k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}}
    with atomic_output(path) as temp:
        save_file(tensors, str(temp), metadata=header)
    return path


def load_latents(path: str | Path) -> AVLatent:
    """The latents a save_latents file holds (a modality that was not generated is None)."""
    from safetensors import safe_open

    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as handle:
        fps = float((handle.metadata() or {}).get("fps", AVLatent(None, None).fps))
    if not any(key in tensors for key in LATENT_KEYS):
        raise ValueError(f"{path} holds no `video` or `audio` latent: is it a --latents-out file?")
    return AVLatent(video=tensors.get("video"), audio=tensors.get("audio"), fps=fps)
