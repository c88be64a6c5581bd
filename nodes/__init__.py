"""The NAVA node pack: sockets and widgets over `nava_model`, plus ComfyUI memory/progress glue."""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .caption import NAVAStructuredCaption
from .decode import NAVADecodeAV
from .folders import register_nava_folder
from .loaders import NAVAAudioVAELoader, NAVAModelLoader, NAVAReDimNetLoader, NAVAUMT5Loader, NAVAWanVAELoader
from .multigpu import NAVAMultiGPU
from .prompt import NAVASpeakerSpanPrompt
from .rewrite import NAVARewriteInstructions, NAVARewrittenPrompt
from .sampler import NAVASampler
from .save import NAVASaveAV

NODES = [
    NAVAModelLoader,
    NAVAWanVAELoader,
    NAVAAudioVAELoader,
    NAVAUMT5Loader,
    NAVAReDimNetLoader,
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


__all__ = ["NODES", "NavaExtension", "register_nava_folder"]
