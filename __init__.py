"""NAVA for ComfyUI: joint audio-video generation nodes (V3 API).

ComfyUI imports this file and awaits `comfy_entrypoint`. Importing it does nothing else: no
ComfyUI object is touched and no weights are read (pytest also imports it, as the repo root).
"""

import os
import sys

WEB_DIRECTORY = "./web"


async def comfy_entrypoint():
    root = os.path.dirname(os.path.abspath(__file__))
    if root not in sys.path:  # the model code is the top-level `nava_model` package, as from the CLI
        sys.path.append(root)
    from .nodes import NavaExtension, register_model_folders

    register_model_folders()
    return NavaExtension()
