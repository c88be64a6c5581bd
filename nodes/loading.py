"""Load each component from a file into a `ModelHandle`, on ComfyUI's devices and dtypes.

The nava_model loaders refuse a wrong file (another component, another model family, a truncated
download) before allocating anything, with a message naming the right loader and folder.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from comfy import model_management, ops

from nava_model.checkpoints import inspect_checkpoint
from nava_model.mmdit.loader import load_nava_mmdit
from nava_model.speaker.redimnet import load_redimnet
from nava_model.text.umt5 import load_umt5
from nava_model.vae.ltx_audio import load_ltx_audio_vae
from nava_model.vae.wan22 import load_wan22_vae

from .memory import ModelHandle, mmdit_dtypes, working_dtype, wrap


def load_mmdit(path: Path, weight_dtype: str = "auto", attention: str = "auto", compile: bool = True) -> ModelHandle:
    device, offload = model_management.get_torch_device(), model_management.unet_offload_device()
    parameters = sum(math.prod(shape) for shape in inspect_checkpoint(path).shapes.values())
    weight, compute = mmdit_dtypes(weight_dtype, device, parameters)
    operations = ops.pick_operations(weight, compute, load_device=device)
    model = load_nava_mmdit(
        path, device=offload, dtype=weight, operations=operations, attention_backend=attention, compute_dtype=compute,
        compile_blocks="auto" if compile else "off",
    )
    if compute != weight:
        model.manual_cast_dtype = compute  # ComfyUI counts the cast copies when it plans a partial load
    return wrap("NAVA_MODEL", model, device, offload)


def load_video_vae(path: Path) -> ModelHandle:
    device, offload = model_management.vae_device(), model_management.vae_offload_device()
    dtype = model_management.vae_dtype(device, allowed_dtypes=[torch.bfloat16, torch.float16])
    vae = load_wan22_vae(path, device=offload, dtype=dtype, operations=ops.pick_operations(dtype, None))
    return wrap("NAVA_VIDEO_VAE", vae, device, offload)


def load_audio_vae(path: Path) -> ModelHandle:
    device, offload = model_management.vae_device(), model_management.vae_offload_device()
    # fp32 on every device, as the reference decodes audio
    vae = load_ltx_audio_vae(
        path, device=offload, dtype=torch.float32, operations=ops.pick_operations(torch.float32, None)
    )
    return wrap("NAVA_AUDIO_VAE", vae, device, offload)


def load_text_encoder(path: Path) -> ModelHandle:
    device, offload = model_management.text_encoder_device(), model_management.text_encoder_offload_device()
    dtype = working_dtype(device)
    encoder = load_umt5(path, device=offload, dtype=dtype, operations=ops.pick_operations(dtype, None))
    return wrap("NAVA_TEXT_ENCODER", encoder.model, device, offload, runner=encoder)


def load_speaker_encoder(path: Path) -> ModelHandle:
    device, offload = model_management.text_encoder_device(), model_management.text_encoder_offload_device()
    encoder = load_redimnet(path, device=offload, operations=ops.pick_operations(torch.float32, None))
    return wrap("NAVA_SPEAKER_ENCODER", encoder, device, offload)
