"""Linears stored in float8_e4m3fn with a per-output-channel scale.

`NAVA_fp8.safetensors` stores the block Linears this way (weight ≈ fp8 · weight_scale), everything
else in bf16. The weights stay fp8 in memory (half of bf16) and their scales are kept in fp32 (a bf16
scale would add up to 0.4 % error to every weight of its row). Two ways to compute:

  "dequant"    (default) each call dequantises the weight once to the input dtype, uses it, drops it;
  "scaled_mm"  (opt-in) the input is quantised to fp8 per row and the GEMM runs in fp8 on the tensor
               cores (`torch._scaled_mm`, row-wise scales); where that kernel does not run (GPUs before
               Ada/Hopper, CPU builds without it) the layer falls back to "dequant" after one notice.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import Tensor, nn

logger = logging.getLogger("nava")

FP8_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2)
FP8_COMPUTE = ("dequant", "scaled_mm")
_E4M3_MAX = torch.finfo(torch.float8_e4m3fn).max
_scaled_mm_unsupported: set[str] = set()  # devices whose fp8 GEMM failed once (one notice each)


def compute_dtype_for(storage: torch.dtype | None) -> torch.dtype:
    """What layers compute in when nothing else is asked: the storage dtype, bf16 for fp8 storage."""
    if storage is None:
        return torch.float32
    return torch.bfloat16 if storage in FP8_DTYPES else storage


def dequantize(weight: Tensor, scale: Tensor, dtype: torch.dtype) -> Tensor:
    """weight · scale in fp32 rounded once to `dtype`, with scale of shape [out], [out, 1] or a scalar."""
    scale = scale.reshape(-1, 1) if scale.numel() > 1 else scale.reshape(())
    return (weight.float() * scale.float()).to(dtype)


def scaled_mm_linear(x: Tensor, weight: Tensor, scale: Tensor, bias: Tensor | None) -> Tensor:
    """x Wᵀ + b with the GEMM in fp8: x quantised per row (amax / 448), W per output channel."""
    rows = x.reshape(-1, x.shape[-1])
    x_scale = rows.abs().amax(dim=-1, keepdim=True).float().clamp(min=1e-12) / _E4M3_MAX
    x_fp8 = (rows.float() / x_scale).to(torch.float8_e4m3fn)
    w_scale = scale.float().reshape(1, -1).expand(1, weight.shape[0]).contiguous()
    out = torch._scaled_mm(x_fp8, weight.t(), scale_a=x_scale, scale_b=w_scale, bias=bias, out_dtype=x.dtype)
    return out.reshape(*x.shape[:-1], weight.shape[0])


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
            self.weight_scale = nn.Parameter(
                torch.empty(scale_shape, device=device, dtype=torch.float32), requires_grad=False
            )
            self.fp8_compute = "dequant"

        def forward(self, x: Tensor) -> Tensor:
            weight, scale = self.weight.to(x.device), self.weight_scale.to(x.device)
            bias = None if self.bias is None else self.bias.to(x.device, x.dtype)
            if self.fp8_compute == "scaled_mm" and str(x.device) not in _scaled_mm_unsupported:
                try:
                    return scaled_mm_linear(x, weight, scale, bias)
                except (RuntimeError, NotImplementedError) as error:  # no fp8 kernel for this device or layer
                    if isinstance(error, torch.cuda.OutOfMemoryError):
                        raise
                    _scaled_mm_unsupported.add(str(x.device))
                    logger.warning("fp8 compute (torch._scaled_mm) does not run on %s (%s); dequantising to %s "
                                   "instead", x.device, str(error).strip().splitlines()[0], x.dtype)
            return F.linear(x, dequantize(weight, scale, x.dtype), bias)

    return Fp8Linear


def set_fp8_compute(model: nn.Module, mode: str) -> int:
    """Choose "dequant" or "scaled_mm" for every fp8 Linear of `model`; returns how many there are."""
    if mode not in FP8_COMPUTE:
        raise ValueError(f"unknown fp8 compute {mode!r}; choose one of {FP8_COMPUTE}")
    layers = [m for m in model.modules() if hasattr(m, "fp8_compute")]
    for layer in layers:
        layer.fp8_compute = mode
    return len(layers)


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
