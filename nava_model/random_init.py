"""Seeded random weights, drawn per key, shared by our models and the fixture generators.

A parity fixture stores only inputs, outputs and a seed: both our code and the reference
implementation regenerate identical weights from the key names of the official layout, so a
real-width component (the 705 M-parameter Wan2.2 VAE) needs no weight file in the repository.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

import torch


def key_seed(seed: int, key: str) -> int:
    """A 63-bit seed derived from the global seed and the key name (stable across Python runs)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _is_norm_scale(key: str) -> bool:
    """Scale vectors of normalisation layers (RMSNorm / LayerNorm weights, Wan's `gamma`)."""
    return key.endswith("gamma") or ("norm" in key and key.endswith(".weight"))


def seeded_tensor(key: str, shape: Sequence[int], seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Draw the tensor for `key` with a scale that keeps activations of a deep network finite.

    Rules: norm scales (`*norm*.weight`, `*gamma`) ~ 1 + 0.1 N; biases ~ 0.02 N; tensors with two or
    more dims ~ N / sqrt(fan_in) (fan_in = product of all dims but the first); other vectors ~ 0.1 N.
    """
    generator = torch.Generator().manual_seed(key_seed(seed, key))
    shape = tuple(int(s) for s in shape)
    noise = torch.randn(shape, generator=generator, dtype=torch.float64)
    if len(shape) == 1 and _is_norm_scale(key):
        values = 1.0 + 0.1 * noise
    elif key.endswith("bias"):
        values = 0.02 * noise
    elif len(shape) >= 2:
        fan_in = max(1, math.prod(shape[1:]))
        values = noise / math.sqrt(fan_in)
    else:
        values = 0.1 * noise
    return values.to(dtype)


def random_state_dict(
    shapes: Mapping[str, Sequence[int]], seed: int = 0, dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """One seeded tensor per key; keys are drawn independently, so their order does not matter."""
    return {key: seeded_tensor(key, shape, seed, dtype) for key, shape in shapes.items()}


def state_dict_shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """The key -> shape table of a module's state dict (works on the meta device)."""
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}
