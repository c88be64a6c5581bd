"""Low-memory runs: each model is on the GPU only while it computes.

With offloading the models load into CPU memory; the text encoder and ReDimNet come to the GPU for
encoding, the MMDiT for sampling, the VAEs for decoding, and each goes back to the CPU when its
phase ends, so the GPU holds one model at a time (≈13 GB for the bf16 MMDiT instead of ≈32 GB
for all of them).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

CPU = torch.device("cpu")


@contextmanager
def resident(modules: list[nn.Module | None], device: torch.device, offload: bool) -> Iterator[None]:
    """`modules` on `device` inside the block; with `offload`, back on the CPU after it (cache freed)."""
    present = [m for m in modules if m is not None]
    if not offload:
        yield
        return
    for module in present:
        module.to(device)
    try:
        yield
    finally:
        for module in present:
            module.to(CPU)
        if device.type == "cuda":
            torch.cuda.empty_cache()
