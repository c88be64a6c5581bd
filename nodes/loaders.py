"""Loader nodes, one per NAVA component, generated from `sockets.COMPONENT_NODES`, and their loads.

Each builds its model with `comfy.ops` layers on ComfyUI's offload device and hands it over as a
`ModelHandle`. nava_model refuses a wrong file (another component, another model family, a
truncated download) before allocating anything, saying what the file is and its folder; the
loader adds which loader node takes it.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from comfy import model_management, ops
from comfy_api.latest import io

from nava_model.checkpoints import open_checkpoint
from nava_model.components import WrongComponentError
from nava_model.mmdit.attention import BACKENDS
from nava_model.parallel.pool import ModelSource

from .memory import WEIGHT_DTYPES, ModelHandle, mmdit_dtypes, working_dtype, wrap
from .model_folders import find_model, model_choices
from .sockets import COMPONENT_NODES, LOADERS_CATEGORY, ComponentNode

# ComfyUI's (run, offload) devices and its working dtype on the run device, per kind of model
DEVICES = {
    "vae": lambda: (model_management.vae_device(), model_management.vae_offload_device()),
    "text_encoder": lambda: (model_management.text_encoder_device(), model_management.text_encoder_offload_device()),
}
WORKING_DTYPES = {
    "vae": lambda device: model_management.vae_dtype(device, allowed_dtypes=[torch.bfloat16, torch.float16]),
    "text_encoder": working_dtype,
}


def naming_the_right_loader(error: WrongComponentError) -> WrongComponentError:
    """The wrong-file error with the loader node that takes the file, when it is a NAVA component."""
    if error.found is None:
        return error
    message = f"{error} Load it with {COMPONENT_NODES[error.found].loader_name}."
    return WrongComponentError(message, error.expected, error.found)


def load_component(key: str, path: Path) -> ModelHandle:
    """A component other than the MMDiT, on its kind's devices, in its fixed dtype or ComfyUI's working one."""
    node = COMPONENT_NODES[key]
    device, offload = DEVICES[node.devices]()
    dtype = node.component.fixed_dtype or WORKING_DTYPES[node.devices](device)
    try:
        model = node.component.load(path, device=offload, dtype=dtype, operations=ops.pick_operations(dtype, None))
    except WrongComponentError as error:
        raise naming_the_right_loader(error) from error
    return wrap(node.socket_name, model, device, offload)


def load_mmdit(path: Path, weight_dtype: str = "auto", attention: str = "auto", compile: bool = True) -> ModelHandle:
    node = COMPONENT_NODES["mmdit"]
    device, offload = model_management.get_torch_device(), model_management.unet_offload_device()
    checkpoint = open_checkpoint(path)
    parameters = sum(math.prod(shape) for shape in checkpoint.shapes.values())
    weight, compute = mmdit_dtypes(weight_dtype, device, parameters)
    operations = ops.pick_operations(weight, compute, load_device=device)
    try:
        model = node.component.load(
            checkpoint, device=offload, dtype=weight, operations=operations, attention_backend=attention,
            compute_dtype=compute, compile_blocks="auto" if compile else "off",
        )
    except WrongComponentError as error:
        raise naming_the_right_loader(error) from error
    if compute != weight:
        model.manual_cast_dtype = compute  # ComfyUI counts the cast copies when it plans a partial load
    source = ModelSource(str(path), dtype=weight, compute_dtype=compute, attention=attention)
    return wrap(node.socket_name, model, device, offload, source=source)


def file_input(node: ComponentNode) -> io.Input:
    return io.Combo.Input(node.file_input, options=model_choices(node.folders), tooltip=node.file_tooltip)


def loader_schema(node: ComponentNode, *widgets: io.Input) -> io.Schema:
    return io.Schema(
        node_id=node.loader_id,
        display_name=node.loader_name,
        category=LOADERS_CATEGORY,
        description=node.description,
        inputs=[file_input(node), *widgets],
        outputs=[node.socket.Output(display_name=node.input_name)],
    )


class NAVAModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return loader_schema(
            COMPONENT_NODES["mmdit"],
            io.Combo.Input(
                "weight_dtype",
                options=list(WEIGHT_DTYPES),
                default="auto",
                tooltip="Precision of the stored weights. auto: ComfyUI's choice for the device (bf16 on recent "
                "GPUs, fp32 on CPU). fp8 halves the memory and computes in bf16.",
            ),
            io.Combo.Input(
                "attention",
                options=list(BACKENDS),
                default="auto",
                tooltip="Attention kernel. auto: PyTorch SDPA (its cuDNN kernel on Hopper GPUs), or flash-attn "
                "when installed on other GPUs. flash needs the flash-attn package. math is the slow reference.",
            ),
            io.Boolean.Input(
                "compile",
                default=True,
                optional=True,
                tooltip="torch.compile the transformer blocks on NVIDIA/AMD GPUs: the first step of each new size "
                "takes longer (compiling), later steps run faster. Off where it cannot run (notice in the log).",
            ),
        )

    @classmethod
    def execute(cls, model_name: str, weight_dtype: str, attention: str, compile: bool = True) -> io.NodeOutput:
        path = find_model(COMPONENT_NODES["mmdit"].folders, model_name)
        return io.NodeOutput(load_mmdit(path, weight_dtype, attention, compile))


def file_loader(key: str) -> type[io.ComfyNode]:
    """The loader node of a component read from one file with no other setting."""
    node = COMPONENT_NODES[key]

    class FileLoader(io.ComfyNode):
        @classmethod
        def define_schema(cls) -> io.Schema:
            return loader_schema(node)

        @classmethod
        def execute(cls, **inputs: str) -> io.NodeOutput:
            return io.NodeOutput(load_component(key, find_model(node.folders, inputs[node.file_input])))

    FileLoader.__name__ = FileLoader.__qualname__ = node.loader_id
    return FileLoader


FILE_LOADERS = [file_loader(key) for key in COMPONENT_NODES if key != "mmdit"]
