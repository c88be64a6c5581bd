"""Sampling: the flow-matching schedule, the ODE solvers and NAVA's factorized guidance."""

from nava_model.sampling.guidance import (
    NEGATIVE_PROMPT_AUDIO,
    NEGATIVE_PROMPT_VIDEO,
    GuidanceInputs,
    GuidanceScales,
    guided_velocity,
)
from nava_model.sampling.schedules import flow_sigmas
from nava_model.sampling.solvers import Solver, make_solver

__all__ = [
    "NEGATIVE_PROMPT_AUDIO",
    "NEGATIVE_PROMPT_VIDEO",
    "GuidanceInputs",
    "GuidanceScales",
    "Solver",
    "flow_sigmas",
    "guided_velocity",
    "make_solver",
]
