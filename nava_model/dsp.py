"""Spectral front ends and resampling in plain torch, with torchaudio's conventions.

The speaker encoder and the audio VAE were trained on torchaudio features; these functions give the
same numbers (same filterbank layout, same window defaults, same resampling kernel) so that the pack
never needs torchaudio at run time.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

_WINDOWS = {"hann": torch.hann_window, "hamming": torch.hamming_window}


def stft(
    x: Tensor,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    window: Tensor | None = None,
    center: bool = True,
    pad_mode: str = "reflect",
) -> Tensor:
    """Complex one-sided STFT of `x` [..., N] -> [..., n_fft // 2 + 1, frames].

    `window` defaults to a periodic Hann window of `win_length` (torchaudio's Spectrogram default),
    zero-padded to `n_fft` by torch.stft when shorter.
    """
    win_length = win_length or n_fft
    if window is None:
        window = torch.hann_window(win_length, device=x.device, dtype=x.dtype)
    batch_shape = x.shape[:-1]
    spec = torch.stft(
        x.reshape(-1, x.shape[-1]),
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=window.to(device=x.device, dtype=x.dtype),
        center=center,
        pad_mode=pad_mode,
        onesided=True,
        return_complex=True,
    )
    return spec.reshape(*batch_shape, *spec.shape[-2:])


def hz_to_mel(freq: Tensor, mel_scale: str = "htk") -> Tensor:
    if mel_scale == "htk":
        return 2595.0 * torch.log10(1.0 + freq / 700.0)
    _check_mel_scale(mel_scale)
    # Slaney: linear below 1 kHz (200/3 Hz per mel), logarithmic above (27 mels per factor 6.4).
    linear = freq / _SLANEY_HZ_PER_MEL
    log_part = _SLANEY_BREAK_MEL + torch.log(freq.clamp(min=_SLANEY_BREAK_HZ) / _SLANEY_BREAK_HZ) / _SLANEY_LOG_STEP
    return torch.where(freq >= _SLANEY_BREAK_HZ, log_part, linear)


def mel_to_hz(mel: Tensor, mel_scale: str = "htk") -> Tensor:
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    _check_mel_scale(mel_scale)
    linear = mel * _SLANEY_HZ_PER_MEL
    log_part = _SLANEY_BREAK_HZ * torch.exp(_SLANEY_LOG_STEP * (mel - _SLANEY_BREAK_MEL))
    return torch.where(mel >= _SLANEY_BREAK_MEL, log_part, linear)


_SLANEY_HZ_PER_MEL = 200.0 / 3.0
_SLANEY_BREAK_HZ = 1000.0
_SLANEY_BREAK_MEL = _SLANEY_BREAK_HZ / _SLANEY_HZ_PER_MEL
_SLANEY_LOG_STEP = math.log(6.4) / 27.0


def _check_mel_scale(mel_scale: str) -> None:
    if mel_scale not in ("htk", "slaney"):
        raise ValueError(f"mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")


def mel_filterbank(
    n_freqs: int,
    f_min: float,
    f_max: float,
    n_mels: int,
    sample_rate: int,
    norm: str | None = None,
    mel_scale: str = "htk",
) -> Tensor:
    """Triangular mel filters [n_freqs, n_mels] over the bins 0 .. sample_rate // 2 (torchaudio layout).

    Filter m rises from edge m to edge m + 1 and falls to edge m + 2, the n_mels + 2 edges being equally
    spaced in mel between f_min and f_max. norm="slaney" scales each filter to unit area (2 / width in Hz).
    """
    if norm not in (None, "slaney"):
        raise ValueError(f"norm must be None or 'slaney', got {norm!r}")
    _check_mel_scale(mel_scale)
    bins = torch.linspace(0, sample_rate // 2, n_freqs, dtype=torch.float64)
    mel_edges = torch.linspace(
        float(hz_to_mel(torch.tensor(float(f_min), dtype=torch.float64), mel_scale)),
        float(hz_to_mel(torch.tensor(float(f_max), dtype=torch.float64), mel_scale)),
        n_mels + 2,
        dtype=torch.float64,
    )
    edges = mel_to_hz(mel_edges, mel_scale)
    widths = edges[1:] - edges[:-1]
    offsets = edges[None, :] - bins[:, None]  # [n_freqs, n_mels + 2]
    rising = -offsets[:, :-2] / widths[:-1]
    falling = offsets[:, 2:] / widths[1:]
    filters = torch.clamp(torch.minimum(rising, falling), min=0.0)
    if norm == "slaney":
        filters = filters * (2.0 / (edges[2:] - edges[:-2]))
    return filters.to(torch.float32)


def mel_spectrogram(
    x: Tensor,
    sample_rate: int,
    n_fft: int,
    hop_length: int,
    win_length: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    window_fn: str = "hann",
    power: float = 2.0,
    norm: str | None = None,
    mel_scale: str = "htk",
    center: bool = True,
    pad_mode: str = "reflect",
) -> Tensor:
    """|STFT|^power projected on mel filters: [..., N] -> [..., n_mels, frames] (torchaudio MelSpectrogram)."""
    if window_fn not in _WINDOWS:
        raise ValueError(f"window_fn must be one of {sorted(_WINDOWS)}, got {window_fn!r}")
    window = _WINDOWS[window_fn](win_length, device=x.device, dtype=x.dtype)
    magnitude = stft(x, n_fft, hop_length, win_length, window, center, pad_mode).abs()
    spec = magnitude if power == 1.0 else magnitude.pow(power)
    f_max = float(sample_rate // 2) if f_max is None else f_max
    filters = mel_filterbank(n_fft // 2 + 1, f_min, f_max, n_mels, sample_rate, norm, mel_scale)
    return torch.matmul(spec.transpose(-1, -2), filters.to(device=x.device, dtype=spec.dtype)).transpose(-1, -2)


def resample(
    waveform: Tensor, orig_freq: int, new_freq: int, lowpass_filter_width: int = 6, rolloff: float = 0.99
) -> Tensor:
    """Band-limited resampling of `waveform` [..., N] -> [..., ceil(N * new / orig)] (torchaudio sinc_interp_hann).

    The rates are reduced by their gcd to orig' -> new'; each block of orig' input samples yields new'
    outputs, each a Hann-windowed sinc (cut-off rolloff * min(orig', new') / 2) over the neighbouring inputs.
    """
    if orig_freq <= 0 or new_freq <= 0 or int(orig_freq) != orig_freq or int(new_freq) != new_freq:
        raise ValueError(f"sample rates must be positive integers, got {orig_freq} -> {new_freq}")
    if lowpass_filter_width <= 0:
        raise ValueError(f"lowpass_filter_width must be positive, got {lowpass_filter_width}")
    if not waveform.is_floating_point():
        raise TypeError(f"resample needs a floating-point waveform, got {waveform.dtype}")
    if orig_freq == new_freq:
        return waveform
    gcd = math.gcd(int(orig_freq), int(new_freq))
    orig, new = int(orig_freq) // gcd, int(new_freq) // gcd
    kernel, width = _sinc_kernel(orig, new, lowpass_filter_width, rolloff)
    kernel = kernel.to(device=waveform.device, dtype=waveform.dtype)

    batch_shape, length = waveform.shape[:-1], waveform.shape[-1]
    padded = torch.nn.functional.pad(waveform.reshape(-1, 1, length), (width, width + orig))
    blocks = torch.nn.functional.conv1d(padded, kernel, stride=orig)  # [B, new, blocks]
    out = blocks.transpose(1, 2).reshape(padded.shape[0], -1)
    out_length = math.ceil(new * length / orig)
    return out[:, :out_length].reshape(*batch_shape, -1)


@functools.lru_cache(maxsize=16)
def _sinc_kernel(orig: int, new: int, lowpass_filter_width: int, rolloff: float) -> tuple[Tensor, int]:
    """Filters [new, 1, 2 * width + orig]: row j holds the taps for output phase j of each input block."""
    cutoff = min(orig, new) * rolloff  # in cycles per block of `orig` input samples, times 2
    width = math.ceil(lowpass_filter_width * orig / cutoff)
    taps = torch.arange(-width, width + orig, dtype=torch.float64) / orig
    phases = -torch.arange(new, dtype=torch.float64)[:, None] / new
    t = ((phases + taps) * cutoff).clamp(-lowpass_filter_width, lowpass_filter_width)
    window = torch.cos(t * math.pi / (2 * lowpass_filter_width)) ** 2
    sinc = torch.special.sinc(t)
    kernel = sinc * window * (cutoff / orig)
    return kernel[:, None, :], width
