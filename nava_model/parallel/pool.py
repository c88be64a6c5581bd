"""A persistent pool of worker processes, one per extra device, with the calling process as rank 0.

The host (ComfyUI, a script, a test) keeps its own copy of the MMDiT and drives the one denoising
loop as rank 0, so its progress callback, previews and Cancel work as on one device. Each worker is
a `torch.multiprocessing` spawn process that loads the MMDiT itself from the checkpoint file (weights
never travel through a pipe) and keeps it resident between runs. A run wakes the workers over their
control pipes, broadcasts the job through torch.distributed and runs `pipeline.sample` on every rank
with the pool's ParallelRuntime (CFG groups x Ulysses, one replica), so each rank computes its share.

Failures are bounded: the pool's collectives time out after `timeout_s`, a worker that exits breaks
rank 0's next collective at once (gloo), and either way the whole pool is stopped and `PoolError`
says which rank failed and how; the next run starts a fresh pool. The pool stops when `stop()` is
called, when it is garbage-collected, or when the host exits; a worker whose host is gone exits by
itself. One process holds one torch.distributed default group, hence one running pool at a time:
starting a pool stops any other.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import types
import weakref
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import timedelta
from multiprocessing import connection

import torch
import torch.distributed as dist
import torch.multiprocessing

from ..fp8 import FP8_DTYPES
from ..pipeline import AVLatent, Conditioning, SamplingOptions, StepCallback
from .plan import AUTO, ParallelPlan, PlanError, guidance_passes, make_plan
from .pool_job import SampleJob, broadcast_job, run_job
from .pool_worker import DONE, FAILED, HOST, READY, RUN, STARTED, STOP, ModelSource, Rendezvous, serve
from .runtime import ParallelRuntime

DEFAULT_TIMEOUT_S = 300.0
STOP_GRACE_S = 10.0  # an idle worker needs well under a second to leave its group and exit
REPORT_GRACE_S = 2.0  # after a failed collective, how long to wait for the workers' own account of it
# A pool serves any job, so its plan is made for the most guidance passes a step can have (c, u, m, tu).
MOST_PASSES = guidance_passes(SamplingOptions(), has_voices=True)


class PoolError(RuntimeError):
    """The pool could not start or a run failed on some rank; the pool is stopped."""


def pool_plan(world_size: int, num_heads: int, cfg: int | str = AUTO, sp: int | str = AUTO) -> ParallelPlan:
    """The split of a pool's ranks: CFG groups x Ulysses ranks using every device for the one job."""
    plan = make_plan(world_size, num_heads, MOST_PASSES, cfg=cfg, sp=sp)
    if plan.replicas != 1:
        raise PlanError(
            f"{plan.cfg} CFG groups x Ulysses {plan.sp} uses {plan.replica_size} of the {world_size} devices: "
            "a pool runs one job at a time, so choose degrees whose product is the number of devices (or auto)"
        )
    return plan


def backend_for(devices: Sequence[torch.device]) -> str:
    kinds = {d.type for d in devices}
    if kinds == {"cuda"}:
        return "nccl"
    if kinds == {"cpu"}:
        return "gloo"
    raise PoolError(f"the pool's devices must be all CUDA GPUs or all CPU, got {', '.join(map(str, devices))}")


def parse_devices(text: str, host: torch.device, gpu_count: int | None = None) -> list[torch.device]:
    """The pool's devices from a user's list, the host's own device first (rank 0 runs in the host).

    `all`: every visible GPU (a CPU host: itself alone). Otherwise comma-separated entries: a CUDA index (`0`), `cuda:1`, or `cpu`
    (which may repeat: one process each, for tests on a machine without GPUs).
    """
    host = torch.device(host)
    if host.type == "cuda" and host.index is None:
        host = torch.device("cuda", torch.cuda.current_device())
    gpu_count = torch.cuda.device_count() if gpu_count is None else gpu_count
    entries = [e.strip() for e in text.split(",") if e.strip()]
    if entries == ["all"]:  # every visible GPU; just the host's device when it computes on the CPU
        entries = [str(i) for i in range(gpu_count)] if host.type == "cuda" else [str(host)]
    if not entries:
        raise PoolError("no devices given: write all, or a list such as 0,1,2,3")
    devices = []
    for entry in entries:
        try:
            device = torch.device("cuda", int(entry)) if entry.isdigit() else torch.device(entry)
        except RuntimeError:
            raise PoolError(f"{entry!r} is not a device: use GPU indices (0,1), cuda:N or cpu") from None
        if device.type == "cuda" and (device.index is None or device.index >= gpu_count):
            seen = f"{gpu_count} GPU(s), cuda:0..cuda:{gpu_count - 1}" if gpu_count else "no GPU"
            raise PoolError(f"{entry!r}: this process sees {seen} (CUDA_VISIBLE_DEVICES and ComfyUI's "
                            "--cuda-device hide the others)")
        if device.type == "cuda" and device in devices:
            raise PoolError(f"{device} is listed twice: each GPU runs one rank")
        devices.append(device)
    if host not in devices:
        raise PoolError(f"the list must include {host}, the device this process computes on (it is rank 0)")
    devices.remove(host)
    return [host, *devices]


