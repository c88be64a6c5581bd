"""The parallel plan: automatic choices, rank layout, and bad layouts refused before any weights load."""

import pytest

from nava_model import cli
from nava_model.media import write_audio
from nava_model.parallel.plan import ParallelPlan, PlanError, make_plan
from nava_model.parallel.runtime import split_evenly

HEADS = 24  # the released model


@pytest.mark.parametrize(
    "world,passes,expected",
    [
        (1, 4, (1, 1, 1)),
        (2, 4, (2, 1, 1)),
        (4, 4, (4, 1, 1)),
        (8, 4, (4, 2, 1)),  # NAVA's 8-GPU node: every pass in its own group, Ulysses 2 inside
        (8, 3, (2, 4, 1)),  # no voices: 3 passes; 3 does not divide 8
        (6, 4, (3, 2, 1)),
        (16, 4, (4, 4, 1)),
        (2, 2, (2, 1, 1)),  # T2V: c and u
    ],
)
def test_auto_fills_cfg_groups_first_then_ulysses(world, passes, expected):
    plan = make_plan(world, HEADS, passes)
    assert (plan.cfg, plan.sp, plan.replicas) == expected


def test_given_degrees_leave_the_rest_to_data_parallel_replicas():
    assert make_plan(8, HEADS, 4, cfg=2, sp=2) == ParallelPlan(8, 2, 2, 2)
    assert make_plan(8, HEADS, 4, cfg=2, sp="auto") == ParallelPlan(8, 2, 4, 1)
    assert make_plan(8, HEADS, 4, cfg="auto", sp=4) == ParallelPlan(8, 2, 4, 1)
    assert make_plan(3, HEADS, 4, cfg=1, sp=1) == ParallelPlan(3, 1, 1, 3)


@pytest.mark.parametrize(
    "world,passes,given,message",
    [
        (5, 4, {}, "5 ranks cannot be split"),
        (5, 4, {"sp": 5}, "--sp 5 does not divide the model's 24 attention heads: use one of 1, 2, 3, 4, 6, 8, 12, 24"),
        (8, 4, {"cfg": 8}, "more CFG groups than the 4 guidance passes"),
        (8, 4, {"cfg": 3}, "--cfg-parallel 3 does not divide the 8 ranks"),
        (8, 4, {"cfg": 2, "sp": 3}, "--sp 3 does not divide the 8 ranks"),
        (12, 4, {"cfg": 4, "sp": 2}, "= 8 ranks per replica does not divide the 12 ranks"),
        (4, 4, {"sp": "two"}, "--sp must be a positive number or 'auto'"),
        (4, 4, {"cfg": 0}, "--cfg-parallel must be at least 1"),
    ],
)
def test_bad_layouts_are_refused_with_the_fix(world, passes, given, message):
    with pytest.raises(PlanError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_plan(world, HEADS, passes, **given)


def test_ulysses_ranks_are_neighbours_then_cfg_groups_then_replicas():
    plan = ParallelPlan(8, cfg=2, sp=2, replicas=2)
    assert [plan.coordinates(rank) for rank in range(8)] == [
        (0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1),
    ]
    assert plan.sp_ranks(1, 0) == [4, 5]
    assert plan.exchange_ranks(0, 1) == [1, 3]
    assert plan.replica_ranks(1) == [4, 5, 6, 7]


def test_passes_are_shared_in_consecutive_near_equal_parts():
    assert split_evenly(["c", "u", "m", "tu"], 2) == [["c", "u"], ["m", "tu"]]
    assert split_evenly(["c", "u", "m"], 2) == [["c", "u"], ["m"]]
    assert split_evenly(["c", "u"], 4) == [["c"], ["u"], [], []]


@pytest.mark.parametrize(
    "world,flags,voices,message",
    [
        (5, [], 2, "5 ranks cannot be split"),
        (5, ["--sp", "5"], 2, "--sp 5 does not divide the model's 2 attention heads"),
        (8, ["--cfg-parallel", "8"], 2, "more CFG groups than the 4 guidance passes"),
        (1, ["--sp", "2"], 0, "--sp 2 needs 2 or more processes: launch with torchrun"),
    ],
)
def test_cli_refuses_a_bad_plan_before_loading_weights(tiny_models, tmp_path, monkeypatch, capsys, world, flags, voices,
                                                       message):
    import torch

    import nava_model.components

    def no_loading(*args, **kwargs):
        raise AssertionError("weights were loaded before the plan was checked")

    monkeypatch.setattr(nava_model.components, "load_models", no_loading)
    for name, value in {"WORLD_SIZE": world, "RANK": 0, "LOCAL_RANK": 0}.items():
        monkeypatch.setenv(name, str(value))
    voice_args = []
    for number in range(voices):
        noise = 0.1 * torch.randn(1, 24000, generator=torch.Generator().manual_seed(number))
        path = write_audio(tmp_path / f"voice{number}.wav", noise, 16000)
        voice_args += ["--spk-wav", str(path)]
    prompt = "<S>one<E> <S>two<E>" if voices else "rain"
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["generate", "--models", str(tiny_models), "--prompt", prompt, *voice_args, *flags,
                  "--output", str(tmp_path / "out.mp4")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
