"""NAVA Multi-GPU with the ComfyUI stand-ins on CPU (gloo, 2 processes: ComfyUI's rank 0 and one worker)."""

import os

import pytest
import torch
from comfy_stand_in.fixtures import comfy, comfy_tiny, node_class, sampler_widgets  # noqa: F401  (fixtures + helpers)

TIMEOUT_S = 30


def pool_widgets(gpus: str = "cpu,cpu", **changes) -> dict:
    return {"gpus": gpus, "cfg_parallel": "auto", "sequence_parallel": "auto", "timeout_seconds": TIMEOUT_S} | changes


@pytest.fixture(scope="module")
def models(tiny_models, tmp_path_factory):
    """The MMDiT, alone and with a 2-process pool, and the text encoder (loaded once for the module)."""
    from comfy_stand_in import install

    install(tmp_path_factory.mktemp("loaders"), tiny_models)
    import nodes

    nodes.register_model_folders()
    model = nodes.NAVAModelLoader.execute(model_name="NAVA.safetensors", weight_dtype="auto", attention="auto")[0]
    pooled = nodes.NAVAMultiGPU.execute(model=model, **pool_widgets())[0]
    yield {
        "model": model,
        "pooled": pooled,
        "text_encoder": node_class("NAVAUMT5Loader").execute(text_encoder_name="umt5_xxl_fp16.safetensors")[0],
    }
    pooled.pool.stop()


def conditioning(models):
    from nodes import NAVASpeakerSpanPrompt

    prompt = "A street band plays. A man shouts <S>One more time!<E>"
    return NAVASpeakerSpanPrompt.execute(text_encoder=models["text_encoder"], prompt=prompt, negative_prompt="")[0]


def sample(model, cond, **changes):
    from nodes import NAVASampler

    return NAVASampler.execute(model=model, conditioning=cond, **sampler_widgets(**changes))[0]["samples"]


def test_the_pooled_sampler_gives_the_same_latent_with_progress_in_comfyuis_process(comfy_tiny, models):
    import comfy.utils

    cond = conditioning(models)
    alone = sample(models["model"], cond)
    updates = []
    comfy.utils.PROGRESS_BAR_HOOK = lambda value, total, preview: updates.append((os.getpid(), value, total, preview))
    pooled = sample(models["pooled"], cond)
    for a, b in zip(alone.unbind(), pooled.unbind()):  # up to float rounding: 1e-5 relative, by norm
        assert ((b - a).norm() / a.norm()).item() <= 1e-5
    assert [(pid, v, t) for pid, v, t, _ in updates] == [(os.getpid(), 1, 2), (os.getpid(), 2, 2)]
    assert all(p[0] == "JPEG" for *_, p in updates)  # latent previews as on one device
    workers = models["pooled"].pool.worker_pids
    sample(models["pooled"], cond)
    assert models["pooled"].pool.worker_pids == workers  # the queue's next run found the workers loaded


def test_cancel_stops_the_pooled_sampler_within_one_step_and_the_next_run_works(comfy_tiny, models):
    import comfy.model_management
    import comfy.utils

    steps = []

    def cancel_after_first(value, total, preview):
        steps.append(value)
        comfy.model_management.interrupt_current_processing()

    cond = conditioning(models)
    comfy.utils.PROGRESS_BAR_HOOK = cancel_after_first
    with pytest.raises(comfy.model_management.InterruptProcessingException):
        sample(models["pooled"], cond, steps=5)
    assert steps == [1]
    comfy.utils.PROGRESS_BAR_HOOK = None
    workers = models["pooled"].pool.worker_pids
    assert all(part.isfinite().all() for part in sample(models["pooled"], cond).unbind())
    assert models["pooled"].pool.worker_pids == workers


def test_unloading_the_model_stops_the_pool_and_the_next_run_restarts_it(comfy_tiny, models):
    import comfy.model_management

    pool = models["pooled"].pool
    cond = conditioning(models)
    sample(models["pooled"], cond)
    (worker,) = pool.worker_pids
    comfy.model_management.unload_all_models()  # ComfyUI's Unload Models
    assert not pool.running
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)  # the worker exited and its device is free
    sample(models["pooled"], cond)
    assert pool.running and pool.worker_pids != [worker]


def test_one_device_runs_without_a_pool_and_bad_lists_are_refused(comfy, models):
    from nodes import NAVAMultiGPU

    from nava_model.parallel.pool import PoolError

    (alone,) = NAVAMultiGPU.execute(model=models["model"], **pool_widgets("all")).args
    assert alone.pool is None and alone.runner is models["model"].runner  # CPU ComfyUI, 'all': itself alone
    with pytest.raises(PoolError, match="this process sees no GPU"):
        NAVAMultiGPU.execute(model=models["model"], **pool_widgets("0,1"))
    with pytest.raises(TypeError, match="expects NAVA_MODEL"):
        NAVAMultiGPU.execute(model=models["text_encoder"], **pool_widgets())
    with pytest.raises(ValueError, match="a pool runs one job at a time"):  # 1 x 1 of 2 devices
        NAVAMultiGPU.execute(model=models["model"], **pool_widgets(cfg_parallel="1", sequence_parallel="1"))
