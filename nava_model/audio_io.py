"""Reading audio files (WAV, FLAC, MP3, M4A/AAC, OGG, the audio track of a video...) through PyAV."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import torch
from torch import Tensor


class AudioDecodeError(ValueError):
    """An audio file that cannot be turned into samples."""


def load_audio(path: str | os.PathLike) -> tuple[Tensor, int]:
    """All samples of the first audio stream: (waveform [channels, N] float32, nominally in [-1, 1], sample rate)."""
    path = Path(path)
    if not path.is_file():
        raise AudioDecodeError(f"audio file not found: {path}")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise AudioDecodeError(
            f"{path.name} is not an audio file that can be decoded ({exc.strerror or exc}); "
            "give a WAV, FLAC, MP3, M4A or OGG file"
        ) from exc
    with container:
        if not container.streams.audio:
            raise AudioDecodeError(f"{path.name} has no audio stream (it contains {_stream_kinds(container)})")
        stream = container.streams.audio[0]
        try:
            chunks = _decode_planar_float(container, stream)
        except av.error.FFmpegError as exc:
            raise AudioDecodeError(f"{path.name}: the audio stream could not be decoded ({exc}); the file is damaged") from exc
        sample_rate = stream.rate
    if not chunks or sum(c.shape[1] for c in chunks) == 0:
        raise AudioDecodeError(f"{path.name} contains no audio samples (empty or cut short): record or export it again")
    return torch.from_numpy(np.concatenate(chunks, axis=1)), sample_rate


def _decode_planar_float(container, stream) -> list[np.ndarray]:
    """Decoded frames as float32 [channels, samples] arrays, whatever the stored sample format."""
    converter = av.AudioResampler(format="fltp", layout=stream.layout, rate=stream.rate)
    chunks = []
    for frame in container.decode(stream):
        chunks += [f.to_ndarray() for f in converter.resample(frame)]
    chunks += [f.to_ndarray() for f in converter.resample(None)]
    return [c.astype(np.float32, copy=False) for c in chunks]


def _stream_kinds(container) -> str:
    kinds = sorted({s.type for s in container.streams})
    return ", ".join(kinds) if kinds else "no streams"
