"""The README demo: two synthetic speakers and a T2AV run on the tiny models, no downloads."""

from __future__ import annotations

import math

import torch

DEMO_PROMPT = (
    "Two friends talk on a sunny balcony. The first says <S>Good morning, did you sleep well?<E> "
    "and the second answers <S>Like a log, thank you.<E> Birds sing in the background."
)
DEMO_SAMPLE_RATE = 16000


def synthetic_voice(f0: float, seconds: float = 2.0, sample_rate: int = DEMO_SAMPLE_RATE, seed: int = 0) -> torch.Tensor:
    """A voiced, vibrato-modulated harmonic tone with a syllable envelope: [1, N] in [-1, 1]."""
    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    pitch = f0 * (1 + 0.03 * torch.sin(2 * math.pi * 5.0 * t))
    phase = 2 * math.pi * torch.cumsum(pitch, 0) / sample_rate
    harmonics = sum(torch.sin(k * phase) / k for k in range(1, 8))
    syllables = 0.5 * (1 - torch.cos(2 * math.pi * 3.0 * t))
    breath = 0.01 * torch.randn(t.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    wave = harmonics * syllables + breath
    return (0.5 * wave / wave.abs().max()).float()[None]
