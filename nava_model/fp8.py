"""Linears stored in float8_e4m3fn with a per-output-channel scale, dequantised at forward time.

`NAVA_fp8.safetensors` stores the block Linears this way (weight ≈ fp8 · weight_scale), everything
else in bf16. The weights stay fp8 in memory (half of bf16); each forward dequantises one layer's
weight to the input dtype, uses it, and drops it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FP8_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2)


def compute_dtype_for(storage: torch.dtype | None) -> torch.dtype:
    """What layers compute in when nothing else is asked: the storage dtype, bf16 for fp8 storage."""
    if storage is None:
        return torch.float32
    return torch.bfloat16 if storage in FP8_DTYPES else storage


def dequantize(weight: Tensor, scale: Tensor, dtype: torch.dtype) -> Tensor:
    """weight · scale, with scale of shape [out], [out, 1] or a scalar."""
    scale = scale.reshape(-1, 1) if scale.numel() > 1 else scale.reshape(())
    return weight.to(dtype) * scale.to(dtype)


def fp8_linear_class(operations=nn) -> type[nn.Module]:
    """An fp8-storage Linear built on `operations.Linear` (so ComfyUI's ops keep their device placement)."""

    class Fp8Linear(operations.Linear):
        def __init__(self, in_features: int, out_features: int, bias: bool = True, scale_shape=(), device=None,
                     dtype=None, weight_dtype=torch.float8_e4m3fn):
            super().__init__(in_features, out_features, bias=bias, device="meta", dtype=dtype)
            self.weight = nn.Parameter(
                torch.empty(out_features, in_features, device=device, dtype=weight_dtype), requires_grad=False
            )
            if bias:
                self.bias = nn.Parameter(torch.empty(out_features, device=device, dtype=dtype), requires_grad=False)
            self.weight_scale = nn.Parameter(torch.empty(scale_shape, device=device, dtype=dtype), requires_grad=False)

        def forward(self, x: Tensor) -> Tensor:
            weight = dequantize(self.weight.to(x.device), self.weight_scale.to(x.device), x.dtype)
            bias = None if self.bias is None else self.bias.to(x.device, x.dtype)
            return F.linear(x, weight, bias)

    return Fp8Linear


def swap_in_fp8_linears(model: nn.Module, names: dict[str, tuple[int, ...]], operations=nn,
                        weight_dtype=torch.float8_e4m3fn) -> None:
    """Replace the Linears named in `names` (module path -> weight_scale shape) by fp8-storage Linears.

    Call on a model built on the meta device, before its weights are assigned.
    """
    cls = fp8_linear_class(operations)
    for name, scale_shape in names.items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        old = getattr(parent, child)
        new = cls(old.in_features, old.out_features, bias=old.bias is not None, scale_shape=scale_shape,
                  device="meta", dtype=old.weight.dtype, weight_dtype=weight_dtype)
        setattr(parent, child, new)
