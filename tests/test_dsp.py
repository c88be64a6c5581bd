"""nava_model.dsp against torchaudio 2.9 (stored outputs in tests/fixtures/dsp_torchaudio.safetensors; live when
torchaudio is importable). Tolerance: max |ours - torchaudio| / max |torchaudio| <= 1e-4, fp32."""

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from nava_model import dsp

FIXTURE = Path(__file__).parent / "fixtures" / "dsp_torchaudio.safetensors"
TOLERANCE = 1e-4
NO_TORCHAUDIO = "torchaudio is not installed here; the stored fixture covers it"

with safe_open(FIXTURE, "pt") as _handle:  # the generator's argument tables
    _METADATA = _handle.metadata()
FILTERBANKS = json.loads(_METADATA["filterbanks"])  # name -> melscale_fbanks arguments
RESAMPLE_PAIRS = [tuple(pair) for pair in json.loads(_METADATA["resample_pairs"])]


@pytest.fixture(scope="module")
def reference():
    return load_file(FIXTURE)


def relative_error(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    assert ours.shape == theirs.shape
    return ((ours - theirs).abs().max() / theirs.abs().max()).item()


@pytest.mark.parametrize("name", FILTERBANKS)
def test_mel_filterbank_matches_torchaudio(reference, name):
    assert relative_error(dsp.mel_filterbank(*FILTERBANKS[name]), reference[name]) <= TOLERANCE


def test_stft_matches_torchaudio_spectrogram(reference):
    spec = dsp.stft(reference["signal_16k"], n_fft=512, hop_length=160, win_length=400)
    theirs = torch.stack([reference["stft_real"], reference["stft_imag"]], -1)
    assert relative_error(torch.view_as_real(spec), theirs) <= TOLERANCE


def test_mel_spectrogram_matches_torchaudio_redimnet_front_end(reference):
    mel = dsp.mel_spectrogram(reference["signal_16k"], 16000, 512, 160, 400, 72, 20.0, 7600.0, window_fn="hamming")
    assert relative_error(mel, reference["mel_redimnet"]) <= TOLERANCE


def test_mel_spectrogram_matches_torchaudio_ltx_front_end(reference):
    mel = dsp.mel_spectrogram(reference["signal_16k"], 16000, 1024, 160, 1024, 64, 0.0, 8000.0, power=1.0,
                              norm="slaney", mel_scale="slaney")
    assert relative_error(mel, reference["mel_ltx"]) <= TOLERANCE


@pytest.mark.parametrize("orig,new", RESAMPLE_PAIRS)
def test_resample_matches_torchaudio(reference, orig, new):
    ours = dsp.resample(reference[f"resample_in_{orig}_{new}"], orig, new)
    assert relative_error(ours, reference[f"resample_out_{orig}_{new}"]) <= TOLERANCE


@pytest.mark.parametrize("orig,new", RESAMPLE_PAIRS)
def test_resample_matches_live_torchaudio(orig, new):
    torchaudio = pytest.importorskip("torchaudio", reason=NO_TORCHAUDIO)
    x = torch.randn(2, 3, orig // 10, generator=torch.Generator().manual_seed(orig + new))
    assert relative_error(dsp.resample(x, orig, new), torchaudio.functional.resample(x, orig, new)) <= TOLERANCE


@pytest.mark.parametrize("name", FILTERBANKS)
def test_mel_filterbank_matches_live_torchaudio(name):
    torchaudio = pytest.importorskip("torchaudio", reason=NO_TORCHAUDIO)
    args = FILTERBANKS[name]
    assert relative_error(dsp.mel_filterbank(*args), torchaudio.functional.melscale_fbanks(*args)) <= TOLERANCE


def test_mel_spectrogram_matches_live_torchaudio():
    torchaudio = pytest.importorskip("torchaudio", reason=NO_TORCHAUDIO)
    x = torch.randn(2, 8000, generator=torch.Generator().manual_seed(3))
    theirs = torchaudio.transforms.MelSpectrogram(16000, n_fft=512, win_length=400, hop_length=160, f_min=20,
                                                  f_max=7600, n_mels=72, window_fn=torch.hamming_window)(x)
    ours = dsp.mel_spectrogram(x, 16000, 512, 160, 400, 72, 20.0, 7600.0, window_fn="hamming")
    assert relative_error(ours, theirs) <= TOLERANCE


def test_resample_length_is_ceil_of_scaled_length():
    x = torch.randn(1001)
    assert dsp.resample(x, 44100, 16000).shape[-1] == math.ceil(1001 * 16000 / 44100)


def test_resample_keeps_leading_dims():
    assert dsp.resample(torch.randn(2, 3, 480), 48000, 16000).shape == (2, 3, 160)


def test_resample_to_same_rate_returns_input():
    x = torch.randn(100)
    assert dsp.resample(x, 16000, 16000) is x


def test_resample_rejects_non_integer_rates():
    with pytest.raises(ValueError, match="positive integers"):
        dsp.resample(torch.randn(100), 22050.5, 16000)


def test_resample_rejects_integer_waveform():
    with pytest.raises(TypeError, match="floating-point"):
        dsp.resample(torch.zeros(100, dtype=torch.int16), 48000, 16000)


def test_mel_filterbank_rejects_unknown_scale():
    with pytest.raises(ValueError, match="mel_scale"):
        dsp.mel_filterbank(257, 0.0, 8000.0, 64, 16000, mel_scale="bark")


def test_mel_spectrogram_rejects_unknown_window():
    with pytest.raises(ValueError, match="window_fn"):
        dsp.mel_spectrogram(torch.randn(1600), 16000, 512, 160, 400, 72, window_fn="kaiser")
