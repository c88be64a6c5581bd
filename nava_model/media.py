"""Writing results to disk through PyAV: MP4 (h264 + AAC) and WAV/FLAC.

Every writer encodes into a temporary file beside the target and renames it into place, so an
interrupted or failing write never leaves a half-written file or clobbers an existing one. Files get
the permissions the user's umask gives any new file.

The same frames, sound and metadata always give the same bytes: no creation time is written, and
x264 runs with a fixed thread count and without macroblock-tree rate control, whose output varied
from run to run on the same input (measured: three encodes of one clip under CPU load gave three files).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

AUDIO_CODECS = {".wav": ("wav", "pcm_s16le", "s16"), ".flac": ("flac", "flac", "s16")}
VIDEO_SUFFIX = ".mp4"
# x264 output depends on its thread count, so it is fixed rather than taken from the machine's cores.
X264_PARAMS = "threads=8:mbtree=0"


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.partial{target.suffix}")
    # Created here (O_EXCL: never someone else's file) with mode 0o666, which the umask then narrows.
    os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield temp
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def give_default_permissions(path: str | os.PathLike) -> None:
    """Set the mode a new file gets from the user's umask (for files a library wrote with mode 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def _frames_uint8(frames: torch.Tensor) -> np.ndarray:
    """[T, H, W, 3] float in 0..1 (ComfyUI IMAGE) or uint8 -> contiguous uint8 array."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [T, H, W, 3], got {tuple(frames.shape)}")
    if frames.dtype != torch.uint8:
        frames = (frames.float().clamp(0, 1) * 255).round().to(torch.uint8)
    return frames.cpu().numpy()


def _waveform_2d(waveform: torch.Tensor) -> torch.Tensor:
    """Accept ComfyUI's [1, C, N] or plain [C, N] / [N]; return float32 [C, N] clamped to [-1, 1]."""
    if waveform.ndim == 3:
        if waveform.shape[0] != 1:
            raise ValueError(f"expected one waveform, got a batch of {waveform.shape[0]}")
        waveform = waveform[0]
    if waveform.ndim == 1:
        waveform = waveform[None]
    if waveform.shape[0] not in (1, 2):
        raise ValueError(f"waveform must have 1 or 2 channels, got {waveform.shape[0]}")
    return waveform.detach().float().cpu().clamp(-1, 1)


def _layout(channels: int) -> str:
    return "stereo" if channels == 2 else "mono"


def _encode_audio(container, stream, samples: np.ndarray, sample_rate: int, sample_format: str) -> None:
    """Feed [C, N] samples to `stream` in encoder-sized frames and flush it."""
    if sample_format == "s16":
        samples = (samples * 32767.0).round().astype(np.int16)
        packed = samples.T.reshape(1, -1)  # interleaved
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(packed), format="s16", layout=_layout(samples.shape[0]))
    else:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=_layout(samples.shape[0]))
    frame.sample_rate = sample_rate
    frame.pts = 0
    frame.time_base = Fraction(1, sample_rate)
    for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def write_mp4(
    path: str | os.PathLike,
    frames: torch.Tensor,
    fps: float,
    waveform: torch.Tensor | None = None,
    sample_rate: int = 48000,
    metadata: dict[str, str] | None = None,
    crf: int = 19,
) -> Path:
    """Write h264 video (yuv420p) and, if given, AAC audio cut to the video's duration."""
    pixels = _frames_uint8(frames)
    num_frames, height, width, _ = pixels.shape
    if num_frames == 0:
        raise ValueError("no frames to write")
    if height % 2 or width % 2:
        raise ValueError(f"h264 needs even frame sizes, got {width}x{height}; use a size that is a multiple of 32")
    rate = Fraction(fps).limit_denominator(1001)
    audio = None
    if waveform is not None:
        audio = _waveform_2d(waveform)[:, : round(num_frames / float(rate) * sample_rate)].numpy()

    target = Path(path)
    with atomic_output(target) as temp:
        with av.open(str(temp), mode="w", format="mp4", options={"movflags": "use_metadata_tags"}) as container:
            container.metadata.update(metadata or {})
            video = container.add_stream("libx264", rate=rate)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.options = {"crf": str(crf), "x264-params": X264_PARAMS}
            audio_stream = None
            if audio is not None:
                audio_stream = container.add_stream("aac", rate=sample_rate, layout=_layout(audio.shape[0]))
            for index in range(num_frames):
                frame = av.VideoFrame.from_ndarray(pixels[index], format="rgb24")
                frame.pts = index
                for packet in video.encode(frame):
                    container.mux(packet)
            for packet in video.encode(None):
                container.mux(packet)
            if audio_stream is not None:
                _encode_audio(container, audio_stream, audio, sample_rate, "fltp")
    return target


def write_audio(
    path: str | os.PathLike, waveform: torch.Tensor, sample_rate: int, metadata: dict[str, str] | None = None
) -> Path:
    """Write 16-bit PCM WAV or FLAC, chosen by the file suffix."""
    target = Path(path)
    try:
        container_format, codec, sample_format = AUDIO_CODECS[target.suffix.lower()]
    except KeyError:
        raise ValueError(f"unsupported audio format {target.suffix!r}; use .wav or .flac") from None
    samples = _waveform_2d(waveform).numpy()
    with atomic_output(target) as temp:
        with av.open(str(temp), mode="w", format=container_format) as container:
            container.metadata.update(metadata or {})
            stream = container.add_stream(codec, rate=sample_rate, layout=_layout(samples.shape[0]))
            _encode_audio(container, stream, samples, sample_rate, sample_format)
    return target
