"""Several processes (gloo, CPU, fp32) produce the latents of one process: CFG parallel, Ulysses, both.

One spawned world of 2 ranks and one of 4 run every case; every rank saves its final latents, and each is
compared with the single-process run of the same job (tiny preset with 4 heads, token counts that need
padding: 21 video and 27 audio tokens). A short clip whose last rank under Ulysses 4 holds padding only runs in
fp64, where Ulysses is exact: in fp32 its few rows per rank pick other matmul kernels than one process, and the
rounding, amplified by the guidance, comes close to 1e-5 on such a short clip.
"""

from __future__ import annotations

import pytest
import torch

from nava_model.parallel import RunCancelled
from parallel_world import (
    JOBS,
    KINDS,
    Job,
    decode_latent,
    forward_inputs,
    load,
    plan_for,
    run_world,
    save,
    tiny_mmdit,
    tiny_vae,
)

from nava_model.parallel import ParallelRuntime
from nava_model.vae.wan22.tiling import Tiling

RTOL = 1e-5
# 15 tiles (3 x 5) and 2 tiles (1 x 2) over a 4 x 6 latent: on 4 ranks the second leaves two ranks without a tile
TILINGS = {"many": Tiling(2, 1), "few": Tiling(4, 2)}
CASES_2 = [(job, 2, 1) for job in KINDS] + [(job, 1, 2) for job in KINDS]
CASES_4 = [("t2av", 4, 1), ("ti2av", 4, 1)] + [(job, 1, 4) for job in KINDS] + [(job, 2, 2) for job in KINDS]


class Stop(Exception):
    """What the leader's step callback raises, like ComfyUI's Cancel."""


def _latents(latent) -> dict:
    return {"video": latent.video, "audio": latent.audio}


def _run_cases(rank: int, world_size: int, out_dir, cases) -> None:
    model = tiny_mmdit()
    for job, cfg, sp in cases:
        runtime = ParallelRuntime.from_default_group(plan_for(world_size, cfg, sp))
        save(out_dir, f"{job}-cfg{cfg}-sp{sp}", rank, _latents(JOBS[job].run(model, runtime)))


def _ulysses_forward(rank: int, world_size: int, out_dir) -> None:
    runtime = ParallelRuntime.from_default_group(plan_for(world_size, 1, world_size))
    with torch.no_grad():
        video, audio = tiny_mmdit()(**forward_inputs(), sequence_parallel=runtime.sequence_parallel)
    save(out_dir, f"forward-sp{world_size}", rank, {"video": video, "audio": audio})


def _spread_decodes(rank: int, world_size: int, out_dir) -> None:
    runtime = ParallelRuntime.from_default_group(plan_for(world_size, world_size, 1))
    vae, latent = tiny_vae(), decode_latent()
    for name, tiling in TILINGS.items():
        save(out_dir, f"decode-{name}", rank, {"frames": vae.decode(latent, tiled=tiling, spread=runtime.tiles)})


def world_of_2(rank: int, world_size: int, out_dir) -> None:
    _ulysses_forward(rank, world_size, out_dir)
    _spread_decodes(rank, world_size, out_dir)
    _run_cases(rank, world_size, out_dir, CASES_2)
    _cancel_then_run_again(rank, world_size, out_dir)


def world_of_4(rank: int, world_size: int, out_dir) -> None:
    _ulysses_forward(rank, world_size, out_dir)
    _spread_decodes(rank, world_size, out_dir)
    _run_cases(rank, world_size, out_dir, CASES_4)
    runtime = ParallelRuntime.from_default_group(plan_for(world_size, 1, 4))
    short = JOBS["t2av_short"].run(tiny_mmdit(dtype=torch.float64), runtime)
    save(out_dir, "t2av_short-fp64-sp4", rank, _latents(short))


