"""Scaled dot-product attention and the backend choice (one place decides which kernel runs).

Tensors are [B, L, heads, head_dim] throughout. `joint_attention` is the self-attention of the
[video; audio] sequence: one softmax over both modalities, or, for the rows whose cross-modal
attention is masked (the alignment-guidance pass), video attending only to video and audio only
to audio. A sequence-parallel wrapper would wrap `joint_attention` and nothing else.
"""

from __future__ import annotations

import importlib.util
import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = ("auto", "sdpa", "flash", "math")

# On Hopper, cuDNN's fused attention beats the flash kernel at NAVA's sequence lengths (architecture.md §4).
_HOPPER_SDPA_ORDER = [
    SDPBackend.CUDNN_ATTENTION,
    SDPBackend.FLASH_ATTENTION,
    SDPBackend.EFFICIENT_ATTENTION,
    SDPBackend.MATH,
]


def flash_attn_available() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}; choose one of {BACKENDS}")
    if backend == "flash" and not flash_attn_available():
        raise ValueError("attention backend 'flash' needs flash-attn: pip install flash-attn (or use 'auto')")


def resolve_backend(backend: str, device: torch.device) -> str:
    """The kernel family `attention` uses for `backend` on `device` ('sdpa', 'sdpa-hopper', 'flash' or 'math')."""
    check_backend(backend)
    if backend != "auto":
        return backend
    if device.type != "cuda":
        return "sdpa"
    if torch.cuda.get_device_capability(device) == (9, 0):
        return "sdpa-hopper"
    return "flash" if flash_attn_available() else "sdpa"


def _math(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    scores = torch.einsum("blhd,bmhd->bhlm", q, k) / math.sqrt(q.shape[-1])
    return torch.einsum("bhlm,bmhd->blhd", scores.softmax(dim=-1), v)


def _sdpa(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return out.transpose(1, 2)


def _flash(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    from flash_attn import flash_attn_func

    half = q.dtype if q.dtype in (torch.float16, torch.bfloat16) else torch.bfloat16
    return flash_attn_func(q.to(half), k.to(half), v.to(half)).to(q.dtype)


def attention(q: Tensor, k: Tensor, v: Tensor, backend: str = "auto") -> Tensor:
    """softmax(q kᵀ / √d) v over all keys; q [B, Lq, H, D], k and v [B, Lk, H, D]."""
    kind = resolve_backend(backend, q.device)
    if kind == "math":
        return _math(q, k, v)
    if kind == "flash":
        return _flash(q, k, v)
    if kind == "sdpa-hopper":
        with sdpa_kernel(_HOPPER_SDPA_ORDER, set_priority=True):
            return _sdpa(q, k, v)
    return _sdpa(q, k, v)


def joint_attention(
    q: Tensor, k: Tensor, v: Tensor, lengths: tuple[int, int], masked: Tensor, backend: str = "auto"
) -> Tensor:
    """Self-attention over [video (lengths[0]); audio (lengths[1])] tokens.

    `masked` [B] (bool, CPU) selects the rows in which each modality attends only to itself.
    """
    video_len, audio_len = lengths
    if video_len == 0 or audio_len == 0 or not masked.any():
        return attention(q, k, v, backend)

    def per_modality(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        parts = [attention(q[:, s], k[:, s], v[:, s], backend) for s in (slice(0, video_len), slice(video_len, None))]
        return torch.cat(parts, dim=1)

    if masked.all():
        return per_modality(q, k, v)
    rows = masked.to(q.device)
    out = torch.empty_like(q)
    out[rows] = per_modality(q[rows], k[rows], v[rows])
    out[~rows] = attention(q[~rows], k[~rows], v[~rows], backend)
    return out