@contextmanager
def _host_script_hidden():
    """Spawned children re-run the parent's main script before anything else. The host's may be a whole
    application (ComfyUI's main.py imports its server and touches every GPU); a worker needs none of it."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _exit_text(code: int | None) -> str:
    if code is None:
        return "did not answer"
    if code < 0:
        return f"was killed by signal {-code} ({signal.Signals(-code).name})"
    return f"exited with code {code}"


class _Workers:
    """The processes, pipes and process group of one running pool: all that stopping it needs."""

    owner: _Workers | None = None  # the workers whose pool holds this process's default group

    def __init__(self):
        self.processes: list = []
        self.conns: list = []
        self.devices: list[torch.device] = []
        self.store = None
        self.runtime: ParallelRuntime | None = None  # rank 0's part of the plan

    def alive(self) -> bool:
        return bool(self.processes) and _Workers.owner is self and all(p.is_alive() for p in self.processes)

    def send(self, command: str) -> None:
        for conn in self.conns:
            conn.send(command)

    def expect(self, tag: str, doing: str, timeout_s: float) -> list:
        """Each worker's next message, which must be `tag`; PoolError on a failure, an exit or the deadline."""
        replies: dict[int, object] = {}
        deadline = time.monotonic() + timeout_s
        while len(replies) < len(self.conns):
            pending = [i for i in range(len(self.conns)) if i not in replies]
            left = deadline - time.monotonic()
            if left <= 0:
                ranks = ", ".join(f"{i + 1} ({self.devices[i]})" for i in pending)
                raise PoolError(f"no answer from rank {ranks} within {timeout_s:g} s while {doing}")
            connection.wait([self.conns[i] for i in pending] + [self.processes[i].sentinel for i in pending], left)
            for i in pending:
                message = self._receive(i)
                if message is None:
                    if not self.processes[i].is_alive():
                        raise PoolError(f"{self.describe(i)} {_exit_text(self.processes[i].exitcode)} while {doing}")
                elif message[0] == FAILED:
                    raise PoolError(f"{self.describe(i)} failed while {doing}:\n{message[1]}")
                elif message[0] == tag:
                    replies[i] = message[1]
        return [replies[i] for i in range(len(self.conns))]

    def _receive(self, i: int):
        try:
            return self.conns[i].recv() if self.conns[i].poll() else None
        except (EOFError, OSError):
            return None

    def describe(self, i: int) -> str:
        return f"rank {i + 1} ({self.devices[i]}, pid {self.processes[i].pid})"

    def account(self) -> str:
        """How the workers failed after a broken run: each one's traceback or exit, if any."""
        deadline = time.monotonic() + REPORT_GRACE_S
        lines = []
        for i, process in enumerate(self.processes):
            process.join(max(0.0, deadline - time.monotonic()))  # a killed worker's pipe closes before it is reaped
            message = self._receive(i)
            if message is not None and message[0] == FAILED:
                lines.append(f"{self.describe(i)} failed: {message[1].strip().splitlines()[-1]}")
            elif not process.is_alive():
                lines.append(f"{self.describe(i)} {_exit_text(process.exitcode)}")
        return "\n".join(lines)

    def stop(self, graceful: bool = True) -> None:
        """Stop the workers, leave the group, free the devices. `graceful`: ask idle workers to leave first;
        otherwise (a broken run: workers may be stuck in a collective, or stopped) kill them at once."""
        if graceful:
            for conn in self.conns:
                try:
                    conn.send(STOP)
                except OSError:
                    pass
            deadline = time.monotonic() + STOP_GRACE_S
            for process in self.processes:
                process.join(max(0.0, deadline - time.monotonic()))
        for process in self.processes:
            if process.is_alive():
                process.kill()
                process.join()
        for conn in self.conns:
            conn.close()
        self.processes, self.conns, self.devices, self.store, self.runtime = [], [], [], None, None
        if _Workers.owner is self:
            _Workers.owner = None
            try:
                dist.destroy_process_group()
            except (RuntimeError, ValueError, AssertionError):
                pass  # a group whose peers died may refuse a clean exit; the process keeps no state of it


