"""The latents NAVA generates and the arithmetic between pixels, seconds and latent positions.

Video: the Wan2.2 VAE encodes the first frame alone and then every 4 frames into one latent frame,
and 16x16 pixels into one latent pixel of 48 channels; the MMDiT's 2x2 patches make 32 pixels the
size step. Audio: the LTX-2 audio VAE turns 16 kHz audio into 25 latent tokens per second (hop 160,
then 4x in time), each 8 channels x 16 mel rows = 128 features. The audio lasts as long as the video.
"""

from __future__ import annotations

import math

VIDEO_FPS = 24
VIDEO_LATENT_CHANNELS = 48
VIDEO_STRIDE_T, VIDEO_STRIDE_HW = 4, 16
SIZE_MULTIPLE = 2 * VIDEO_STRIDE_HW  # the MMDiT patches 2x2 latent pixels

AUDIO_SAMPLE_RATE = 16000  # what the audio VAE encodes and NAVA's reference writes
AUDIO_LATENT_CHANNELS, AUDIO_LATENT_ROWS = 8, 16  # the audio VAE's latent: channels x mel rows per token
AUDIO_TOKEN_FEATURES = AUDIO_LATENT_CHANNELS * AUDIO_LATENT_ROWS  # 128: one token, patchified
AUDIO_TOKENS_PER_SECOND = 25

# What a run generates, with the words a user picks it by.
MODES = {"av": "audio+video", "video": "video only", "audio": "audio only"}


class VideoSizeError(ValueError):
    """A frame size or frame count the VAE (or the generator) cannot take."""


def latent_frames(frames: int) -> int:
    """Latent frames of `frames` = 4k + 1 pixel frames."""
    return (frames - 1) // VIDEO_STRIDE_T + 1


def pixel_frames(latent_frames: int) -> int:
    return (latent_frames - 1) * VIDEO_STRIDE_T + 1


def frames_for_duration(seconds: float) -> int:
    """Pixel frames (4k + 1) for a duration, as upstream: 6 latent frames per second plus the first."""
    return round(seconds * VIDEO_FPS / VIDEO_STRIDE_T) * VIDEO_STRIDE_T + 1


def audio_tokens(frames: int, fps: float = VIDEO_FPS) -> int:
    """Audio tokens generated beside `frames` pixel frames: ceil(frames / fps * 25), as upstream."""
    if frames < 1 or fps <= 0:
        raise ValueError(f"need at least one frame and fps > 0 (got {frames} frames at {fps} fps)")
    return math.ceil(frames / fps * AUDIO_TOKENS_PER_SECOND)


def _nearest_multiples(value: int, multiple: int) -> str:
    below = max(multiple, value // multiple * multiple)
    return f"{below} or {below + multiple}" if below < value else f"{below}"


def check_video_size(width: int, height: int, frames: int | None = None, multiple: int = SIZE_MULTIPLE) -> None:
    """Raise VideoSizeError unless width/height are positive multiples of `multiple` and frames = 4k + 1.

    `SIZE_MULTIPLE` (32) is the rule for generation; the VAE alone needs `VIDEO_STRIDE_HW` (16).
    """
    for name, value in (("width", width), ("height", height)):
        if value <= 0 or value % multiple:
            raise VideoSizeError(
                f"{name} {value} is not a positive multiple of {multiple}: use {_nearest_multiples(value, multiple)}"
            )
    if frames is not None and (frames < 1 or (frames - 1) % VIDEO_STRIDE_T):
        below = max(1, (frames - 1) // VIDEO_STRIDE_T * VIDEO_STRIDE_T + 1)
        raise VideoSizeError(
            f"{frames} frames is not 4k + 1 (1, 5, 9, ..., 145): use {below} or {below + VIDEO_STRIDE_T} frames"
        )
