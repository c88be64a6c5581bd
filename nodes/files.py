"""Output files: a `filename_prefix` confined to the output folder, Core-style numbering, metadata."""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath

import folder_paths


def output_path(filename_prefix: str, suffix: str) -> tuple[Path, str, str]:
    """The next free `<prefix>_00001_<suffix>` under the output folder: (path, subfolder, filename).

    The prefix may name sub-folders ("NAVA/run") but never leave the output folder.
    """
    relative = PurePosixPath(filename_prefix.replace("\\", "/"))
    if (
        not relative.name
        or relative.is_absolute()
        or ".." in relative.parts
        or re.match(r"^[A-Za-z]:", filename_prefix)
    ):
        raise ValueError(
            f"filename_prefix {filename_prefix!r} must be a relative name inside the output folder, "
            "like 'NAVA/nava' (no absolute paths, no '..')"
        )
    root = Path(folder_paths.get_output_directory()).resolve()
    folder = (root / relative.parent).resolve()
    if not folder.is_relative_to(root):
        raise ValueError(f"filename_prefix {filename_prefix!r} leads outside the output folder")
    folder.mkdir(parents=True, exist_ok=True)
    numbers = [
        int(m.group(1))
        for p in folder.iterdir()
        if (m := re.fullmatch(rf"{re.escape(relative.name)}_(\d+)_\..*", p.name))
    ]
    filename = f"{relative.name}_{max(numbers, default=0) + 1:05d}_{suffix}"
    subfolder = "" if folder == root else folder.relative_to(root).as_posix()
    return folder / filename, subfolder, filename


def workflow_metadata(prompt, extra_pnginfo) -> dict[str, str]:
    """The API prompt and the UI workflow as JSON strings, as Core's savers embed them."""
    metadata = {} if prompt is None else {"prompt": json.dumps(prompt)}
    metadata.update({key: json.dumps(value) for key, value in (extra_pnginfo or {}).items()})
    return metadata
