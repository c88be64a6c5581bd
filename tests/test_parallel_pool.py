"""The worker pool on CPU (gloo, 2 processes, tiny MMDiT): same latents as one process, progress from rank 0,
Cancel and a killed or hung worker, restart and shutdown.

Each pool start spawns a process that imports torch and loads the tiny MMDiT (a few seconds on a busy 2-core
machine), so the runs share one pool where they can.
"""

from __future__ import annotations

import gc
import os
import signal
import time

import pytest
import torch
import torch.distributed as dist

from nava_model.mmdit.loader import load_nava_mmdit
from nava_model.mmdit.model import SpeakerCondition
from nava_model.parallel.plan import PlanError
from nava_model.parallel.pool import PoolError, WorkerPool, parse_devices, pool_plan
from nava_model.parallel.pool_worker import ModelSource
from nava_model.pipeline import Conditioning, SamplingOptions, sample

TIMEOUT_S = 20.0  # the pool's collective timeout in these tests
TEXT_DIM = 64  # the tiny preset's text width
HEADS = 2  # the tiny preset's attention heads
CFG_2 = pool_plan(2, HEADS)  # auto: each rank runs half of a step's guidance passes


def make_pool(path, plan=CFG_2, timeout_s=TIMEOUT_S) -> WorkerPool:
    return WorkerPool(ModelSource(path), ["cpu"] * plan.world_size, plan, timeout_s=timeout_s)


@pytest.fixture(scope="module")
def mmdit_path(tiny_models):
    return str(tiny_models / "nava" / "NAVA.safetensors")


@pytest.fixture(scope="module")
def rank0_model(mmdit_path):
    return load_nava_mmdit(mmdit_path)


@pytest.fixture(scope="module")
def conditioning():
    """Prompt and negatives as the text encoder would give them, and one voice (so the timbre pass runs too)."""
    g = torch.Generator().manual_seed(7)
    text = [torch.randn(1, 512, TEXT_DIM, generator=g) for _ in range(3)]
    voice = SpeakerCondition(embeddings=torch.randn(1, 1, 192, generator=g), positions=torch.tensor([[5]]))
    return Conditioning(*text, speaker=voice)


def options(steps: int = 2) -> SamplingOptions:
    return SamplingOptions(width=64, height=64, frames=5, steps=steps, seed=3)


@pytest.fixture(scope="module")
def reference(rank0_model, conditioning):
    """The single-process run of the same job."""
    with torch.inference_mode():
        return sample(rank0_model, conditioning, options())


@pytest.fixture(scope="module")
def pool(mmdit_path):
    pool = make_pool(mmdit_path)
    yield pool
    pool.stop()


def assert_same_latents(latent, reference):
    """Equal up to float rounding (ranks batch their guidance passes differently): 1e-5 relative, by norm."""
    for got, expected in ((latent.video, reference.video), (latent.audio, reference.audio)):
        assert ((got - expected).norm() / expected.norm()).item() <= 1e-5


def test_pool_gives_the_single_process_latents_with_progress_from_rank_0_and_keeps_its_workers(
    pool, rank0_model, conditioning, reference
):
    calls = []
    latent = pool.sample(rank0_model, conditioning, options(), callback=lambda i, n, x0: calls.append((os.getpid(), i, n)))
    assert_same_latents(latent, reference)
    assert calls == [(os.getpid(), 0, 2), (os.getpid(), 1, 2)]  # every step reported, in this (rank 0's) process
    workers = pool.worker_pids
    assert_same_latents(pool.sample(rank0_model, conditioning, options()), reference)
    assert pool.worker_pids == workers  # the second run found the workers and their weights in place


@pytest.mark.slow
def test_a_ulysses_pool_gives_the_single_process_latents(mmdit_path, rank0_model, conditioning, reference):
    pool = make_pool(mmdit_path, plan=pool_plan(2, HEADS, cfg=1, sp=2))
    try:
        assert_same_latents(pool.sample(rank0_model, conditioning, options()), reference)
    finally:
        pool.stop()


class Cancel(Exception):
    pass


def test_cancel_stops_every_rank_at_the_same_step_and_the_next_run_works(pool, rank0_model, conditioning, reference):
    def cancel_after_first_step(step, total, x0):
        if step == 0:
            raise Cancel()

    pool.start()
    workers = pool.worker_pids
    started = time.monotonic()
    with pytest.raises(Cancel):
        pool.sample(rank0_model, conditioning, options(steps=10), callback=cancel_after_first_step)
    # A worker that went on would wait for rank 0's next step until the timeout and fail the pool.
    assert time.monotonic() - started < TIMEOUT_S
    assert pool.running and pool.worker_pids == workers
    assert_same_latents(pool.sample(rank0_model, conditioning, options()), reference)


