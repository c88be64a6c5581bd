"""The command line's side of several processes: torchrun's environment, the flags, the process group.

Only the CLI entry reads launcher variables (WORLD_SIZE, RANK, LOCAL_RANK, set by torchrun for one
node or many); the denoising loop only sees a ParallelRuntime.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .plan import AUTO, ParallelPlan, PlanError, guidance_passes, make_plan, parse_degree
from .runtime import ParallelRuntime

TIMEOUT = datetime.timedelta(minutes=10)  # a rank silent this long (dead, hung) fails the run


@dataclass(frozen=True)
class LaunchedWorld:
    size: int
    rank: int
    local_rank: int


def world_from_env(environ: Mapping[str, str] = os.environ) -> LaunchedWorld | None:
    """The world torchrun started this process in, or None for a plain single process."""
    if "WORLD_SIZE" not in environ:
        return None
    try:
        return LaunchedWorld(int(environ["WORLD_SIZE"]), int(environ["RANK"]), int(environ.get("LOCAL_RANK", 0)))
    except (KeyError, ValueError) as exc:
        raise PlanError(f"incomplete launcher environment ({exc}): start several processes with torchrun") from None


def add_parallel_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("several GPUs (launch with torchrun --nproc_per_node N -m nava_model generate ...)")
    group.add_argument("--cfg-parallel", default=AUTO, metavar="K|auto",
                       help="CFG groups: the guidance passes of a step spread over K groups of ranks (default auto)")
    group.add_argument("--sp", default=AUTO, metavar="M|auto",
                       help="Ulysses sequence-parallel ranks per group; 24 heads: 1, 2, 3, 4, 6, 8 (default auto)")


def plan_from_args(args: argparse.Namespace, world: LaunchedWorld | None, passes: int) -> ParallelPlan | None:
    """The plan for this launch (None: one process). Checked from numbers and the MMDiT file's header only,
    before any weights load."""
    if world is None or world.size == 1:
        for flag, value in (("--cfg-parallel", args.cfg_parallel), ("--sp", args.sp)):
            degree = parse_degree(value, flag)
            if degree is not None and degree > 1:
                raise PlanError(f"{flag} {degree} needs {degree} or more processes: launch with "
                                f"torchrun --nproc_per_node N -m nava_model generate ...")
        return None
    from ..components import find_component_file
    from ..mmdit.loader import read_mmdit_config

    nava_log = logging.getLogger("nava")
    level = nava_log.level
    nava_log.setLevel(logging.ERROR)  # the loader notes a tiny file when it loads it; the header read stays quiet
    try:
        num_heads = read_mmdit_config(find_component_file(args.models, "mmdit")).num_heads
    finally:
        nava_log.setLevel(level)
    return make_plan(world.size, num_heads, passes, args.cfg_parallel, args.sp)


@contextmanager
def launched_runtime(args: argparse.Namespace, options, voices_per_job: list[bool]):
    """(runtime, this rank's device) for the run, or (None, None) for one process; the process group is
    closed when the block ends."""
    world = world_from_env()
    if world is not None and world.rank != 0:
        logging.getLogger("nava").setLevel(logging.ERROR)  # one rank speaks
    plan = plan_from_args(args, world, max(guidance_passes(options, voices) for voices in voices_per_job))
    if plan is None:
        yield None, None
        return
    device = start_process_group(world, args.device)
    try:
        runtime = ParallelRuntime.from_default_group(plan)
        if world.rank == 0:
            print(f"parallel: {plan.describe()}", flush=True)
        yield runtime, device
    finally:
        dist.destroy_process_group()


def start_process_group(world: LaunchedWorld, device: str | None) -> torch.device:
    """Join torchrun's world: NCCL with one GPU per local rank, or gloo on CPUs. Returns this rank's device."""
    use_cuda = (device is None or device.startswith("cuda")) and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(world.local_rank)
    dist.init_process_group(
        "nccl" if use_cuda else "gloo", rank=world.rank, world_size=world.size, timeout=TIMEOUT,
        device_id=torch.device("cuda", world.local_rank) if use_cuda else None,
    )
    return torch.device("cuda", world.local_rank) if use_cuda else torch.device(device or "cpu")
