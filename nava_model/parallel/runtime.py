"""This rank's part in a parallel plan: its process groups, its share of each step's guidance passes,
the per-step exchange of velocities, and the stop flag that carries Cancel to every rank.

Built from an already initialised default process group (torchrun's, or one a worker pool set up),
so the denoising loop never reads launcher environment variables. Every rank of a replica calls the
loop with the same inputs; all ranks then hold identical latents and solver states, and only the
replica's first rank (its *leader*) reports progress and writes files.

Collectives run in the groups' timeout (the default group's, unless given), so a rank that died makes
the others fail with an error instead of waiting forever.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

from .plan import ParallelPlan, PlanError
from .tiles import SpreadTiles
from .ulysses import SequenceParallel

Item = TypeVar("Item")
DEFAULT_TIMEOUT = datetime.timedelta(minutes=10)


class RunCancelled(RuntimeError):
    """Raised on the other ranks of a replica when its leader's step callback stopped the run (Cancel)."""


def split_evenly(items: Sequence[Item], parts: int) -> list[list[Item]]:
    """Consecutive shares whose sizes differ by at most one, larger shares first (some may be empty)."""
    size, extra = divmod(len(items), parts)
    shares, start = [], 0
    for part in range(parts):
        end = start + size + (part < extra)
        shares.append(list(items[start:end]))
        start = end
    return shares


def default_group_timeout() -> datetime.timedelta:
    """The timeout the default process group was created with (torch keeps it on the backend's options)."""
    group = dist.distributed_c10d._get_default_group()
    for device in (torch.device("cpu"), torch.device("cuda")):
        try:
            return group._get_backend(device).options._timeout
        except (RuntimeError, AttributeError):
            continue
    return DEFAULT_TIMEOUT


def collective_device() -> torch.device:
    """Where small control tensors (the stop flag) live: the current CUDA device under NCCL, else the CPU."""
    if "nccl" in str(dist.get_backend()).lower() and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


