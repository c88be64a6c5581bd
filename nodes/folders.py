"""Model folders: the `nava` folder, dropdown lists, and lookups whose errors say where a file goes."""

from __future__ import annotations

import os
from pathlib import Path

import folder_paths

NAVA_FOLDER = "nava"

MMDIT_FOLDERS = (NAVA_FOLDER, "diffusion_models")
VIDEO_VAE_FOLDERS = ("vae",)
AUDIO_VAE_FOLDERS = ("vae", "checkpoints")  # a standalone audio VAE, or a full LTX-2 checkpoint
TEXT_ENCODER_FOLDERS = ("text_encoders",)
SPEAKER_ENCODER_FOLDERS = ("audio_encoders",)


def register_nava_folder() -> None:
    """Add models/nava, keeping any `nava:` paths extra_model_paths.yaml registered before us."""
    path = os.path.join(folder_paths.models_dir, NAVA_FOLDER)
    if NAVA_FOLDER in folder_paths.folder_names_and_paths:
        folder_paths.add_model_folder_path(NAVA_FOLDER, path)
    else:
        folder_paths.folder_names_and_paths[NAVA_FOLDER] = ([path], set(folder_paths.supported_pt_extensions))


def _known(folders: tuple[str, ...]) -> list[str]:
    return [f for f in folders if f in folder_paths.folder_names_and_paths]


def model_choices(folders: tuple[str, ...]) -> list[str]:
    """File names for a loader's dropdown: every file of the first folder, then the new ones of the next."""
    names: list[str] = []
    for folder in _known(folders):
        names += [n for n in folder_paths.get_filename_list(folder) if n not in names]
    return names


def find_model(folders: tuple[str, ...], name: str) -> Path:
    for folder in _known(folders):
        path = folder_paths.get_full_path(folder, name)
        if path is not None:
            return Path(path)
    searched = "; ".join(
        f"models/{f}: {', '.join(folder_paths.get_folder_paths(f)) or '(no path)'}" for f in _known(folders)
    )
    raise FileNotFoundError(
        f"{name!r} was not found in {' or '.join(f'models/{f}' for f in folders)} (searched {searched}). "
        "Put the file in one of these folders and press R in ComfyUI to refresh the list."
    )
