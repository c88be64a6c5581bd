"""ODE solvers for the flow-matching sampler: UniPC (NAVA's) and Euler.

A solver walks one latent along the sigmas from `flow_sigmas`; NAVA drives the video and the audio
latent with two independent instances on the same schedule. `step(velocity, sample)` takes the
model velocity at the current sigma and returns the latent at the next one.

UniPC (Zhao et al. 2023) in the form NAVA uses: data prediction m = x − σ·v, order 2 with the B(h)
= e^(−h) − 1 variant ("bh2"), a UniC corrector at the start of every step after the first, order 1
on the first step (no history yet) and on the last step, and a final sigma of 0. With α = 1 − σ and
the log signal-to-noise ratio λ = ln α − ln σ, a step from σ_s to σ_t of size h = λ_t − λ_s reads

    x_t = (σ_t/σ_s)·x_s − α_t·φ·(m_s + ρ·D),    φ = e^(−h) − 1,

where D are divided differences of earlier predictions, weighted by the order conditions ρ.
"""

from __future__ import annotations

import math
from typing import Protocol

from torch import Tensor


class Solver(Protocol):
    def step(self, velocity: Tensor, sample: Tensor) -> Tensor:
        """Advance `sample` from the current sigma to the next one; keeps its own index and history."""
        ...


class _Schedule:
    """The sigmas and the position in them, shared by both solvers."""

    def __init__(self, sigmas: Tensor):
        if sigmas.ndim != 1 or sigmas.numel() < 2:
            raise ValueError(f"sigmas must be a 1-D tensor of at least 2 values, got shape {tuple(sigmas.shape)}")
        self.sigmas: list[float] = sigmas.tolist()
        self.index = 0

    @property
    def steps(self) -> int:
        return len(self.sigmas) - 1

    def check_not_finished(self) -> None:
        if self.index >= self.steps:
            raise RuntimeError(f"the solver already took all {self.steps} steps; make a new one for a new sampling run")


class EulerSolver(_Schedule):
    """x_{i+1} = x_i + (σ_{i+1} − σ_i)·v_i."""

    def step(self, velocity: Tensor, sample: Tensor) -> Tensor:
        self.check_not_finished()
        sigma, sigma_next = self.sigmas[self.index], self.sigmas[self.index + 1]
        self.index += 1
        return sample + (sigma_next - sigma) * velocity.to(sample.dtype)


def _log_snr(sigma: float) -> float:
    """λ(σ) = ln(1 − σ) − ln σ, with its limits +∞ at σ = 0 and −∞ at σ = 1."""
    if sigma <= 0:
        return math.inf
    if sigma >= 1:
        return -math.inf
    return math.log1p(-sigma) - math.log(sigma)


class UniPCSolver(_Schedule):
    """Second-order UniPC (bh2) on data predictions, with corrector; one instance per latent."""

    def __init__(self, sigmas: Tensor):
        super().__init__(sigmas)
        self.lambdas = [_log_snr(s) for s in self.sigmas]
        self.predictions: list[Tensor] = []  # m of the last two steps, oldest first
        self.last_sample: Tensor | None = None  # x at the previous step, after its correction
        self.last_order = 0

    def order(self, i: int) -> int:
        """2 once a previous prediction exists, 1 on the first and the last step."""
        return min(2, self.steps - i, i + 1)

    def step(self, velocity: Tensor, sample: Tensor) -> Tensor:
        self.check_not_finished()
        i = self.index
        m = sample - self.sigmas[i] * velocity.to(sample.dtype)
        if i > 0:
            sample = self.correct(sample_prev=self.last_sample, m=m, i=i)
        self.predictions = self.predictions[-1:] + [m]
        self.last_sample = sample
        self.last_order = self.order(i)
        self.index += 1
        return self.predict(sample, i, self.last_order)

    def _coefficients(self, s: int, t: int) -> tuple[float, float, float, float]:
        """σ_t/σ_s, α_t, φ = e^(−h) − 1 and h = λ_t − λ_s for the step s → t (at σ_t = 0: 0, 1, −1, ∞)."""
        h = self.lambdas[t] - self.lambdas[s]
        return self.sigmas[t] / self.sigmas[s], 1 - self.sigmas[t], math.expm1(-h), h

    def _ratio(self, k: int, s: int, h: float) -> float:
        """r = (λ_k − λ_s) / h, the position of an earlier prediction in units of the step."""
        return (self.lambdas[k] - self.lambdas[s]) / h

    def predict(self, x: Tensor, i: int, order: int) -> Tensor:
        """UniP: x_{i+1} from x_i, m_i and (order 2) D = (m_{i−1} − m_i)/r with weight ρ = 1/2."""
        m = self.predictions[-1]
        decay, alpha, phi, h = self._coefficients(i, i + 1)
        if order == 1:
            return decay * x - alpha * phi * m
        d = (self.predictions[-2] - m) / self._ratio(i - 1, i, h)
        return decay * x - alpha * phi * (m + 0.5 * d)

    def correct(self, sample_prev: Tensor, m: Tensor, i: int) -> Tensor:
        """UniC: redo the step i−1 → i of order p = last_order, now also using m_i at the new point."""
        m_prev = self.predictions[-1]
        decay, alpha, phi, h = self._coefficients(i - 1, i)
        if self.last_order == 1:
            return decay * sample_prev - alpha * phi * (m_prev + 0.5 * (m - m_prev))
        # Order 2: ρ solves [[1, 1], [r, 1]]·ρ = b, for D = (m_{i−2} − m_{i−1})/r and for m_i − m_{i−1}.
        r = self._ratio(i - 2, i - 1, h)
        g1 = phi / -h - 1
        g2 = g1 / -h - 0.5
        b1, b2 = g1 / phi, 2 * g2 / phi
        rho_d = (b1 - b2) / (1 - r)
        rho_m = b1 - rho_d
        d = (self.predictions[-2] - m_prev) / r
        return decay * sample_prev - alpha * phi * (m_prev + rho_d * d + rho_m * (m - m_prev))


SOLVERS = {"unipc": UniPCSolver, "euler": EulerSolver}


def make_solver(name: str, sigmas: Tensor) -> Solver:
    """A fresh solver ("unipc" or "euler") over `sigmas` (e.g. from `flow_sigmas`)."""
    try:
        solver_class = SOLVERS[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}; choose one of {sorted(SOLVERS)}") from None
    return solver_class(sigmas.detach())
