"""ReDimNet's log-mel front end (its `MelBanks` with feat_type "pt"), computed through nava_model.dsp."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .. import dsp


@dataclass(frozen=True)
class MelFrontEndConfig:
    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    f_min: float = 20.0
    f_max: float = 7600.0
    n_mels: int = 72
    norm_signal: bool = False
    do_preemph: bool = True
    spec_norm: str = "mn"  # "mn": mean over time removed per bin; "mvn": also divided by the std; "bn": BatchNorm1d


    def __post_init__(self):
        if self.spec_norm not in ("mn", "mvn", "bn"):
            raise ValueError(f"unknown ReDimNet spec_norm {self.spec_norm!r} (expected 'mn', 'mvn' or 'bn')")


PREEMPHASIS = 0.97


class MelFrontEnd(nn.Module):
    """waveform [B, N] at 16 kHz -> normalised log-mel features [B, n_mels, frames], always in fp32."""

    def __init__(self, config: MelFrontEndConfig, device=None, dtype=None):
        super().__init__()
        self.config = config
        # "bn" is the only variant with learned state (key `spec.spec_norm.*`).
        self.spec_norm = nn.BatchNorm1d(config.n_mels, device=device, dtype=dtype) if config.spec_norm == "bn" else None

    def forward(self, waveform: Tensor) -> Tensor:
        cfg = self.config
        x = waveform.float()
        if cfg.norm_signal:
            x = (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True, unbiased=False) + 1e-6)
        if cfg.do_preemph:
            x = pre_emphasis(x)
        mel = dsp.mel_spectrogram(
            x, cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.win_length, cfg.n_mels,
            f_min=cfg.f_min, f_max=cfg.f_max, window_fn="hamming", power=2.0,
        )
        features = torch.log(mel + 1e-6)
        if cfg.spec_norm == "mn":
            return features - features.mean(-1, keepdim=True)
        if cfg.spec_norm == "mvn":
            centred = features - features.mean(-1, keepdim=True)
            return centred / (features.std(-1, keepdim=True) + 1e-8)
        return self.spec_norm(features.to(self.spec_norm.weight.dtype)).float()


def pre_emphasis(x: Tensor, coef: float = PREEMPHASIS) -> Tensor:
    """y[n] = x[n] - coef * x[n-1], with x[-1] taken as x[1] (reflection, as ReDimNet pads)."""
    previous = torch.cat([x[..., 1:2], x[..., :-1]], dim=-1)
    return x - coef * previous
