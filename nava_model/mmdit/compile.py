"""Regional torch.compile of the MMDiT blocks.

Each block is compiled on its own (`torch.compile(block, dynamic=False)`); the double blocks share
one compiled graph and the single blocks another (identical structure, parameters are inputs), so a
clip size costs two compiles, not thirty. The compiled wrappers live beside the model, never inside
its module tree, so state-dict keys and ComfyUI's weight management see the plain blocks.

"auto" compiles on CUDA only; "on" also on other devices (a CPU needs a C++ compiler); "off" never.
Where compiling cannot work or fails, the blocks run eagerly after one notice.
"""

from __future__ import annotations

import logging
import os
import shutil

import torch
from torch import nn
from torch._dynamo.exc import BackendCompilerFailed
from torch._inductor.exc import InductorError

logger = logging.getLogger("nava")

COMPILE_CHOICES = ("auto", "on", "off")
# Each clip size and row layout of masked passes is one compiled variant per block kind; allow several.
_RECOMPILE_LIMIT = 64


def check_compile_choice(choice: str) -> None:
    if choice not in COMPILE_CHOICES:
        raise ValueError(f"unknown compile choice {choice!r}; choose one of {COMPILE_CHOICES}")


def compile_wanted(choice: str, device: torch.device) -> bool:
    return choice == "on" or (choice == "auto" and device.type == "cuda")


def compile_unavailable(device: torch.device) -> str | None:
    """Why torch.compile cannot run on `device` here, or None when it can."""
    if not torch._dynamo.is_dynamo_supported():
        return "torch.compile does not support this Python version or platform"
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        if not has_triton():
            return "Triton is not installed (pip install triton, or triton-windows on Windows)"
    elif device.type == "cpu" and shutil.which(os.environ.get("CXX", "g++")) is None and shutil.which("clang++") is None:
        return "no C++ compiler found (torch.compile on a CPU needs g++ or clang++)"
    return None


class CompiledBlocks:
    """The model's blocks, compiled when wanted; `run` falls back to eager on an unsupported device or a failure."""

    def __init__(self, blocks: list[nn.Module]):
        self.blocks = blocks
        self.compiled: list | None = None
        self.failed = False

    def _compiled_blocks(self) -> list:
        if self.compiled is None:
            config = torch._dynamo.config
            config.recompile_limit = max(config.recompile_limit, _RECOMPILE_LIMIT)
            self.compiled = [torch.compile(block, dynamic=False) for block in self.blocks]
        return self.compiled

    def _give_up(self, reason: str) -> None:
        logger.warning("torch.compile of the MMDiT blocks is off: %s; the blocks run eagerly", reason)
        self.failed = True
        self.compiled = None

    def run(self, choice: str, device: torch.device, x, *args):
        """x through every block, compiled when `choice` wants it on `device` and it can run there."""
        if compile_wanted(choice, device) and not self.failed:
            reason = compile_unavailable(device)
            if reason is None:
                try:
                    return _through(self._compiled_blocks(), x, args)
                except (BackendCompilerFailed, InductorError) as exc:  # a missing or broken toolchain
                    reason = f"the compiler failed ({_first_line(getattr(exc, 'inner_exception', exc))})"
            self._give_up(reason)
        return _through(self.blocks, x, args)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _through(blocks, x, args):
    for block in blocks:
        x = block(x, *args)
    return x
