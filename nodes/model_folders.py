"""Model folders: each component's folders registered with ComfyUI, dropdown lists, and lookups whose errors
say where a file goes."""

from __future__ import annotations

import os
from pathlib import Path

import folder_paths

from .sockets import COMPONENT_NODES


def register_model_folders() -> None:
    """Give ComfyUI every folder a component is read from (models/nava, and any its version lacks).

    A folder ComfyUI already knows gets models/<folder> added only when missing from its paths, so
    paths an extra_model_paths.yaml registered before us stay first.
    """
    for folder in dict.fromkeys(f for node in COMPONENT_NODES.values() for f in node.folders):
        path = os.path.join(folder_paths.models_dir, folder)
        if folder not in folder_paths.folder_names_and_paths:
            folder_paths.folder_names_and_paths[folder] = ([path], set(folder_paths.supported_pt_extensions))
        elif path not in folder_paths.get_folder_paths(folder):
            folder_paths.add_model_folder_path(folder, path)


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


def _known(folders: tuple[str, ...]) -> list[str]:
    return [f for f in folders if f in folder_paths.folder_names_and_paths]
