"""Stand-ins for the few ComfyUI surfaces the NAVA nodes touch, so CI runs the nodes without ComfyUI.

They mimic names and call shapes only (`comfy_api.latest.io`, `comfy.model_management`,
`comfy.model_patcher`, `comfy.ops`, `comfy.utils`, `comfy.latent_formats`, `comfy.nested_tensor`,
`latent_preview`, `folder_paths`); the behaviour behind them is the minimum the tests need.
`install(base, models)` puts them first on `sys.path` and points the output folders under `base`
(the model folders under `models`, default `base/models`).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def install(base: Path, models: Path | None = None) -> None:
    for path in (str(REPO), str(HERE)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import comfy.model_management
    import comfy.utils
    import folder_paths
    import latent_preview

    folder_paths.reset(Path(base), models)
    latent_preview.PREVIEW_METHOD = "auto"
    comfy.model_management.reset()
    comfy.utils.PROGRESS_BAR_HOOK = None
