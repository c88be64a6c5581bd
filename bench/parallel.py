"""Denoising step time and peak memory per parallel plan (CFG groups x Ulysses), with the speed-up over one
process measured in the same run.

Every plan whose world fits the devices present runs the real loop (`pipeline.sample`) for a few steps in a
spawned world; the others are listed with the number of GPUs they need. For every row the bytes each rank
exchanges per step are computed from the shapes. Below the table: the time of each guidance pass alone.

    python bench/parallel.py                      # NAVA's size: 1280x704, 145 frames, 4 passes, bf16, all GPUs here
    python bench/parallel.py --tiny               # CPU smoke test: tiny model, gloo, 1 and 2 processes

The MMDiT has random weights (timing does not depend on their values).
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from nava_model.config import get_preset  # noqa: E402
from nava_model.mmdit.model import NavaMMDiT, SpeakerCondition  # noqa: E402
from nava_model.parallel import ParallelPlan, ParallelRuntime  # noqa: E402
from nava_model.options import SamplingOptions  # noqa: E402
from nava_model.pipeline import Conditioning, sample  # noqa: E402
from nava_model.sampling.guidance import COND, MASKED, TIMBRE_UNCOND, UNCOND, guided_velocity  # noqa: E402
from nava_model.sampling.guidance import GuidanceInputs, GuidanceScales  # noqa: E402

PASSES = (COND, UNCOND, MASKED, TIMBRE_UNCOND)  # T2AV with voices: every pass of NAVA's guidance


@dataclass(frozen=True)
class Setup:
    preset: str
    num_heads: int | None
    width: int
    height: int
    frames: int
    dtype: torch.dtype
    device: str  # "cuda" or "cpu"

    def options(self, steps: int) -> SamplingOptions:
        return SamplingOptions(width=self.width, height=self.height, frames=self.frames, steps=steps, seed=0)

    @property
    def config(self):
        return get_preset(self.preset, **({"num_heads": self.num_heads} if self.num_heads else {}))


def build_model(setup: Setup, device: torch.device) -> NavaMMDiT:
    """Random weights drawn on the device itself (the 6.3B model in seconds on a GPU)."""
    with torch.device("meta"):
        model = NavaMMDiT(setup.config, dtype=setup.dtype)
    model = model.to_empty(device=device).eval()
    generator = torch.Generator(device).manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.ndim > 1:
                param.normal_(0.0, math.prod(param.shape[1:]) ** -0.5, generator=generator)
            else:
                param.normal_(1.0 if "norm" in name else 0.0, 0.02, generator=generator)
    return model


def conditioning(setup: Setup) -> Conditioning:
    g = torch.Generator().manual_seed(1)
    text_dim = setup.config.text_dim
    return Conditioning(
        positive=torch.randn(1, 120, text_dim, generator=g),
        negative_video=torch.randn(1, 90, text_dim, generator=g),
        negative_audio=torch.randn(1, 30, text_dim, generator=g),
        speaker=SpeakerCondition(torch.randn(1, 2, 192, generator=g), torch.tensor([[5, 40]])),
    )


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_steps(setup: Setup, steps: int, device: torch.device, runtime=None) -> tuple[float, float]:
    """(seconds per step after the first, peak GiB on this device) of the real loop."""
    model = build_model(setup, device)
    stamps = []

    def stamp(*_):
        synchronize(device)
        stamps.append(time.perf_counter())

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with torch.no_grad():
        sample(model, conditioning(setup), setup.options(steps + 1), callback=stamp, parallel=runtime)
    per_step = (stamps[-1] - stamps[0]) / steps if stamps else float("nan")
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return per_step, peak


def pass_times(setup: Setup, device: torch.device, repeats: int = 2) -> dict[str, float]:
    """Seconds of one forward for each guidance pass alone."""
    model = build_model(setup, device)
    options = setup.options(1)
    cond = conditioning(setup)
    video = torch.randn(1, 48, options.latent_frames, setup.height // 16, setup.width // 16, device=device)
    audio = torch.randn(1, options.audio_tokens, 128, device=device)
    t = torch.full((1,), 500.0, device=device)
    inputs = GuidanceInputs(cond.positive.to(device, setup.dtype), cond.negative_video.to(device, setup.dtype),
                            SpeakerCondition(cond.speaker.embeddings.to(device, setup.dtype),
                                             cond.speaker.positions.to(device)))
    times = {}
    for p in PASSES:
        only = _OnlyPass(p)
        with torch.no_grad():
            for attempt in range(repeats + 1):  # the first call warms up
                synchronize(device)
                started = time.perf_counter()
                guided_velocity(model, video.to(setup.dtype), audio.to(setup.dtype), t, inputs, GuidanceScales(),
                                max_batch=1, cfg_parallel=only)
                synchronize(device)
                if attempt:
                    times[p.name] = times.get(p.name, 0.0) + (time.perf_counter() - started) / repeats
    return times


class _OnlyPass:
    """Runs one pass and stands in the others with its own velocities (the combination is not looked at)."""

    def __init__(self, chosen):
        self.chosen = chosen

    def assigned(self, passes):
        return [self.chosen]

    def gather(self, velocities, passes, video, audio):
        return {p: velocities[self.chosen] for p in passes}


def exchanged_bytes(setup: Setup, plan: ParallelPlan) -> int:
    """Bytes one rank sends per step: the CFG all-gather of its passes' velocities and, under Ulysses, the
    all-to-alls around every self-attention (q, k, v out, the output back) and the gather of the head outputs."""
    config, options = setup.config, setup.options(1)
    element = torch.empty((), dtype=setup.dtype).element_size()
    grid = options.latent_frames * (setup.height // 32) * (setup.width // 32)
    audio = options.audio_tokens
    slots = math.ceil(len(PASSES) / plan.cfg)
    latent_numel = 48 * options.latent_frames * (setup.height // 16) * (setup.width // 16) + audio * 128
    total = slots * latent_numel * element * (plan.cfg > 1)
    if plan.sp > 1:
        local_tokens = math.ceil(grid / plan.sp) + math.ceil(audio / plan.sp)
        per_attention = 4 * local_tokens * config.dim * element * (plan.sp - 1) / plan.sp
        blocks = config.num_double_blocks + config.num_single_blocks
        heads_out = local_tokens * max(config.video_out_features, 128) * element
        total += slots * (blocks * per_attention + heads_out)
    return int(total)


def candidate_plans(max_world: int, num_heads: int) -> list[ParallelPlan]:
    plans = []
    for world in (2, 4, 8):
        if world > max_world:
            continue
        for cfg in (1, 2, 4):
            sp = world // cfg
            if world % cfg == 0 and num_heads % sp == 0:
                plans.append(ParallelPlan(world, cfg, sp, 1))
    return plans


def _world_main(rank: int, setup: Setup, plan: ParallelPlan, steps: int, store: str, results) -> None:
    device = torch.device("cuda", rank) if setup.device == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(1)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method=f"file://{store}", rank=rank,
                            world_size=plan.world_size, timeout=datetime.timedelta(minutes=10))
    try:
        runtime = ParallelRuntime.from_default_group(plan)
        per_step, peak = measure_steps(setup, steps, device, runtime)
        peak_all = torch.tensor([0.0 if math.isnan(peak) else peak], device=device)
        dist.all_reduce(peak_all, op=dist.ReduceOp.MAX)
        if rank == 0:
            results.put((per_step, peak_all.item() if device.type == "cuda" else float("nan")))
    finally:
        dist.destroy_process_group()


def run_world(setup: Setup, plan: ParallelPlan, steps: int) -> tuple[float, float]:
    context = mp.get_context("spawn")
    results = context.SimpleQueue()
    with tempfile.TemporaryDirectory() as folder:
        mp.start_processes(_world_main, args=(setup, plan, steps, f"{folder}/store", results),
                           nprocs=plan.world_size, start_method="spawn")
    return results.get()


def gib(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="CPU smoke test: tiny model (4 heads), 96x64, 9 frames")
    parser.add_argument("--steps", type=int, default=3, help="measured steps (one more runs first as warm-up)")
    parser.add_argument("--max-world", type=int, default=None, help="largest world to run (default: GPUs here, 2 on CPU)")
    args = parser.parse_args()

    gpus = torch.cuda.device_count() if not args.tiny else 0
    if args.tiny:
        setup = Setup("tiny", 4, 96, 64, 9, torch.float32, "cpu")
        runnable, where, missing = args.max_world or 2, "CPU processes (gloo, 1 thread each)", "not run (--max-world)"
    elif gpus == 0:
        raise SystemExit("no GPU here: NAVA's size needs GPUs (use --tiny for the CPU smoke test)")
    else:
        setup = Setup("nava-6.3b", None, 1280, 704, 145, torch.bfloat16, "cuda")
        runnable, where = min(args.max_world or gpus, gpus), f"{gpus}x {torch.cuda.get_device_name(0)} (NCCL)"
        missing = "needs {} GPUs"
    config = setup.config
    print(f"# {setup.preset} ({config.num_heads} heads), {setup.width}x{setup.height}, {setup.frames} frames, "
          f"{len(PASSES)} passes (c, u, m, tu), {setup.dtype}, on {where}; mean of {args.steps} step(s) after a warm-up step")

    device = torch.device("cuda", 0) if setup.device == "cuda" else torch.device("cpu")
    if setup.device == "cpu":
        torch.set_num_threads(1)
    baseline, baseline_peak = measure_steps(setup, args.steps, device)
    print("| ranks | plan | s/step | speed-up | peak GiB/rank | sent MiB/rank/step |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| 1 | one process | {baseline:.3f} | 1.00x | {gib(baseline_peak)} | 0 |")
    for plan in candidate_plans(8, config.num_heads):
        sent = exchanged_bytes(setup, plan) / 2**20
        name = f"CFG {plan.cfg} x Ulysses {plan.sp}"
        if plan.world_size > runnable:
            print(f"| {plan.world_size} | {name} | {missing.format(plan.world_size)} | | | {sent:.3g} |")
            continue
        per_step, peak = run_world(setup, plan, args.steps)
        print(f"| {plan.world_size} | {name} | {per_step:.3f} | {baseline / per_step:.2f}x | {gib(peak)} | {sent:.3g} |",
              flush=True)
    print("\none pass alone (s):", ", ".join(f"{k} {v:.3f}" for k, v in pass_times(setup, device).items()))


if __name__ == "__main__":
    main()
