"""Output files: Core's own path helper (numbering, %year%-style variables, confinement), checked at queue time."""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath

import folder_paths

DEFAULT_NAME = "nava"  # the file name when a prefix names only a folder ("NAVA/")


def prefix_problem(filename_prefix: str) -> str | None:
    """Why `filename_prefix` cannot name a file inside the output folder, or None when it can."""
    relative = PurePosixPath(filename_prefix.replace("\\", "/"))
    if not filename_prefix.strip():
        return "filename_prefix is empty: give a name like 'NAVA/nava'"
    if relative.is_absolute() or ".." in relative.parts or re.match(r"^[A-Za-z]:", filename_prefix):
        return (
            f"filename_prefix {filename_prefix!r} must be a relative name inside the output folder, "
            "like 'NAVA/nava' (no absolute paths, no '..')"
        )
    return None


def output_path(filename_prefix: str, suffix: str, width: int = 0, height: int = 0) -> tuple[Path, str, str]:
    """The next free `<prefix>_00001_<suffix>` under the output folder: (path, subfolder, filename).

    The prefix may name sub-folders ("NAVA/run"); one ending in "/" names a folder for files called "nava".
    Numbering, `%year%`/`%width%`-style variables and the check that the file stays inside the output folder
    are Core's (`folder_paths.get_save_image_path`), so NAVA's files sit beside Core's the same way.
    """
    problem = prefix_problem(filename_prefix)
    if problem:
        raise ValueError(problem)
    prefix = filename_prefix.replace("\\", "/")
    if prefix.endswith("/"):
        prefix += DEFAULT_NAME
    folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
        prefix, folder_paths.get_output_directory(), width, height
    )
    filename = f"{name}_{counter:05}_{suffix}"
    return Path(folder) / filename, subfolder, filename


def workflow_metadata(prompt, extra_pnginfo) -> dict[str, str]:
    """The API prompt and the UI workflow as JSON strings, as Core's savers embed them."""
    metadata = {} if prompt is None else {"prompt": json.dumps(prompt)}
    metadata.update({key: json.dumps(value) for key, value in (extra_pnginfo or {}).items()})
    return metadata