class WorkerPool:
    """Rank 0's handle on the pool: `sample()` runs a job on every rank, starting the pool if needed."""

    def __init__(
        self,
        source: ModelSource,
        devices: Sequence[torch.device | str],
        plan: ParallelPlan,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ):
        self.devices = [torch.device(d) for d in devices]
        if len(self.devices) < 2:
            raise PoolError(f"a pool needs at least two devices (rank 0 and a worker), got {len(self.devices)}")
        if plan.world_size != len(self.devices) or plan.replicas != 1:
            raise PoolError(f"the plan ({plan.describe()}) does not fit a pool of {len(self.devices)} devices")
        self.backend = backend_for(self.devices)
        if source.dtype in FP8_DTYPES or source.dtype != source.compute_dtype:
            raise PoolError(
                f"the pool's workers use plain PyTorch layers, which cannot store weights in {source.dtype} and "
                f"compute in {source.compute_dtype}: load the MMDiT with weight_dtype auto/bf16/fp16, or use "
                "NAVA_fp8.safetensors (its fp8 layers load on every worker)"
            )
        if timeout_s <= 0:
            raise PoolError(f"timeout_s must be positive, got {timeout_s}")
        self.source = source
        self.plan = plan
        self.timeout_s = float(timeout_s)
        self._workers = _Workers()
        weakref.finalize(self, self._workers.stop)  # on garbage collection and at interpreter exit

    @property
    def world_size(self) -> int:
        return len(self.devices)

    @property
    def running(self) -> bool:
        return self._workers.alive()

    @property
    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._workers.processes]

    def start(self) -> None:
        """Spawn the workers and wait until each holds the MMDiT; a no-op while the pool runs."""
        if self.running:
            return
        self._workers.stop(graceful=False)
        self._take_default_group()
        timeout = timedelta(seconds=self.timeout_s)
        store = dist.TCPStore(HOST, 0, self.world_size, is_master=True, timeout=timeout, wait_for_workers=False)
        rendezvous = Rendezvous(store.port, self.world_size, self.backend, self.timeout_s)
        if self.backend == "nccl":  # a timed-out collective raises on rank 0 instead of aborting the host process
            os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "2")
        workers = self._workers
        workers.store = store
        context = torch.multiprocessing.get_context("spawn")
        try:
            for rank, device in enumerate(self.devices[1:], start=1):
                ours, theirs = context.Pipe()
                process = context.Process(
                    target=serve, args=(rank, str(device), self.source, rendezvous, self.plan, theirs),
                    name=f"nava-pool-rank{rank}", daemon=True,
                )
                with _host_script_hidden():
                    process.start()
                theirs.close()
                workers.processes.append(process)
                workers.conns.append(ours)
                workers.devices.append(device)
            workers.expect(STARTED, "starting", self.timeout_s)
            dist.init_process_group(self.backend, store=store, rank=0, world_size=self.world_size, timeout=timeout)
            _Workers.owner = workers
            workers.runtime = ParallelRuntime.from_default_group(self.plan)  # with every worker, in the same order
            workers.expect(READY, f"loading {os.path.basename(self.source.path)}", self.timeout_s)
        except BaseException as error:
            raise self._failed(error, "starting the pool") from error

    def _take_default_group(self) -> None:
        if _Workers.owner is not None:
            _Workers.owner.stop()  # another pool: one default group per process
        if dist.is_initialized():
            raise PoolError(
                "this process already belongs to a torch.distributed group that is not a NAVA pool (another node "
                "pack, or a torchrun launch): the pool needs the default group for itself"
            )

    def stop(self) -> None:
        """Stop the workers and free their devices; the next `sample()` starts them again."""
        self._workers.stop()

    def sample(
        self,
        model,
        conditioning: Conditioning,
        options: SamplingOptions,
        first_frame: torch.Tensor | None = None,
        callback: StepCallback | None = None,
    ) -> AVLatent:
        """`pipeline.sample` on every rank, `model` being rank 0's copy. Whatever `callback` raises (a Cancel)
        stops every rank at that step and is re-raised here, with the pool still running."""
        self.start()
        stopped_by: list[BaseException] = []

        def reporting(*args) -> None:
            try:
                callback(*args)
            except BaseException as error:
                stopped_by.append(error)
                raise

        try:
            self._workers.send(RUN)
            job = broadcast_job(SampleJob(conditioning, options, first_frame))
            latent = run_job(model, job, self._workers.runtime, None if callback is None else reporting)
        except BaseException as error:
            if stopped_by and error is stopped_by[0]:  # every rank stopped at this step: the pool is fine
                self._finish("stopping the run")
                raise
            raise self._failed(error, "sampling") from error
        self._finish("finishing the run")
        return latent

    def _finish(self, doing: str) -> None:
        """Wait until every worker is idle again."""
        try:
            self._workers.expect(DONE, doing, self.timeout_s)
        except PoolError as error:
            raise self._failed(error, doing) from error

    def _failed(self, error: BaseException, doing: str) -> BaseException:
        """Stop the pool after `error` and return what to raise: `error` itself when it is rank 0's own
        (not a collective's), else a PoolError that says which rank failed and how."""
        if isinstance(error, PoolError):
            self._workers.stop(graceful=False)
            message = str(error)
        else:
            account = self._workers.account()
            self._workers.stop(graceful=False)
            if not account and not _is_collective_error(error):
                return error
            account = account or (
                f"no worker failed or exited, so one hangs or is slower than the pool's timeout ({self.timeout_s:g} s)"
            )
            message = f"{account}\n(rank 0 saw {type(error).__name__}: {_first_line(error)})"
        return PoolError(
            f"NAVA worker pool failed while {doing}: {message}\n"
            "The pool was stopped and its devices freed; the next run starts it again."
        )


def _is_collective_error(error: BaseException) -> bool:
    """NCCL raises DistError; gloo raises plain RuntimeErrors that name its own sources."""
    text = str(error).lower()
    return isinstance(error, dist.DistError) or (isinstance(error, RuntimeError) and ("gloo" in text or "nccl" in text))


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""