def test_a_killed_worker_is_an_error_within_the_timeout_then_the_pool_restarts_and_stops_when_dropped(
    mmdit_path, rank0_model, conditioning, reference
):
    pool = make_pool(mmdit_path)
    pool.start()
    victim = pool.worker_pids[0]

    def kill_worker(step, total, x0):
        if step == 0:
            os.kill(victim, signal.SIGKILL)

    started = time.monotonic()
    with pytest.raises(PoolError, match=r"rank 1 \(cpu, pid \d+\) was killed by signal 9 \(SIGKILL\)") as error:
        pool.sample(rank0_model, conditioning, options(steps=4), callback=kill_worker)
    assert time.monotonic() - started < TIMEOUT_S
    assert "the next run starts it again" in str(error.value)
    assert not pool.running and not dist.is_initialized()

    assert_same_latents(pool.sample(rank0_model, conditioning, options()), reference)
    (restarted,) = pool.worker_pids
    assert restarted != victim

    del pool, error  # as when ComfyUI drops the model (the error's traceback holds the pool too)
    gc.collect()
    with pytest.raises(ProcessLookupError):
        os.kill(restarted, 0)
    assert not dist.is_initialized()


@pytest.mark.slow
def test_a_hung_worker_is_an_error_after_the_timeout(mmdit_path, rank0_model, conditioning):
    timeout = 5.0
    pool = make_pool(mmdit_path, timeout_s=timeout)
    pool.start()
    (worker,) = pool.worker_pids

    def freeze_worker(step, total, x0):
        if step == 0:
            os.kill(worker, signal.SIGSTOP)

    started = time.monotonic()
    with pytest.raises(PoolError, match="hangs or is slower than the pool's timeout"):
        pool.sample(rank0_model, conditioning, options(steps=3), callback=freeze_worker)
    assert time.monotonic() - started < 3 * timeout + 30  # the run's own steps, then one timeout at most
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)  # the frozen worker was killed, its device freed


def test_devices_host_first_gpu_indices_and_cpu_processes():
    cuda = torch.device("cuda", 1)
    assert parse_devices("0, 1,3", cuda, gpu_count=4) == [cuda, torch.device("cuda", 0), torch.device("cuda", 3)]
    assert parse_devices("all", torch.device("cuda", 0), gpu_count=2) == [torch.device("cuda", i) for i in (0, 1)]
    assert parse_devices("cpu,cpu,cpu", torch.device("cpu")) == [torch.device("cpu")] * 3
    assert parse_devices("all", torch.device("cpu"), gpu_count=0) == [torch.device("cpu")]  # runs as one process


@pytest.mark.parametrize(
    "text, host, message",
    [
        ("1,2", "cuda:0", "must include cuda:0"),
        ("0,4", "cuda:0", "sees 4 GPU"),
        ("0,0", "cuda:0", "listed twice"),
        ("gpu0", "cpu", "is not a device"),
        ("", "cpu", "no devices given"),
    ],
)
def test_bad_device_lists_are_refused_with_the_fix(text, host, message):
    with pytest.raises(PoolError, match=message):
        parse_devices(text, torch.device(host), gpu_count=4)


def test_a_pool_refuses_what_its_workers_cannot_load_or_run(mmdit_path):
    with pytest.raises(PoolError, match="all CUDA GPUs or all CPU"):
        WorkerPool(ModelSource(mmdit_path), ["cuda:0", "cpu"], CFG_2)
    with pytest.raises(PoolError, match="weight_dtype auto/bf16/fp16"):
        fp8 = ModelSource(mmdit_path, dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16)
        WorkerPool(fp8, ["cpu", "cpu"], CFG_2)
    with pytest.raises(PoolError, match="at least two devices"):
        WorkerPool(ModelSource(mmdit_path), ["cpu"], pool_plan(1, HEADS))
    with pytest.raises(PoolError, match="does not fit a pool of 3 devices"):
        WorkerPool(ModelSource(mmdit_path), ["cpu"] * 3, CFG_2)


def test_pool_plans_use_every_device_for_one_job():
    assert (pool_plan(2, HEADS).cfg, pool_plan(2, HEADS).sp) == (2, 1)
    assert (pool_plan(8, 24).cfg, pool_plan(8, 24).sp) == (4, 2)  # NAVA's 24 heads on 8 GPUs
    assert (pool_plan(2, HEADS, cfg=1).cfg, pool_plan(2, HEADS, cfg=1).sp) == (1, 2)
    with pytest.raises(PlanError, match="a pool runs one job at a time"):
        pool_plan(4, 24, cfg=2, sp=1)
    with pytest.raises(PlanError, match="does not divide"):
        pool_plan(2, 3, sp=2)


def test_a_pool_does_not_take_over_a_process_group_it_did_not_create(mmdit_path, tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        with pytest.raises(PoolError, match="already belongs to a torch.distributed group"):
            make_pool(mmdit_path).start()
    finally:
        dist.destroy_process_group()
