"""Stand-in for `comfy_api.latest`: `ComfyExtension`, the `io` schema classes and the `ui` outputs."""

from __future__ import annotations

from abc import ABC, abstractmethod

from . import io, ui  # noqa: F401


class ComfyExtension(ABC):
    @abstractmethod
    async def get_node_list(self) -> list[type[io.ComfyNode]]: ...
