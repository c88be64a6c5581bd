"""Model handles that ComfyUI's memory manager loads, offloads and unloads like its own models.

A loader builds the module on the offload device, with layers from `comfy.ops` where the model
code takes an `operations` namespace, and wraps it in a `ModelPatcher`. A node that runs a model
first asks `load_models_gpu` for it: ComfyUI then frees other models as needed, loads what fits
(streaming the rest layer by layer) and unloads it later. The pack keeps no copy of any weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from comfy import model_management
from comfy.model_patcher import ModelPatcher

from .sockets import COMPONENT_NODES

WEIGHT_DTYPES = {"auto": None, "bf16": torch.bfloat16, "fp16": torch.float16, "fp8": torch.float8_e4m3fn}
COMPUTE_DTYPES = [torch.bfloat16, torch.float16, torch.float32]


@dataclass(frozen=True)
class ModelHandle:
    """What a NAVA model socket carries: the patcher ComfyUI manages and the object the pipeline calls."""

    socket: str  # the socket type, e.g. "NAVA_MODEL"
    patcher: ModelPatcher
    runner: Any  # the module the pipeline calls
    source: Any = None  # how to load the model again elsewhere (the MMDiT: a pool worker's ModelSource)
    pool: Any = None  # the MMDiT's WorkerPool, once NAVA Multi-GPU has given it devices


class Holder(torch.nn.Module):
    """A plain module around one whose `device` is read-only (transformers models): ModelPatcher sets it."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner


def wrap(socket: str, module: torch.nn.Module, load_device, offload_device, source: Any = None) -> ModelHandle:
    managed = Holder(module) if isinstance(getattr(type(module), "device", None), property) else module
    patcher = ModelPatcher(managed, load_device=load_device, offload_device=offload_device)
    return ModelHandle(socket, patcher, module, source)


def expect(handle: Any, component: str) -> ModelHandle:
    """The handle on a node's input for `component` (a key of COMPONENT_NODES), refusing anything else."""
    node = COMPONENT_NODES[component]
    if handle is None:
        raise ValueError(f"{node.input_name} is not connected: connect a {node.loader_name}")
    if not isinstance(handle, ModelHandle) or handle.socket != node.socket_name:
        found = handle.socket if isinstance(handle, ModelHandle) else type(handle).__name__
        raise TypeError(f"{node.input_name} expects {node.socket_name} from a {node.loader_name}, got {found}")
    return handle


def load(*handles: ModelHandle | None, memory_required: int = 0, minimum_memory_required: int | None = None) -> list[Any]:
    """Have ComfyUI load these models (together, so none evicts another); return what the pipeline calls.

    `memory_required` (and the smallest workable `minimum_memory_required`) are the bytes the computation needs
    beside the weights: ComfyUI offloads enough weights to leave them free.
    """
    model_management.load_models_gpu(
        [h.patcher for h in handles if h is not None],
        memory_required=memory_required,
        minimum_memory_required=minimum_memory_required,
    )
    return [None if h is None else h.runner for h in handles]


def mmdit_dtypes(choice: str, device, parameters: int) -> tuple[torch.dtype, torch.dtype]:
    """(storage, compute) dtypes for the MMDiT: ComfyUI's own choice for `auto`, as for its diffusion models."""
    weight = WEIGHT_DTYPES[choice] or model_management.unet_dtype(device, parameters, supported_dtypes=COMPUTE_DTYPES)
    compute = model_management.unet_manual_cast(weight, device, supported_dtypes=COMPUTE_DTYPES)
    return weight, compute or weight


def working_dtype(device) -> torch.dtype:
    """bf16 where the device has it, else fp32 (umT5 overflows in fp16)."""
    return torch.bfloat16 if model_management.should_use_bf16(device) else torch.float32
