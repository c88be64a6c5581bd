"""UniPC and Euler against the reference schedulers on a seeded trajectory of a fixed linear field."""

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nava_model.sampling import flow_sigmas, make_solver

FIXTURE = Path(__file__).parent / "fixtures" / "sampling_solvers.safetensors"
TOLERANCE = 1e-5  # max |ours − reference| relative to max |reference|, fp32
STORED_STATES = {10: range(1, 11), 50: [1, 2, 3, 4, 25, 48, 49, 50]}


def field(sigma: float, x, a, b):
    """The fixture's "model": v = a ⊙ x + b ⊙ cos(π·σ/2)."""
    return a * x + b * math.cos(math.pi * sigma / 2)


def run(solver_name: str, steps: int, a, b, x):
    sigmas, _ = flow_sigmas(steps)
    solver = make_solver(solver_name, sigmas)
    states = [x]
    for i in range(steps):
        x = solver.step(field(sigmas[i].item(), x, a, b), x)
        states.append(x)
    return states


@pytest.mark.parametrize("solver_name", ["unipc", "euler"])
@pytest.mark.parametrize("steps", [10, 50])
def test_trajectory_matches_reference_scheduler(solver_name, steps):
    # Reference: Wan2.2 FlowUniPCMultistepScheduler (NAVA's configuration) and diffusers'
    # FlowMatchEulerDiscreteScheduler, one instance per modality (tests/fixtures/sampling_solvers.md).
    reference = load_file(FIXTURE)
    for modality in ("video", "audio"):
        a, b, x0 = (reference[f"{modality}.{k}"] for k in ("a", "b", "x0"))
        states = run(solver_name, steps, a, b, x0)
        for i in STORED_STATES[steps]:
            expected = reference[f"steps{steps}.{solver_name}.{modality}.{i}"]
            error = (states[i] - expected).abs().max() / expected.abs().max()
            assert error <= TOLERANCE, f"{modality} state {i}: relative error {error:.2e}"


def test_euler_step_is_x_plus_sigma_difference_times_velocity():
    sigmas = torch.tensor([0.9, 0.6, 0.0])
    solver = make_solver("euler", sigmas)
    x, v = torch.full((3,), 2.0), torch.tensor([1.0, -1.0, 0.5])
    x1 = solver.step(v, x)
    torch.testing.assert_close(x1, x + (0.6 - 0.9) * v)
    torch.testing.assert_close(solver.step(v, x1), x1 + (0.0 - 0.6) * v)


def test_unipc_last_step_lands_on_the_data_prediction():
    sigmas, _ = flow_sigmas(3)
    solver = make_solver("unipc", sigmas)
    x = torch.randn(4, generator=torch.Generator().manual_seed(0))
    for _ in range(2):
        x = solver.step(0.5 * x, x)
    v = torch.tensor([1.0, 2.0, 3.0, 4.0])
    torch.testing.assert_close(solver.step(v, x), x - sigmas[2].item() * v)


def test_unipc_single_step_is_the_data_prediction():
    sigmas, _ = flow_sigmas(1)
    x, v = torch.ones(2), torch.tensor([0.5, -0.5])
    torch.testing.assert_close(make_solver("unipc", sigmas).step(v, x), x - sigmas[0].item() * v)


def test_solvers_keep_separate_state_per_instance():
    sigmas, _ = flow_sigmas(6)
    a, b = torch.linspace(-0.3, 0.3, 5), torch.ones(5)
    alone = run("unipc", 6, a, b, torch.zeros(5))[-1]
    first, second = make_solver("unipc", sigmas), make_solver("unipc", sigmas)
    x, y = torch.zeros(5), torch.randn(7, generator=torch.Generator().manual_seed(1))
    for i in range(6):
        x = first.step(field(sigmas[i].item(), x, a, b), x)
        y = second.step(-y, y)  # interleaved with an unrelated latent
    torch.testing.assert_close(x, alone)


@pytest.mark.parametrize("solver_name", ["unipc", "euler"])
def test_stepping_past_the_last_sigma_is_refused(solver_name):
    solver = make_solver(solver_name, flow_sigmas(2)[0])
    x = torch.zeros(3)
    for _ in range(2):
        x = solver.step(torch.ones(3), x)
    with pytest.raises(RuntimeError, match="already took all 2 steps"):
        solver.step(torch.ones(3), x)


def test_unknown_solver_name_lists_the_choices():
    with pytest.raises(ValueError, match="euler.*unipc"):
        make_solver("dpm++", flow_sigmas(4)[0])
