"""Stand-in for `comfy.ops`: layer namespaces with ComfyUI's names.

`disable_weight_init` layers are plain torch layers; `manual_cast` layers, like ComfyUI's, cast
their weights to the input's dtype and device at each call (so fp8/bf16 storage runs in fp32 here).
"""

from __future__ import annotations

import torch

LAYERS = (
    "Linear",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "GroupNorm",
    "LayerNorm",
    "RMSNorm",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "Embedding",
)


class _CastToInput:
    def forward(self, x, *args, **kwargs):
        if not x.is_floating_point():
            return super().forward(x, *args, **kwargs)
        stored = dict(self._parameters)
        self._parameters.update({k: v.to(x.device, x.dtype) for k, v in stored.items() if v is not None})
        try:
            return super().forward(x, *args, **kwargs)
        finally:
            self._parameters.update(stored)


class disable_weight_init:
    pass


class manual_cast:
    pass


for _name in LAYERS:
    setattr(disable_weight_init, _name, getattr(torch.nn, _name))
    setattr(manual_cast, _name, type(_name, (_CastToInput, getattr(torch.nn, _name)), {}))


def pick_operations(
    weight_dtype, compute_dtype, load_device=None, disable_fast_fp8=False, fp8_optimizations=False, model_config=None
):
    return disable_weight_init if compute_dtype is None or compute_dtype == weight_dtype else manual_cast
