"""Stand-in for `comfy_api.latest`: `ComfyExtension` and the `io` schema classes."""

from __future__ import annotations

from abc import ABC, abstractmethod

from . import io


class ComfyExtension(ABC):
    @abstractmethod
    async def get_node_list(self) -> list[type[io.ComfyNode]]: ...
