"""Where each component's file lives in a ComfyUI-style models/ tree, under its release name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class ModelFile:
    folder: str
    filename: str
    url: str

    def path(self, models_dir: str | Path) -> Path:
        return Path(models_dir) / self.folder / self.filename


_NAVA_HF = "https://huggingface.co/ernie-research/NAVA/resolve/main"
RELEASE_FILES = {
    "mmdit": ModelFile("nava", "NAVA.safetensors", f"{_NAVA_HF}/NAVA.safetensors"),
    "video_vae": ModelFile(
        "vae",
        "wan2.2_vae.safetensors",
        "https://huggingface.co/Comfy-Org/Wan_2.2_ComfyUI_Repackaged/resolve/main/split_files/vae/wan2.2_vae.safetensors",
    ),
    "audio_vae": ModelFile(
        "vae", "ltx-2.3-22b-dev_audio_vae.safetensors", f"{_NAVA_HF}/params/LTX2/ltx-2.3-22b-dev_audio_vae.safetensors"
    ),
    "text_encoder": ModelFile(
        "text_encoders",
        "umt5_xxl_fp16.safetensors",
        "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files/text_encoders/umt5_xxl_fp16.safetensors",
    ),
    "speaker_encoder": ModelFile(
        "audio_encoders",
        "ReDimNet-M-vb2+vox2+cnc-ft_mix.pt",
        "https://github.com/IDRnD/ReDimNet/releases/download/latest/M-vb2+vox2+cnc-ft_mix.pt",
    ),
}


def require_model_file(models_dir: str | Path, component: str) -> Path:
    entry = RELEASE_FILES[component]
    path = entry.path(models_dir)
    if not path.is_file():
        raise FileNotFoundError(
            f"{entry.filename} not found in {path.parent}: download it from {entry.url} into that folder "
            f"(or run `python -m nava_model make-tiny {models_dir}` for tiny random weights)"
        )
    return path


@dataclass
class NavaModels:
    mmdit: torch.nn.Module
    video_vae: torch.nn.Module
    audio_vae: torch.nn.Module
    text_encoder: object
    speaker_encoder: torch.nn.Module | None


def load_models(models_dir: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32,
                with_speaker: bool = True) -> NavaModels:
    """Load every component from a models/ tree by release name; missing files are reported before any load."""
    from .mmdit.loader import load_nava_mmdit
    from .speaker.redimnet import load_redimnet
    from .text.umt5 import load_umt5
    from .vae.ltx_audio.model import load_ltx_audio_vae
    from .vae.wan22.model import load_wan22_vae

    components = ["mmdit", "video_vae", "audio_vae", "text_encoder"] + (["speaker_encoder"] if with_speaker else [])
    paths = {name: require_model_file(models_dir, name) for name in components}
    return NavaModels(
        mmdit=load_nava_mmdit(paths["mmdit"], device=device, dtype=dtype),
        video_vae=load_wan22_vae(paths["video_vae"], device=device, dtype=dtype),
        audio_vae=load_ltx_audio_vae(paths["audio_vae"], device=device, dtype=torch.float32),
        text_encoder=load_umt5(paths["text_encoder"], device=device, dtype=dtype),
        speaker_encoder=load_redimnet(paths["speaker_encoder"], device=device) if with_speaker else None,
    )
