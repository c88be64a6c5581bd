"""NAVA Multi-GPU: gives the MMDiT a pool of worker processes on more devices for the sampler.

ComfyUI's own device stays rank 0: its MMDiT is the loader's, managed by ComfyUI's memory manager as
on one GPU, and the sampler's progress bar, previews and Cancel run there. Each other device gets a
worker process that loads the same file itself and keeps it resident between queued runs. The pool
starts at the first run, restarts after a failure, and stops (freeing its devices) when ComfyUI
unloads the model or drops this node's output, or when ComfyUI exits.
"""

from __future__ import annotations

import dataclasses
import logging
import weakref

from comfy import model_management
from comfy.patcher_extension import CallbacksMP
from comfy_api.latest import io

from nava_model.parallel.plan import AUTO
from nava_model.parallel.pool import DEFAULT_TIMEOUT_S, WorkerPool, parse_devices, pool_plan

from .memory import ModelHandle, expect
from .sockets import LOADERS_CATEGORY, NavaModel

logger = logging.getLogger("nava")
CFG_DEGREES = [AUTO, "1", "2", "3", "4"]  # at most the 4 guidance passes of a step
SP_DEGREES = [AUTO, "1", "2", "3", "4", "6", "8"]  # divisors of NAVA's 24 attention heads


class NAVAMultiGPU(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NAVAMultiGPU",
            display_name="NAVA Multi-GPU",
            category=LOADERS_CATEGORY,
            description="Samples on several GPUs: ComfyUI's GPU runs the sampler as usual (rank 0), each other GPU "
            "gets a worker process that loads the MMDiT itself and keeps it between runs.",
            inputs=[
                NavaModel.Input("model", tooltip="From NAVA MMDiT Loader."),
                io.String.Input(
                    "gpus",
                    default="all",
                    tooltip="all, or GPU indices such as 0,1,2,3 (ComfyUI's own GPU among them: it is rank 0). "
                    "Start ComfyUI without --cuda-device, which hides the other GPUs. On a CPU-only ComfyUI, "
                    "cpu,cpu runs two CPU processes (for testing).",
                ),
                io.Combo.Input(
                    "cfg_parallel",
                    options=CFG_DEGREES,
                    default=AUTO,
                    tooltip="CFG groups: a step's guidance passes spread over this many groups of GPUs, whose only "
                    "traffic is one exchange of velocities per step. auto: as many as the passes allow.",
                ),
                io.Combo.Input(
                    "sequence_parallel",
                    options=SP_DEGREES,
                    default=AUTO,
                    tooltip="Ulysses degree: GPUs sharing one pass's tokens inside a CFG group. cfg_parallel x "
                    "sequence_parallel must be the number of GPUs; auto: the GPUs left over by the CFG groups.",
                ),
                io.Int.Input(
                    "timeout_seconds",
                    default=int(DEFAULT_TIMEOUT_S),
                    min=5,
                    max=3600,
                    tooltip="How long a rank may go silent (dead or hung) before the run fails with an error and "
                    "the pool restarts on the next run. Must exceed the slowest step.",
                ),
            ],
            outputs=[NavaModel.Output(display_name="model")],
        )

    @classmethod
    def execute(
        cls, model, gpus: str, cfg_parallel: str, sequence_parallel: str, timeout_seconds: int
    ) -> io.NodeOutput:
        handle = expect(model, "mmdit")
        if handle.source is None:
            raise ValueError("model must come from NAVA MMDiT Loader (the workers load the same file)")
        devices = parse_devices(gpus, model_management.get_torch_device())
        if len(devices) == 1:
            logger.warning("NAVA Multi-GPU: only %s is available, so the sampler runs on it alone", devices[0])
            return io.NodeOutput(dataclasses.replace(handle, pool=None))
        plan = pool_plan(len(devices), handle.runner.config.num_heads, cfg_parallel, sequence_parallel)
        logger.info("NAVA Multi-GPU: %s on %s", plan.describe(), ", ".join(map(str, devices)))
        pool = WorkerPool(handle.source, devices, plan, timeout_s=timeout_seconds)
        stop_with_model(handle, pool)
        return io.NodeOutput(dataclasses.replace(handle, pool=pool))


def stop_with_model(handle: ModelHandle, pool: WorkerPool) -> None:
    """Stop the pool when ComfyUI unloads rank 0's MMDiT (Unload Models, or evicting it for another model):
    its ModelPatcher's ON_DETACH callbacks then run with unpatch_all=True.

    The callback holds the pool weakly: the pool itself lives as long as this node's output."""
    ref = weakref.ref(pool)

    def stop_pool(patcher, unpatch_all=True) -> None:
        # unpatch_all=False: ComfyUI re-seating a model it keeps (load_models_gpu does that on every run)
        if unpatch_all and (live := ref()) is not None and live.running:
            logger.info("NAVA Multi-GPU: ComfyUI unloaded the MMDiT; stopping the worker pool")
            live.stop()

    handle.patcher.add_callback_with_key(CallbacksMP.ON_DETACH, f"nava_pool_{id(pool)}", stop_pool)
