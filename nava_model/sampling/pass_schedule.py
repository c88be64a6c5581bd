"""How many guidance passes run stacked in one MMDiT forward, chosen by token count and memory.

Stacking passes along the batch only pays while a forward is too short to fill the GPU's matrix
units (audio only, previews): at NAVA's 32k tokens per pass one pass already fills them, and four
stacked cost ≈9 GB more activations for no gain. So passes are stacked while the forward stays
under `fill_tokens` tokens and its activations fit in the free memory; on a CPU (efficient GEMMs at
any height) only while the per-call overhead outweighs the work (tiny models). An out-of-memory error
halves the count for the rest of the clip and the failed passes run again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

# Joint tokens in one forward past which another stacked pass adds memory, not speed (a 3072-wide GEMM is
# compute-bound from a few thousand rows on an H100).
FILL_TOKENS_CUDA = 8192
# On a CPU a forward pays a fixed overhead per layer call: passes are stacked only while a forward's work,
# tokens × dim², stays below this (the tiny preset's 320x192 demo stacks its 4 passes, which saves CPU time;
# a width-256 model at the same size runs them one by one: bench/guidance_batching.py finds no gain there).
CPU_FILL_WORK = 2**24


def activation_bytes(tokens: int, dim: int, ffn_dim: int, dtype: torch.dtype) -> int:
    """Peak activation memory of one batch row in a block, by the tensors alive at once: the fp32 residual and
    its update, h / q / k / v / attention output in the compute dtype, the fp32 RoPE copies of q and k, and the
    FFN hidden layer before and after its GELU."""
    size = torch.empty((), dtype=dtype).element_size()
    per_token = 2 * 4 * dim + 5 * size * dim + 2 * 4 * dim + 2 * size * ffn_dim
    return tokens * per_token


def joint_tokens(video: torch.Tensor | None, audio: torch.Tensor | None) -> int:
    """Tokens per row of the joint sequence: video latent frames × (H/2) × (W/2) patches, plus the audio steps."""
    video_tokens = 0 if video is None else video.shape[2] * (video.shape[3] // 2) * (video.shape[4] // 2)
    return video_tokens + (0 if audio is None else audio.shape[1])


def free_memory(device: torch.device) -> int | None:
    """Bytes a new allocation can use on a CUDA device (free plus what torch holds unused); None elsewhere."""
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


def is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.cuda.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )


@dataclass
class PassSchedule:
    """Passes per forward: up to `max_rows` batch rows, while under `fill_tokens` tokens (None: no limit) and
    while `row_bytes` per row fits in `free_bytes()`. `after_oom` caps the count once memory ran out."""

    max_rows: int = 4
    fill_tokens: int | None = None
    row_bytes: int = 0
    free_bytes: Callable[[], int | None] = lambda: None
    after_oom: int | None = None

    def __post_init__(self):
        if self.max_rows < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_rows}")

    @classmethod
    def for_model(cls, model, device: torch.device, tokens: int, max_rows: int = 4) -> PassSchedule:
        """The schedule of a NavaMMDiT computing `tokens` joint tokens per row on `device`."""
        return cls(
            max_rows=max_rows,
            fill_tokens=FILL_TOKENS_CUDA if device.type == "cuda" else max(1, CPU_FILL_WORK // model.config.dim**2),
            row_bytes=activation_bytes(tokens, model.config.dim, model.config.ffn_dim, model.compute_dtype),
            free_bytes=lambda: free_memory(device),
        )

    def passes_per_forward(self, passes: int, batch: int, tokens: int, free: int | None) -> int:
        """How many of `passes` (each `batch` rows of `tokens` tokens) to stack in the next forward, with `free`
        bytes available for activations (None: unknown, no limit)."""
        count = 1
        while count < min(passes, self.after_oom or passes) and (count + 1) * batch <= self.max_rows:
            if self.fill_tokens is not None and count * batch * tokens >= self.fill_tokens:
                break
            if free is not None and (count + 1) * batch * self.row_bytes > free:
                break
            count += 1
        return count

    def shrink_after_oom(self, count: int) -> bool:
        """Halve the passes per forward after `count` ran out of memory; False when it was already one."""
        if count <= 1:
            return False
        self.after_oom = count // 2
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return True
