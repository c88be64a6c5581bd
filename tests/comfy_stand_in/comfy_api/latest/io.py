"""Stand-in for `comfy_api.latest.io`: node schemas as plain records the tests can inspect."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Hidden(str, Enum):
    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"


class FolderType(str, Enum):
    input = "input"
    output = "output"
    temp = "temp"


class Input:
    io_type = ""

    def __init__(
        self,
        id: str,
        display_name: str | None = None,
        optional: bool = False,
        tooltip: str | None = None,
        **options: Any,
    ):
        self.id = id
        self.display_name = display_name
        self.optional = optional
        self.tooltip = tooltip
        self.options = options  # default, min, max, step, multiline, options (combos), ...

    @property
    def default(self):
        return self.options.get("default")


class Output:
    io_type = ""

    def __init__(self, id: str | None = None, display_name: str | None = None, tooltip: str | None = None):
        self.id = id
        self.display_name = display_name or id
        self.tooltip = tooltip


def Custom(io_type: str):
    return type(
        io_type,
        (),
        {
            "io_type": io_type,
            "Input": type("Input", (Input,), {"io_type": io_type}),
            "Output": type("Output", (Output,), {"io_type": io_type}),
        },
    )


Int, Float, String, Boolean, Image, Audio, Latent = (
    Custom(name) for name in ("INT", "FLOAT", "STRING", "BOOLEAN", "IMAGE", "AUDIO", "LATENT")
)


class Combo:
    io_type = "COMBO"

    class Input(Input):
        io_type = "COMBO"

        def __init__(self, id: str, options: list | None = None, **kwargs: Any):
            super().__init__(id, **kwargs)
            self.options["options"] = list(options or [])


@dataclass
class Schema:
    node_id: str
    display_name: str | None = None
    category: str = "sd"
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    hidden: list = field(default_factory=list)
    description: str = ""
    is_output_node: bool = False
    not_idempotent: bool = False


class HiddenHolder:
    def __init__(self, prompt=None, extra_pnginfo=None, unique_id=None):
        self.prompt, self.extra_pnginfo, self.unique_id = prompt, extra_pnginfo, unique_id


class ComfyNode:
    hidden = HiddenHolder()

    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError

    @classmethod
    def execute(cls, **kwargs) -> "NodeOutput":
        raise NotImplementedError


class NodeOutput:
    def __init__(self, *args: Any, ui: dict | None = None):
        self.args = args
        self.ui = ui

    @property
    def result(self):
        return self.args or None

    def __getitem__(self, index):
        return self.args[index]
