"""Stand-in for `comfy.ops`: layer namespaces with the names ComfyUI's have (here plain torch layers)."""

from __future__ import annotations

import torch


class disable_weight_init:
    Linear = torch.nn.Linear
    Conv1d = torch.nn.Conv1d
    Conv2d = torch.nn.Conv2d
    Conv3d = torch.nn.Conv3d
    GroupNorm = torch.nn.GroupNorm
    LayerNorm = torch.nn.LayerNorm
    RMSNorm = torch.nn.RMSNorm
    ConvTranspose1d = torch.nn.ConvTranspose1d
    ConvTranspose2d = torch.nn.ConvTranspose2d
    Embedding = torch.nn.Embedding


class manual_cast(disable_weight_init):
    pass


def pick_operations(weight_dtype, compute_dtype, load_device=None, disable_fast_fp8=False, fp8_optimizations=False, model_config=None):
    return disable_weight_init if compute_dtype is None or compute_dtype == weight_dtype else manual_cast
