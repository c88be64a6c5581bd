"""Stand-in for ComfyUI's `folder_paths`: named model folders, file listing and the output folder."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

supported_pt_extensions = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}
DEFAULT_FOLDERS = ("checkpoints", "vae", "text_encoders", "diffusion_models", "audio_encoders")

models_dir = ""
folder_names_and_paths: dict[str, tuple[list[str], set[str]]] = {}
_output_directory = ""
_temp_directory = ""


def reset(base: Path, models: Path | None = None) -> None:
    global models_dir, _output_directory, _temp_directory
    models_dir = str(models or base / "models")
    _output_directory, _temp_directory = str(base / "output"), str(base / "temp")
    folder_names_and_paths.clear()
    for name in DEFAULT_FOLDERS:
        folder_names_and_paths[name] = ([os.path.join(models_dir, name)], set(supported_pt_extensions))


def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
    paths, _ = folder_names_and_paths.setdefault(folder_name, ([], set()))
    if full_folder_path not in paths:
        paths.insert(0, full_folder_path) if is_default else paths.append(full_folder_path)


def get_folder_paths(folder_name: str) -> list[str]:
    return folder_names_and_paths[folder_name][0][:]


def _allowed(name: str, extensions: set[str]) -> bool:
    return not extensions or os.path.splitext(name)[1].lower() in extensions


def get_filename_list(folder_name: str) -> list[str]:
    paths, extensions = folder_names_and_paths[folder_name]
    names = set()
    for root in paths:
        if os.path.isdir(root):
            names.update(
                p.relative_to(root).as_posix()
                for p in Path(root).rglob("*")
                if p.is_file() and _allowed(p.name, extensions)
            )
    return sorted(names)


def get_full_path(folder_name: str, filename: str) -> str | None:
    if folder_name not in folder_names_and_paths:
        return None
    for root in folder_names_and_paths[folder_name][0]:
        path = os.path.join(root, filename)
        if os.path.isfile(path):
            return path
    return None


def get_output_directory() -> str:
    return _output_directory


def get_temp_directory() -> str:
    return _temp_directory


def get_save_image_path(filename_prefix: str, output_dir: str, image_width=0, image_height=0):
    """(folder, name, next number, subfolder, prefix): Core's contract, with %year%..%second%, %width%, %height%."""
    now = time.localtime()
    values = {"width": image_width, "height": image_height, "year": now.tm_year, "month": f"{now.tm_mon:02}",
              "day": f"{now.tm_mday:02}", "hour": f"{now.tm_hour:02}", "minute": f"{now.tm_min:02}",
              "second": f"{now.tm_sec:02}"}
    for key, value in values.items():
        filename_prefix = filename_prefix.replace(f"%{key}%", str(value))
    subfolder, name = os.path.split(os.path.normpath(filename_prefix))
    folder = os.path.abspath(os.path.join(output_dir, subfolder))
    if os.path.commonpath((os.path.abspath(output_dir), folder)) != os.path.abspath(output_dir):
        raise Exception("Saving image outside the output folder is not allowed.")
    os.makedirs(folder, exist_ok=True)
    numbers = [int(m.group(1)) for f in os.listdir(folder) if (m := re.match(rf"{re.escape(name)}_(\d+)_", f))]
    return folder, name, max(numbers, default=0) + 1, subfolder, filename_prefix