@dataclass(eq=False)
class ParallelRuntime:
    plan: ParallelPlan
    rank: int
    timeout: datetime.timedelta
    device: torch.device
    replica_group: dist.ProcessGroup | None  # every rank of this replica (None when it is one rank)
    exchange_group: dist.ProcessGroup | None  # one rank per CFG group, same sequence position (None: cfg 1)
    sequence_parallel: SequenceParallel | None  # this rank's Ulysses group (None: sp 1)

    @classmethod
    def from_default_group(
        cls, plan: ParallelPlan, timeout: datetime.timedelta | None = None, device: torch.device | None = None
    ) -> ParallelRuntime:
        """Create this rank's groups. Every rank must call this with the same plan (torch requires every
        process to take part in creating every group, in the same order)."""
        if not dist.is_initialized():
            raise RuntimeError("initialise the default process group first (torchrun, or the worker pool)")
        if dist.get_world_size() != plan.world_size:
            raise PlanError(f"the plan is for {plan.world_size} ranks but the process group has {dist.get_world_size()}")
        timeout = timeout or default_group_timeout()
        rank = dist.get_rank()
        replica, cfg_group, sp_rank = plan.coordinates(rank)

        def groups(rank_lists: list[list[int]]) -> dist.ProcessGroup | None:
            """Create every group of one kind; return the one holding this rank (None for 1-rank groups)."""
            mine = None
            for ranks in rank_lists:
                if len(ranks) == 1:
                    continue
                group = dist.new_group(ranks, timeout=timeout)
                if rank in ranks:
                    mine = group
            return mine

        replicas = range(plan.replicas)
        replica_group = groups([plan.replica_ranks(r) for r in replicas])
        exchange_group = groups([plan.exchange_ranks(r, s) for r in replicas for s in range(plan.sp)])
        sp_group = groups([plan.sp_ranks(r, g) for r in replicas for g in range(plan.cfg)])
        sequence_parallel = None if sp_group is None else SequenceParallel(sp_group, plan.sp, sp_rank)
        return cls(plan, rank, timeout, device or collective_device(), replica_group, exchange_group, sequence_parallel)

    # -- where this rank stands ---------------------------------------------------------------------
    @property
    def replica(self) -> int:
        return self.plan.coordinates(self.rank)[0]

    @property
    def cfg_group(self) -> int:
        return self.plan.coordinates(self.rank)[1]

    @property
    def is_leader(self) -> bool:
        """The replica's first rank: it reports progress and writes this replica's files."""
        return self.plan.coordinates(self.rank)[1:] == (0, 0)

    @property
    def tiles(self) -> SpreadTiles | None:
        """Spreads a tiled VAE decode over this replica's ranks (None when the replica is one rank)."""
        if self.replica_group is None:
            return None
        ranks = self.plan.replica_ranks(self.replica)
        return SpreadTiles(self.replica_group, len(ranks), ranks.index(self.rank), self.device)

    def my_jobs(self, jobs: Sequence[Item]) -> list[Item]:
        """This replica's share of a batch: lines replica, replica + R, replica + 2R, ..."""
        return list(jobs[self.replica :: self.plan.replicas])

    def from_first_rank(self, make: Callable[[], Item]) -> Item:
        """make() run on global rank 0 only; its (picklable) result on every rank."""
        box = [make() if self.rank == 0 else None]
        dist.broadcast_object_list(box, src=0, device=self.device)
        return box[0]

    def bind(self, model: Callable) -> Callable:
        """The model as the guidance passes call it: sequence-parallel inside a Ulysses group."""
        if self.sequence_parallel is None:
            return model
        return functools.partial(model, sequence_parallel=self.sequence_parallel)

    # -- CFG parallel ---------------------------------------------------------------------------------
    def assigned(self, passes: Sequence[Item]) -> list[Item]:
        """The guidance passes this rank's CFG group computes."""
        return split_evenly(passes, self.plan.cfg)[self.cfg_group]

    def gather(
        self,
        velocities: dict[Item, dict[str, Tensor | None]],
        passes: Sequence[Item],
        video: Tensor | None,
        audio: Tensor | None,
    ) -> dict[Item, dict[str, Tensor | None]]:
        """Every pass's velocities on every rank, from each group's own: one all-gather per step.

        `video`/`audio` are the model inputs of the step; velocities have their shapes and dtype.
        """
        if self.exchange_group is None:
            return velocities
        present = [(name, like) for name, like in (("video", video), ("audio", audio)) if like is not None]
        dtype = present[0][1].dtype
        sizes = [like.numel() for _, like in present]
        shares = split_evenly(passes, self.plan.cfg)
        slots = max(len(share) for share in shares)
        local = torch.zeros(slots, sum(sizes), dtype=dtype, device=present[0][1].device)
        for slot, p in enumerate(shares[self.cfg_group]):
            local[slot] = torch.cat([velocities[p][name].to(dtype).reshape(-1) for name, _ in present])
        everyone = local.new_empty(self.plan.cfg * slots, sum(sizes))  # groups stacked along dim 0
        dist.all_gather_single(everyone, local, group=self.exchange_group)
        everyone = everyone.view(self.plan.cfg, slots, -1)
        gathered = {}
        for group, share in enumerate(shares):
            for slot, p in enumerate(share):
                parts = everyone[group, slot].split(sizes)
                gathered[p] = {"video": None, "audio": None}
                gathered[p].update({name: part.view(like.shape) for (name, like), part in zip(present, parts)})
        return gathered

    # -- progress and Cancel ----------------------------------------------------------------------------
    def report_step(self, callback: Callable | None, *args) -> None:
        """Run the step callback on the leader; if it raises (Cancel), every rank of the replica stops now.

        The leader re-raises the callback's exception; the other ranks raise RunCancelled.
        """
        stopped = None
        if self.is_leader and callback is not None:
            try:
                callback(*args)
            except BaseException as exc:  # noqa: BLE001 - any exception stops every rank, then is re-raised
                stopped = exc
        if self.replica_group is not None:
            flag = torch.tensor([stopped is not None], dtype=torch.int32, device=self.device)
            dist.broadcast(flag, group=self.replica_group, group_src=0)
            if stopped is None and bool(flag.item()):
                raise RunCancelled(f"the run was stopped on rank {self.plan.rank_of(self.replica, 0, 0)}")
        if stopped is not None:
            raise stopped
