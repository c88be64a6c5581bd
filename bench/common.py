"""What the benchmarks share: the machine's name, timing with device sync, peak memory, table printing."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) of the GPUs NAVA is run on, by name fragment.
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "H800": 989.0, "A100": 312.0, "L40S": 362.0, "4090": 165.0}


def add_device_arguments(parser) -> None:
    parser.add_argument("--device", default=None, help="default: cuda when present, else cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default=None, help="default: bf16 on GPU, fp32 on CPU")


def add_clip_arguments(parser) -> None:
    """The clip size, NAVA's default 1280x704, 6 s."""
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=704)
    parser.add_argument("--seconds", type=float, default=6.0)


def device_and_dtype(args) -> tuple[torch.device, torch.dtype]:
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return device, DTYPES[args.dtype or ("bf16" if device.type == "cuda" else "fp32")]


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def bf16_peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for fragment, peak in BF16_PEAK_TFLOPS.items() if fragment in name), None)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    else:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := current RSS


def peak_memory_gib(device: torch.device) -> float:
    """Peak allocated memory on a GPU; on a CPU the peak resident set of the process (VmHWM)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def memory_label(device: torch.device) -> str:
    return "peak allocated (torch)" if device.type == "cuda" else "peak RSS of the process"


def timed(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> tuple[float, float]:
    """(mean seconds per call after `warmup` calls, peak memory GiB over the timed calls)."""
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        reset_peak_memory(device)
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        synchronize(device)
    return (time.perf_counter() - start) / repeats, peak_memory_gib(device)


def print_table(header: list[str], rows: list[list[str]], out: Path | None = None) -> None:
    """A Markdown table to stdout (and appended to `out`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    note("\n".join(lines), out)


def note(text: str, out: Path | None = None) -> None:
    print(text)
    if out is not None:
        with out.open("a", encoding="utf-8") as handle:
            handle.write(text + "\n\n")


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights in place: std 0.02 for matrices, 1 for norm weights, 0 for biases; statistics 0 / 1."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            if not tensor.is_floating_point():
                continue
            if tensor.ndim <= 1 or "std" in name:
                tensor.fill_(0.0 if name.endswith("bias") or "mean" in name else 1.0)
            else:
                tensor.normal_(0.0, 0.02)
    return module.eval().requires_grad_(False)
