"""The NAVA node pack: sockets and widgets over `nava_model`, plus ComfyUI memory/progress glue."""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .caption import NAVAStructuredCaption
from .decode import NAVADecodeAV
from .loaders import FILE_LOADERS, NAVAModelLoader
from .model_folders import register_model_folders
from .multigpu import NAVAMultiGPU
from .prompt import NAVASpeakerSpanPrompt
from .rewrite import NAVARewriteInstructions, NAVARewrittenPrompt
from .sampler import NAVASampler
from .save import NAVASaveAV

NODES = [
    NAVAModelLoader,
    *FILE_LOADERS,
    NAVAMultiGPU,
    NAVASpeakerSpanPrompt,
    NAVASampler,
    NAVADecodeAV,
    NAVASaveAV,
    NAVAStructuredCaption,
    NAVARewriteInstructions,
    NAVARewrittenPrompt,
]


class NavaExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return NODES


__all__ = ["NODES", "NavaExtension", "register_model_folders"]