def _cancel_then_run_again(rank: int, world_size: int, out_dir) -> None:
    """The leader's callback raises after the first of three steps; then the same world runs a job again."""
    model = tiny_mmdit()
    calls = []
    hook = model.register_forward_pre_hook(lambda *_: calls.append(1))
    runtime = ParallelRuntime.from_default_group(plan_for(world_size, 2, 1))

    def cancel(step, total, preview):
        raise Stop(f"cancelled at step {step + 1} of {total}")

    try:
        Job(steps=3).run(model, runtime, callback=cancel)
        outcome = "finished"
    except Stop:
        outcome = "leader stopped"
    except RunCancelled:
        outcome = "stopped by the leader"
    forwards = len(calls)
    hook.remove()
    after = JOBS["t2v"].run(model, runtime)
    save(out_dir, "cancel", rank, {"outcome": outcome, "forwards": forwards, "after": _latents(after)})


@pytest.fixture(scope="module")
def reference():
    model = tiny_mmdit()
    return {name: _latents(JOBS[name].run(model)) for name in KINDS}


@pytest.fixture(scope="module")
def world2(tmp_path_factory):
    out = tmp_path_factory.mktemp("world2")
    run_world(2, out, world_of_2)
    return out


@pytest.fixture(scope="module")
def world4(tmp_path_factory):
    out = tmp_path_factory.mktemp("world4")
    run_world(4, out, world_of_4)
    return out


def assert_same_latents(got: dict, expected: dict) -> None:
    for modality in ("video", "audio"):
        if expected[modality] is None:
            assert got[modality] is None, modality
            continue
        error = (got[modality] - expected[modality]).norm() / expected[modality].norm()
        assert error <= RTOL, f"{modality}: relative error {error:.2e}"


@pytest.mark.parametrize("world", ["world2", "world4"])
def test_one_forward_under_ulysses_with_the_masked_pass_matches_one_process(world, request):
    out, size = request.getfixturevalue(world), int(world[-1])
    with torch.no_grad():
        video, audio = tiny_mmdit()(**forward_inputs())
    for rank in range(size):
        assert_same_latents(load(out, f"forward-sp{size}", rank), {"video": video, "audio": audio})


@pytest.mark.parametrize("job,cfg,sp", CASES_2)
def test_two_ranks_match_one_process(world2, reference, job, cfg, sp):
    for rank in range(2):
        assert_same_latents(load(world2, f"{job}-cfg{cfg}-sp{sp}", rank), reference[job])


@pytest.mark.parametrize("job,cfg,sp", CASES_4)
def test_four_ranks_match_one_process(world4, reference, job, cfg, sp):
    for rank in range(4):
        assert_same_latents(load(world4, f"{job}-cfg{cfg}-sp{sp}", rank), reference[job])


def test_cancel_on_the_leader_stops_every_rank_within_the_step_and_the_next_run_works(world2, reference):
    results = [load(world2, "cancel", rank) for rank in range(2)]
    assert [r["outcome"] for r in results] == ["leader stopped", "stopped by the leader"]
    # CFG 2 on four passes: each rank runs its two passes in one forward per step; all stopped after step 1
    assert [r["forwards"] for r in results] == [1, 1]
    for r in results:
        assert_same_latents(r["after"], reference["t2v"])


@pytest.mark.parametrize("world", ["world2", "world4"])
def test_tiled_decode_spread_over_ranks_gives_every_rank_the_frames_of_one_process(world, request):
    out, size = request.getfixturevalue(world), int(world[-1])
    vae, latent = tiny_vae(), decode_latent()
    for name, tiling in TILINGS.items():
        expected = vae.decode(latent, tiled=tiling)
        for rank in range(size):
            assert torch.equal(load(out, f"decode-{name}", rank)["frames"], expected), (name, rank)


def test_a_rank_holding_only_padding_changes_nothing(world4):
    """6 video and 6 audio tokens on 4 ranks: 2 per rank, the last rank's are padding in both streams."""
    expected = _latents(JOBS["t2av_short"].run(tiny_mmdit(dtype=torch.float64)))
    for rank in range(4):
        got = load(world4, "t2av_short-fp64-sp4", rank)
        for modality in ("video", "audio"):
            torch.testing.assert_close(got[modality], expected[modality], rtol=1e-12, atol=1e-12)
