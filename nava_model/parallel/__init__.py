"""Several processes for one NAVA job: CFG groups x Ulysses sequence parallel x data-parallel replicas.

`plan.make_plan` checks a layout from numbers alone; `runtime.ParallelRuntime.from_default_group` turns an
initialised process group and a plan into this rank's groups, which `pipeline.sample(parallel=...)` uses.
"""

from .plan import AUTO, ParallelPlan, PlanError, guidance_passes, make_plan
from .runtime import ParallelRuntime, RunCancelled

__all__ = ["AUTO", "ParallelPlan", "ParallelRuntime", "PlanError", "RunCancelled", "guidance_passes", "make_plan"]
