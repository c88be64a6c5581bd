"""How a world of N ranks splits into data-parallel replicas, CFG groups and Ulysses ranks.

    rank = replica · (cfg · sp) + cfg_group · sp + sp_rank

Sequence-parallel ranks are neighbours (their all-to-all is the heaviest traffic, so it stays on the
fastest links of a node), the CFG groups of a replica come next (one exchange of velocities per
step), and replicas are outermost (they never talk while sampling, so they may span nodes).

A plan is checked from numbers alone (world size, attention heads, guidance passes), before any
weights load.
"""

from __future__ import annotations

from dataclasses import dataclass

AUTO = "auto"


class PlanError(ValueError):
    """A parallel layout that cannot run; the message names the fix."""


@dataclass(frozen=True)
class ParallelPlan:
    world_size: int
    cfg: int  # CFG groups per replica: each runs its share of a step's guidance passes
    sp: int  # Ulysses degree: ranks sharing one pass's token sequence
    replicas: int  # data-parallel copies, each sampling different batch lines

    def __post_init__(self) -> None:
        if min(self.world_size, self.cfg, self.sp, self.replicas) < 1:
            raise PlanError(f"every degree of a parallel plan must be at least 1, got {self}")
        if self.replicas * self.cfg * self.sp != self.world_size:
            raise PlanError(
                f"{self.replicas} replicas x {self.cfg} CFG groups x {self.sp} Ulysses ranks "
                f"is not the world size {self.world_size}"
            )

    @property
    def replica_size(self) -> int:
        return self.cfg * self.sp

    def coordinates(self, rank: int) -> tuple[int, int, int]:
        """(replica, cfg_group, sp_rank) of a global rank."""
        if not 0 <= rank < self.world_size:
            raise PlanError(f"rank {rank} is outside a world of {self.world_size}")
        replica, inside = divmod(rank, self.replica_size)
        cfg_group, sp_rank = divmod(inside, self.sp)
        return replica, cfg_group, sp_rank

    def rank_of(self, replica: int, cfg_group: int, sp_rank: int) -> int:
        return replica * self.replica_size + cfg_group * self.sp + sp_rank

    def replica_ranks(self, replica: int) -> list[int]:
        return [self.rank_of(replica, g, s) for g in range(self.cfg) for s in range(self.sp)]

    def sp_ranks(self, replica: int, cfg_group: int) -> list[int]:
        """The ranks that share one pass's tokens (one Ulysses group)."""
        return [self.rank_of(replica, cfg_group, s) for s in range(self.sp)]

    def exchange_ranks(self, replica: int, sp_rank: int) -> list[int]:
        """One rank of each CFG group of a replica: they swap their passes' velocities every step."""
        return [self.rank_of(replica, g, sp_rank) for g in range(self.cfg)]

    def describe(self) -> str:
        return (f"{self.world_size} ranks = {self.replicas} replica(s) x {self.cfg} CFG group(s) "
                f"x Ulysses {self.sp}")


def parse_degree(value: int | str, flag: str) -> int | None:
    """None for auto, else a positive int."""
    if value == AUTO or value is None:
        return None
    try:
        degree = int(value)
    except (TypeError, ValueError):
        raise PlanError(f"{flag} must be a positive number or 'auto', got {value!r}") from None
    if degree < 1:
        raise PlanError(f"{flag} must be at least 1, got {degree}")
    return degree


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def make_plan(world_size: int, num_heads: int, passes: int, cfg: int | str = AUTO, sp: int | str = AUTO) -> ParallelPlan:
    """The plan for `world_size` ranks, a model with `num_heads` attention heads and `passes` guidance passes
    per step (the most any job of the run needs).

    auto: as many CFG groups as there are passes and divide the ranks, the rest Ulysses. Ranks that the
    given degrees leave over become data-parallel replicas (e.g. 8 ranks, --cfg-parallel 2 --sp 2: 2 replicas).
    """
    if world_size < 1:
        raise PlanError(f"the world size must be at least 1, got {world_size}")
    if passes < 1:
        raise PlanError(f"a step has at least one guidance pass, got {passes}")
    cfg_degree, sp_degree = parse_degree(cfg, "--cfg-parallel"), parse_degree(sp, "--sp")

    if cfg_degree is not None and cfg_degree > passes:
        raise PlanError(
            f"--cfg-parallel {cfg_degree} asks for more CFG groups than the {passes} guidance passes of a step: "
            f"use at most {passes} (the rest of the ranks can go to --sp)"
        )
    if sp_degree is not None and num_heads % sp_degree:
        usable = ", ".join(str(d) for d in _divisors(num_heads))
        raise PlanError(f"--sp {sp_degree} does not divide the model's {num_heads} attention heads: use one of {usable}")
    for degree, flag in ((cfg_degree, "--cfg-parallel"), (sp_degree, "--sp")):
        if degree is not None and world_size % degree:
            raise PlanError(f"{flag} {degree} does not divide the {world_size} ranks: launch a multiple of {degree} "
                            f"processes or choose a degree that divides {world_size}")

    if cfg_degree is None:
        if sp_degree is None:  # both auto: the most CFG groups whose remaining ranks make a valid Ulysses degree
            fits = [d for d in _divisors(world_size) if d <= passes and num_heads % (world_size // d) == 0]
            if not fits:
                raise PlanError(_no_split_message(world_size, num_heads, passes))
            cfg_degree = max(fits)
        else:
            cfg_degree = max(d for d in _divisors(world_size // sp_degree) if d <= passes)
    if sp_degree is None:
        sp_degree = world_size // cfg_degree
        if num_heads % sp_degree:
            raise PlanError(_no_split_message(world_size, num_heads, passes, cfg_degree))

    if world_size % (cfg_degree * sp_degree):
        raise PlanError(
            f"{cfg_degree} CFG groups x Ulysses {sp_degree} = {cfg_degree * sp_degree} ranks per replica does not "
            f"divide the {world_size} ranks: launch a multiple of {cfg_degree * sp_degree} processes"
        )
    return ParallelPlan(world_size, cfg_degree, sp_degree, world_size // (cfg_degree * sp_degree))


def guidance_passes(options, has_voices: bool) -> int:
    """Passes per step of a job with these SamplingOptions (c, u, m, tu minus those its scales turn off)."""
    from ..sampling.guidance import guidance_terms, needed_passes

    terms = guidance_terms(options.scales, options.mode != "audio", options.mode != "video", has_voices)
    return len(needed_passes(terms))


def _no_split_message(world_size: int, num_heads: int, passes: int, cfg: int | None = None) -> str:
    fixed = f" with {cfg} CFG groups" if cfg is not None else ""
    return (
        f"{world_size} ranks cannot be split{fixed} into CFG groups (at most {passes}, the passes of a step) "
        f"times a Ulysses degree that divides the {num_heads} attention heads: launch a different number of "
        f"processes, or give --cfg-parallel and --sp whose product divides {world_size} (the rest become "
        f"data-parallel replicas for a --prompt-file)"
    )
