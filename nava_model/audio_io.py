"""Reading audio files (WAV, FLAC, MP3, M4A/AAC, OGG, the audio track of a video...) through PyAV."""

from __future__ import annotations

import math
import os
from pathlib import Path

import av
import numpy as np
import torch
from torch import Tensor


class AudioDecodeError(ValueError):
    """An audio file that cannot be turned into samples."""


def load_audio(path: str | os.PathLike, max_seconds: float | None = None) -> tuple[Tensor, int]:
    """The first audio stream: (waveform [channels, N] float32, nominally in [-1, 1], sample rate).

    `max_seconds` stops decoding after that much audio (a reference voice needs only its first 30 s).
    """
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
        limit = None if max_seconds is None else math.ceil(max_seconds * stream.rate)
        try:
            chunks = _decode_planar_float(container, stream, limit)
        except av.error.FFmpegError as exc:
            raise AudioDecodeError(
                f"{path.name}: the audio stream could not be decoded ({exc}); the file is damaged"
            ) from exc
        sample_rate = stream.rate
    if not chunks or sum(c.shape[1] for c in chunks) == 0:
        raise AudioDecodeError(f"{path.name} contains no audio samples (empty or cut short): record or export it again")
    return torch.from_numpy(np.ascontiguousarray(np.concatenate(chunks, axis=1)[:, :limit])), sample_rate


def _decode_planar_float(container, stream, limit: int | None) -> list[np.ndarray]:
    """Decoded frames as float32 [channels, samples] arrays, whatever the stored sample format, until `limit`."""
    converter = av.AudioResampler(format="fltp", layout=stream.layout, rate=stream.rate)
    chunks, decoded = [], 0
    for frame in container.decode(stream):
        chunks += [f.to_ndarray() for f in converter.resample(frame)]
        decoded += frame.samples
        if limit is not None and decoded >= limit:
            break
    chunks += [f.to_ndarray() for f in converter.resample(None)]
    return [c.astype(np.float32, copy=False) for c in chunks]


def _stream_kinds(container) -> str:
    kinds = sorted({s.type for s in container.streams})
    return ", ".join(kinds) if kinds else "no streams"
