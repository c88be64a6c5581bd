"""The README demo: two synthetic speakers and a T2AV run on the tiny models, no downloads."""

from __future__ import annotations

import math
from pathlib import Path

import torch

DEMO_PROMPT = (
    "Two friends talk on a sunny balcony. The first says <S>Good morning, did you sleep well?<E> "
    "and the second answers <S>Like a log, thank you.<E> Birds sing in the background."
)
DEMO_SAMPLE_RATE = 16000
DEMO_WIDTH, DEMO_HEIGHT, DEMO_FRAMES = 320, 192, 49


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


def run_demo(models_dir: Path, out: Path, steps: int = 8, seed: int = 42) -> Path:
    """Write the tiny models if missing, then generate the demo MP4 (320x192, 49 frames, 48 kHz stereo)."""
    from .components import load_models, make_tiny_models, tiny_models_present
    from .media import write_mp4
    from .options import SamplingOptions
    from .pipeline import decode, encode_conditioning, sample

    if not tiny_models_present(models_dir):
        print(f"writing tiny random-weight models to {models_dir}")
        make_tiny_models(models_dir)
    models = load_models(models_dir)
    voices = [(synthetic_voice(f0, seed=i), DEMO_SAMPLE_RATE) for i, f0 in enumerate((120.0, 210.0))]
    options = SamplingOptions(width=DEMO_WIDTH, height=DEMO_HEIGHT, frames=DEMO_FRAMES, steps=steps, seed=seed)
    conditioning = encode_conditioning(models.text_encoder, models.speaker_encoder, DEMO_PROMPT, voices)
    with torch.no_grad():
        latent = sample(models.mmdit, conditioning, options)
    result = decode(models.video_vae, models.audio_vae, latent)
    return write_mp4(out, result.frames, result.fps, result.waveform, result.sample_rate, {"prompt": DEMO_PROMPT})
