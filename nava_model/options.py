"""What one generation is asked for: `SamplingOptions`, its defaults (NAVA's) and its choices.

The CLI's argument defaults and the sampler node's widget defaults are read from `DEFAULTS`, so
NAVA's settings are written only here (and the guidance scales in `GuidanceScales`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .latent_space import (
    MODES,
    SIZE_MULTIPLE,
    VIDEO_FPS,
    audio_tokens,
    check_video_size,
    frames_for_duration,
    latent_frames,
)
from .sampling.guidance import GuidanceScales
from .sampling.solvers import SOLVERS

SAMPLERS = tuple(SOLVERS)  # "unipc" (NAVA's) first
DEFAULT_SECONDS = 6.0


@dataclass(frozen=True)
class SamplingOptions:
    """Validated when built: an instance always describes a run NAVA can do."""

    width: int = 1280
    height: int = 704
    frames: int = frames_for_duration(DEFAULT_SECONDS)  # pixel frames, 4k + 1: 145 = 37 latent frames
    steps: int = 50
    seed: int = 42
    shift: float = 5.0
    sampler: str = SAMPLERS[0]
    scales: GuidanceScales = field(default_factory=GuidanceScales)
    mode: str = "av"
    max_batch: int = 4  # guidance passes per model call

    def __post_init__(self) -> None:
        check_video_size(self.width, self.height, self.frames)
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {self.mode!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {list(SAMPLERS)}, got {self.sampler!r}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")

    @property
    def latent_frames(self) -> int:
        return latent_frames(self.frames)

    @property
    def duration(self) -> float:
        return self.frames / VIDEO_FPS

    @property
    def audio_tokens(self) -> int:
        return audio_tokens(self.frames)

    @property
    def joint_tokens(self) -> int:
        """MMDiT tokens per row: video patches (2x2 latent pixels per latent frame) and audio steps of the mode."""
        video = self.latent_frames * (self.height // SIZE_MULTIPLE) * (self.width // SIZE_MULTIPLE)
        return (video if self.mode != "audio" else 0) + (self.audio_tokens if self.mode != "video" else 0)


DEFAULTS = SamplingOptions()
