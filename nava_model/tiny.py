"""`make-tiny`: tiny random-weight files for every component, in the real layouts and release names."""

from __future__ import annotations

from pathlib import Path

from .media import give_default_permissions
from .model_files import RELEASE_FILES


def make_tiny_models(models_dir: str | Path, seed: int = 0) -> dict[str, Path]:
    """Write all six files into a ComfyUI-style tree; each is marked tiny in its metadata."""
    from .mmdit.loader import write_tiny_mmdit
    from .speaker.redimnet import write_tiny_redimnet
    from .text.umt5 import write_tiny_umt5
    from .vae.ltx_audio import write_tiny_ltx_audio_vae
    from .vae.wan22 import write_tiny_wan22_vae

    writers = {
        "mmdit": write_tiny_mmdit,
        "video_vae": write_tiny_wan22_vae,
        "audio_vae": write_tiny_ltx_audio_vae,
        "text_encoder": write_tiny_umt5,
        "speaker_encoder": write_tiny_redimnet,
    }
    written = {name: Path(writer(Path(models_dir), seed=seed)) for name, writer in writers.items()}
    for path in written.values():
        give_default_permissions(path)  # safetensors writes 0600 files
    for name, path in written.items():
        expected = RELEASE_FILES[name].path(models_dir)
        if path != expected:
            raise RuntimeError(f"tiny {name} written to {path}, expected {expected}")
    return written


def tiny_models_present(models_dir: str | Path) -> bool:
    return all(entry.path(models_dir).is_file() for entry in RELEASE_FILES.values())
