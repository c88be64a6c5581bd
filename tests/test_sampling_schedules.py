"""Flow-matching sigmas: NAVA's exact timesteps and the reference scheduler's sigmas."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nava_model.sampling import flow_sigmas

FIXTURE = Path(__file__).parent / "fixtures" / "sampling_solvers.safetensors"

# The 50 integer timesteps NAVA's model sees (init shift 5, then set_timesteps(50)).
NAVA_TIMESTEPS_50 = [
    999, 995, 991, 987, 982, 978, 973, 968, 963, 957, 952, 946, 940, 934, 927, 921, 913, 906, 898, 890,
    882, 873, 864, 854, 844, 833, 821, 809, 797, 783, 769, 753, 737, 720, 701, 681, 660, 637, 612, 585,
    555, 523, 487, 448, 405, 357, 302, 241, 172, 92,
]  # fmt: skip


def test_fifty_step_timesteps_equal_navas_list():
    _, timesteps = flow_sigmas(50, shift=5.0)
    assert timesteps.dtype == torch.int64
    assert timesteps.tolist() == NAVA_TIMESTEPS_50


def test_sigmas_start_below_one_end_at_zero_and_decrease():
    sigmas, timesteps = flow_sigmas(50)
    assert sigmas.dtype == torch.float32 and sigmas.shape == (51,) and timesteps.shape == (50,)
    assert sigmas[0].item() == pytest.approx(0.99996, abs=1e-5)
    assert sigmas[49].item() == pytest.approx(0.092575, abs=1e-6)
    assert sigmas[-1].item() == 0.0
    assert bool((sigmas[1:] < sigmas[:-1]).all())


@pytest.mark.parametrize("steps", [10, 50])
def test_sigmas_and_timesteps_equal_wan_unipc_scheduler_bit_for_bit(steps):
    # Reference: Wan2.2 FlowUniPCMultistepScheduler(shift=5) + set_timesteps(steps), stored in the fixture.
    reference = load_file(FIXTURE)
    sigmas, timesteps = flow_sigmas(steps, shift=5.0)
    assert torch.equal(sigmas, reference[f"steps{steps}.sigmas"])
    assert torch.equal(timesteps, reference[f"steps{steps}.timesteps"])


def test_shift_one_gives_an_unshifted_linear_grid():
    sigmas, _ = flow_sigmas(4, shift=1.0)
    expected = torch.tensor([0.999, 0.999 * 3 / 4, 0.999 / 2, 0.999 / 4, 0.0])
    torch.testing.assert_close(sigmas, expected)


@pytest.mark.parametrize("steps", [0, -3, 2.5, True])
def test_invalid_step_count_is_refused(steps):
    with pytest.raises(ValueError, match="steps"):
        flow_sigmas(steps)


def test_non_positive_shift_is_refused():
    with pytest.raises(ValueError, match="shift"):
        flow_sigmas(10, shift=0.0)
