"""Flow-matching noise schedule with NAVA's timestep shift.

The model is trained on x_σ = (1 − σ)·x0 + σ·ε and predicts the velocity v = ε − x0. Sampling walks
σ from nearly 1 down to 0. The shift S(σ) = s·σ / (1 + (s − 1)·σ) spends more steps at high noise.

NAVA builds Wan's flow UniPC scheduler with `shift=5` and then calls `set_timesteps(N)` without a
shift argument, so the shift is applied twice: once to the 1000-step training grid whose ends
bound the sampling range, and once more to the N-step grid between those ends. `flow_sigmas`
reproduces that, including the float32 rounding of the training grid and the truncation of
σ·1000 to the integer timestep the model sees (for 50 steps the list is NAVA's exactly).
"""

from __future__ import annotations

import torch
from torch import Tensor

NUM_TRAIN_TIMESTEPS = 1000


def shift_sigma(sigma: Tensor, shift: float) -> Tensor:
    """S(σ) = s·σ / (1 + (s − 1)·σ), evaluated in the dtype of `sigma`."""
    return shift * sigma / (1 + (shift - 1) * sigma)


def flow_sigmas(steps: int, shift: float = 5.0) -> tuple[Tensor, Tensor]:
    """Sigmas [steps + 1] (float32, last 0) and model timesteps [steps] (int64, σ·1000 truncated)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not shift > 0:
        raise ValueError(f"shift must be positive, got {shift!r}")

    # Ends of the training grid σ_train = 1 − linspace(1, 1/1000, 1000) (i.e. 0.999 … 0), shifted in float32.
    train_ends = torch.tensor([1.0 - 1.0 / NUM_TRAIN_TIMESTEPS, 0.0], dtype=torch.float32)
    sigma_max, sigma_min = shift_sigma(train_ends, shift).tolist()

    # N points from sigma_max towards sigma_min (the endpoint dropped), shifted again, in float64.
    spacing = (sigma_min - sigma_max) / steps
    sigmas = shift_sigma(torch.arange(steps, dtype=torch.float64) * spacing + sigma_max, shift)

    timesteps = (sigmas * NUM_TRAIN_TIMESTEPS).to(torch.int64)
    sigmas = torch.cat([sigmas, sigmas.new_zeros(1)]).to(torch.float32)
    return sigmas, timesteps
