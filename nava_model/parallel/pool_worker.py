"""The worker side of the pool: one spawned process per extra device.

A worker joins the process group and the pool's parallel plan, loads the MMDiT itself from the
checkpoint file onto its device, and then serves runs until told to stop. Its control pipe to rank 0 carries only short messages
(`STARTED`, `READY`, `DONE`, `FAILED` + traceback; `RUN`, `STOP`); the job itself arrives through
torch.distributed. It exits by itself when rank 0's process is gone, so its device is freed even if
the host is killed.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from ..mmdit.loader import load_nava_mmdit
from .plan import ParallelPlan
from .pool_job import broadcast_job, run_job
from .runtime import ParallelRuntime, RunCancelled

# rank 0 -> worker
RUN, STOP = "run", "stop"
# worker -> rank 0
STARTED, READY, DONE, FAILED = "started", "ready", "done", "failed"
HOST = "127.0.0.1"
IDLE_POLL_S = 1.0  # how often an idle worker checks that rank 0's process is still there


@dataclass(frozen=True)
class ModelSource:
    """How each worker loads its own copy of the MMDiT (the same file and dtypes as rank 0)."""

    path: str
    dtype: torch.dtype = torch.float32
    compute_dtype: torch.dtype = torch.float32
    attention: str = "auto"

    def load(self, device: torch.device):
        return load_nava_mmdit(
            self.path, device=device, dtype=self.dtype, attention_backend=self.attention,
            compute_dtype=self.compute_dtype,
        )


@dataclass(frozen=True)
class Rendezvous:
    port: int
    world_size: int
    backend: str
    timeout_s: float


def join(rank: int, rendezvous: Rendezvous) -> None:
    """Join rank 0's process group through its TCPStore on localhost."""
    timeout = timedelta(seconds=rendezvous.timeout_s)
    store = dist.TCPStore(HOST, rendezvous.port, rendezvous.world_size, is_master=False, timeout=timeout)
    dist.init_process_group(
        rendezvous.backend, store=store, rank=rank, world_size=rendezvous.world_size, timeout=timeout
    )


def next_command(conn) -> str:
    """Wait, without a timeout, for rank 0's next command; STOP if rank 0's process is gone."""
    parent = multiprocessing.parent_process()
    while not conn.poll(IDLE_POLL_S):
        if parent is not None and not parent.is_alive():
            return STOP
    try:
        return conn.recv()
    except (EOFError, OSError):
        return STOP


def serve(rank: int, device: str, source: ModelSource, rendezvous: Rendezvous, plan: ParallelPlan, conn) -> None:
    """Entry point of a worker process."""
    device = torch.device(device)
    try:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        else:  # CPU ranks share the cores instead of each taking all of them
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // rendezvous.world_size))
        conn.send((STARTED, os.getpid()))
        join(rank, rendezvous)
        runtime = ParallelRuntime.from_default_group(plan)  # with rank 0, in the same order
        model = source.load(device)
        conn.send((READY, os.getpid()))
        while next_command(conn) == RUN:
            try:
                run_job(model, broadcast_job(None), runtime)
            except RunCancelled:
                pass  # rank 0 stopped the run; wait for the next one
            conn.send((DONE, os.getpid()))
    except BaseException:  # noqa: BLE001 - report anything to rank 0 before dying
        try:
            conn.send((FAILED, traceback.format_exc()))
        except OSError:
            pass
        raise SystemExit(1) from None
    dist.destroy_process_group()
