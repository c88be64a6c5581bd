"""Scaled dot-product attention and the backend choice (one place decides which kernel runs).

Tensors are [B, L, heads, head_dim] throughout. `joint_attention` is the self-attention of the
[video; audio] sequence: one softmax over both modalities, or, for the rows whose cross-modal
attention is masked (the alignment-guidance pass), video attending only to video and audio only
to audio. A sequence-parallel wrapper would wrap `joint_attention` and nothing else.

Everything that decides control flow here is a static Python value (lengths, per-row masked
flags, the resolved kernel kind), so a compiled block traces these functions without a break.
"""

from __future__ import annotations

import importlib.util
import inspect
import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = ("auto", "sdpa", "flash", "math")  # what a user chooses
KINDS = ("sdpa", "sdpa-hopper", "flash", "math")  # what `resolve_backend` turns a choice into

RowMask = tuple[bool, ...]  # per batch row: True = cross-modal attention removed (video only sees video, ...)

# On Hopper, cuDNN's fused attention beats the flash kernel at NAVA's sequence lengths.
_HOPPER_SDPA_ORDER = [
    SDPBackend.CUDNN_ATTENTION,
    SDPBackend.FLASH_ATTENTION,
    SDPBackend.EFFICIENT_ATTENTION,
    SDPBackend.MATH,
]
# `set_priority` appeared in torch 2.6; before it the list only enables backends and torch keeps its own order.
_SDPA_HAS_PRIORITY = "set_priority" in inspect.signature(sdpa_kernel).parameters

# The math kernel materialises [B, heads, Lq, Lk] scores and their softmax; above this it is refused.
MATH_MAX_SCORE_BYTES = 4 * 1024**3


def flash_attn_available() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}; choose one of {BACKENDS}")
    if backend == "flash" and not flash_attn_available():
        raise ValueError("attention backend 'flash' needs flash-attn: pip install flash-attn (or use 'auto')")


def resolve_backend(backend: str, device: torch.device) -> str:
    """The kernel kind `attention` runs for the choice `backend` on `device` (one of KINDS).

    Call it once per model and device (NavaMMDiT caches it), not per attention call.
    """
    check_backend(backend)
    if backend != "auto":
        return backend
    if device.type != "cuda":
        return "sdpa"
    if torch.cuda.get_device_capability(device) == (9, 0):
        return "sdpa-hopper"
    return "flash" if flash_attn_available() else "sdpa"


def check_math_fits(batch: int, heads: int, q_len: int, k_len: int, dtype: torch.dtype) -> None:
    """Refuse the math kernel where its score matrix would not fit (≈100 GB per row at NAVA's full size)."""
    score_bytes = batch * heads * q_len * k_len * torch.empty((), dtype=dtype).element_size()
    if score_bytes > MATH_MAX_SCORE_BYTES:
        raise ValueError(
            f"the 'math' attention backend would materialise a [{batch}, {heads}, {q_len}, {k_len}] score matrix "
            f"({score_bytes / 1024**3:.1f} GiB, limit {MATH_MAX_SCORE_BYTES / 1024**3:.0f} GiB): "
            "use the 'auto' or 'sdpa' backend for clips this size"
        )


def _math(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    scores = torch.einsum("blhd,bmhd->bhlm", q, k) / math.sqrt(q.shape[-1])
    return torch.einsum("bhlm,bmhd->blhd", scores.softmax(dim=-1), v)


def _sdpa(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return out.transpose(1, 2)


def _hopper_kernels():
    if _SDPA_HAS_PRIORITY:
        return sdpa_kernel(_HOPPER_SDPA_ORDER, set_priority=True)
    return sdpa_kernel(_HOPPER_SDPA_ORDER)


def _flash(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    from flash_attn import flash_attn_func

    half = q.dtype if q.dtype in (torch.float16, torch.bfloat16) else torch.bfloat16
    return flash_attn_func(q.to(half), k.to(half), v.to(half)).to(q.dtype)


def attention(q: Tensor, k: Tensor, v: Tensor, kind: str) -> Tensor:
    """softmax(q kᵀ / √d) v over all keys; q [B, Lq, H, D], k and v [B, Lk, H, D]; `kind` from resolve_backend."""
    if kind == "math":
        return _math(q, k, v)
    if kind == "flash":
        return _flash(q, k, v)
    if kind == "sdpa-hopper":
        with _hopper_kernels():
            return _sdpa(q, k, v)
    if kind == "sdpa":
        return _sdpa(q, k, v)
    raise ValueError(f"attention kind must be one of {KINDS} (resolve {kind!r} with resolve_backend first)")


def row_runs(masked: RowMask) -> list[tuple[slice, bool]]:
    """Consecutive rows with the same masked flag, as (row slice, flag): (F, F, T, F) -> [0:2 F, 2:3 T, 3:4 F]."""
    runs = []
    start = 0
    for row in range(1, len(masked) + 1):
        if row == len(masked) or masked[row] != masked[start]:
            runs.append((slice(start, row), masked[start]))
            start = row
    return runs


def joint_attention(q: Tensor, k: Tensor, v: Tensor, lengths: tuple[int, int], masked: RowMask, kind: str) -> Tensor:
    """Self-attention over [video (lengths[0]); audio (lengths[1])] tokens, q/k/v [B, Lv + La, H, D].

    `masked[b]` (a static Python bool per row) makes row b attend within each modality only.
    """
    video_len, audio_len = lengths
    if video_len == 0 or audio_len == 0 or not any(masked):
        return attention(q, k, v, kind)

    def within_modalities(rows: slice) -> Tensor:
        parts = [
            attention(q[rows, tokens], k[rows, tokens], v[rows, tokens], kind)
            for tokens in (slice(0, video_len), slice(video_len, video_len + audio_len))
        ]
        return torch.cat(parts, dim=1)

    outputs = [
        within_modalities(rows) if flag else attention(q[rows], k[rows], v[rows], kind)
        for rows, flag in row_runs(masked)
    ]
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs)
