"""Parity of the LTX-2 audio VAE and vocoders with Lightricks' ltx_core (fixtures in tests/fixtures/ltx_audio_*).

Reference: Lightricks/LTX-2 packages/ltx-core, `ltx_core.model.audio_vae` (AudioEncoder, AudioDecoder,
AudioProcessor with torchaudio, Vocoder, VocoderWithBWE), run outside the repository by
tests/fixtures/ltx_audio_make_fixtures.py. Weights: `seeded_state_dict(seed 0)` over the official keys,
fixed buffers (Kaiser filters, STFT bases, mel basis) at their computed values. fp32, tolerance
max|ours - reference| <= 1e-4 · max|reference| per output.

The reduced-width fixture (release structure, narrower channels) runs always; the release-width one
needs NAVA_LTX_REAL_WIDTH=1 (drawing 182 M seeded weights takes about 20-40 s on two cores).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open

from nava_model.vae.ltx_audio.autoencoder import AudioVaeConfig
from nava_model.vae.ltx_audio.file_layout import VocoderSpec
from nava_model.vae.ltx_audio.model import LtxAudioVAE, seeded_state_dict
from nava_model.vae.ltx_audio.vocoder import HiFiGANVocoder

FIXTURES = Path(__file__).parent / "fixtures"
TOLERANCE = 1e-4
REAL_WIDTH = os.environ.get("NAVA_LTX_REAL_WIDTH") == "1"

WIDTHS = [
    "reduced",
    pytest.param("real", marks=pytest.mark.skipif(
        not REAL_WIDTH, reason="release-width LTX audio parity runs with NAVA_LTX_REAL_WIDTH=1 (slow: 182 M weights)")),
]


class Case:
    def __init__(self, width: str):
        with safe_open(str(FIXTURES / f"ltx_audio_{width}.safetensors"), framework="pt") as handle:
            self.tensors = {key: handle.get_tensor(key) for key in handle.keys()}
            metadata = handle.metadata()
        config = json.loads(metadata["config"])
        seed = int(metadata["seed"])
        self.encode_rate = int(metadata["encode_sample_rate"])
        self.model = LtxAudioVAE(AudioVaeConfig.from_json(config["audio_vae"]), VocoderSpec.from_json(config["vocoder"]))
        weights = seeded_state_dict(self.model, seed)
        self.model.load_state_dict({k.removeprefix("audio_vae."): v for k, v in weights.items()}, strict=True)
        spec = VocoderSpec.from_json(json.loads(metadata["hifigan_config"])["vocoder"])
        self.hifigan = HiFiGANVocoder(spec.generator, spec.sample_rate)
        hifigan_weights = seeded_state_dict(self.hifigan, seed, lambda key: "vocoder." + key)
        self.hifigan.load_state_dict({k.removeprefix("vocoder."): v for k, v in hifigan_weights.items()}, strict=True)

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.tensors[name]


@pytest.fixture(scope="module", params=WIDTHS)
def case(request):
    with torch.no_grad():
        yield Case(request.param)


def assert_matches(ours: torch.Tensor, reference: torch.Tensor) -> None:
    assert ours.shape == reference.shape
    error = (ours - reference).abs().max() / reference.abs().max()
    assert error <= TOLERANCE, f"max relative error {error:.2e} > {TOLERANCE:.0e}"


def test_audio_decoder_matches_ltx_core(case):
    assert_matches(case.model.decode_mel(case["decode.tokens"]), case["decode.mel"])


def test_decode_to_48k_matches_ltx_core(case):
    assert_matches(case.model.decode(case["decode.tokens"]), case["decode.waveform"])


def test_decode_to_16k_matches_nava_post_processing(case):
    assert_matches(case.model.decode(case["decode.tokens"], output_rate=16000), case["decode.waveform_16k"])


def test_encoder_log_mel_matches_ltx_core_audio_processor(case):
    assert_matches(case.model.log_mel(case["encode.waveform"], case.encode_rate), case["encode.mel"])


def test_encode_matches_ltx_core(case):
    assert_matches(case.model.encode(case["encode.waveform"], case.encode_rate), case["encode.tokens"])


def test_bigvgan_generator_matches_ltx_core_before_its_clamp(case):
    assert_matches(case.model.vocoder.vocoder.unbounded(case["vocoder.mel"]), case["vocoder.raw_16k"])


def test_bandwidth_extension_stages_match_ltx_core(case):
    vocoder = case.model.vocoder
    low = vocoder.vocoder(case["vocoder.mel"])
    padded = F.pad(low, (0, -low.shape[-1] % vocoder.bandwidth.hop))
    low_mel = vocoder.mel_stft(padded.flatten(0, 1)).unflatten(0, low.shape[:2])
    assert_matches(low_mel, case["vocoder.low_mel"])
    assert_matches(vocoder.bwe_generator(low_mel.transpose(2, 3)), case["vocoder.residual"])
    assert_matches(vocoder.resampler(padded), case["vocoder.skip"])


def test_vocoder_with_bwe_matches_ltx_core(case):
    assert_matches(case.model.vocoder(case["vocoder.mel"]), case["vocoder.waveform"])


def test_ltx20_hifigan_matches_ltx_core(case):
    assert_matches(case.hifigan(case["vocoder.mel"]), case["hifigan.waveform"])
