"""ReDimNet speaker encoder: parity with IDRnD/ReDimNet, reference-voice preparation, release-file loading."""

import functools
import json
import logging
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from nava_model import dsp
from nava_model.checkpoints import CheckpointError
from nava_model.components import SPEAKER_ENCODER
from nava_model.random_init import state_dict_shapes
from nava_model.speaker.redimnet import (
    ReDimNetConfig,
    ReDimNetSpeakerEncoder,
    SpeakerAudioError,
    load_redimnet,
    reference_clip,
    seeded_state_dict,
)

FIXTURE = Path(__file__).parent / "fixtures" / "redimnet_parity.safetensors"
TOLERANCE = 1e-4  # max |ours - IDRnD| / max |IDRnD|, fp32


def seeded_encoder(config: ReDimNetConfig, seed: int) -> ReDimNetSpeakerEncoder:
    model = ReDimNetSpeakerEncoder(config)
    model.load_state_dict(seeded_state_dict(state_dict_shapes(model), seed))
    return model.eval()


@functools.cache
def parity_fixture() -> tuple[dict[str, torch.Tensor], dict[str, dict], int]:
    """Stored tensors, the configs and the weight seed (the last two in the file's metadata)."""
    with safe_open(FIXTURE, "pt") as handle:
        metadata = handle.metadata()
    return load_file(FIXTURE), json.loads(metadata["configs"]), int(metadata["seed"])


@functools.cache
def parity_model(name: str) -> ReDimNetSpeakerEncoder:
    _, configs, seed = parity_fixture()
    return seeded_encoder(ReDimNetConfig.from_model_config(configs[name]), seed)


@functools.cache
def parity_embeddings(name: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """clip -> (our embedding, IDRnD's) for the fixture's two voices, computed once per config."""
    tensors, _, _ = parity_fixture()
    with torch.no_grad():
        return {clip: (parity_model(name)(tensors[f"audio_{clip}"][None])[0], tensors[f"embedding_{clip}_{name}"])
                for clip in "ab"}


with safe_open(FIXTURE, "pt") as _handle:
    CONFIG_NAMES = list(json.loads(_handle.metadata()["configs"]))  # M, b0, variants, pool_* (one per pooling)


def relative_error(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return ((ours - theirs).abs().max() / theirs.abs().max()).item()


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_embedding_matches_idrnd_redimnet(name):
    ours, theirs = parity_embeddings(name)["a"]
    assert relative_error(ours, theirs) <= TOLERANCE


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_embedding_difference_between_voices_matches_idrnd_redimnet(name):
    # Random weights give embeddings with a large voice-independent part; the difference isolates the rest.
    embeddings = parity_embeddings(name)
    ours = embeddings["a"][0] - embeddings["b"][0]
    theirs = embeddings["a"][1] - embeddings["b"][1]
    assert relative_error(ours, theirs) <= 1e-3


@pytest.mark.parametrize("name", ["variant_fwse", "variant_convnext_relu"])
def test_frame_features_match_idrnd_redimnet(name):
    tensors, _, _ = parity_fixture()
    model = parity_model(name)
    with torch.no_grad():
        ours = model.backbone(model.spec(tensors["audio_b"][None])[:, None])[0]
    assert relative_error(ours, tensors[f"frames_b_{name}"]) <= TOLERANCE


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = SPEAKER_ENCODER.write_tiny(tmp_path_factory.mktemp("models"))
    return path, load_redimnet(path)


def test_default_config_is_redimnet_m_with_4_23m_parameters():
    model = ReDimNetSpeakerEncoder(device="meta")
    assert sum(p.numel() for p in model.parameters()) == 4_234_193


def test_embed_averages_channels_to_mono(tiny):
    _, model = tiny
    stereo = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0)) * 0.1
    assert torch.allclose(model.embed(stereo, 16000), model.embed(stereo.mean(0), 16000), atol=1e-6)


def test_embed_resamples_to_16k(tiny):
    _, model = tiny
    voice = torch.randn(48000, generator=torch.Generator().manual_seed(1)) * 0.1
    assert torch.allclose(model.embed(voice, 48000), model.embed(dsp.resample(voice, 48000, 16000), 16000), atol=1e-6)


def test_embed_returns_one_192_d_vector(tiny):
    _, model = tiny
    assert model.embed(torch.randn(1, 20000) * 0.1, 16000).shape == (192,)


def test_reference_clip_keeps_first_30_seconds():
    voice = torch.randn(35 * 16000) * 0.1
    assert torch.equal(reference_clip(voice, 16000), voice[: 30 * 16000])


def test_reference_clip_zero_pads_to_one_second():
    clip = reference_clip(torch.full((4000,), 0.1), 16000)
    assert clip.shape == (16000,) and clip[4000:].abs().max() == 0


def test_voice_shorter_than_the_one_second_window_gets_a_warning():
    from nava_model.speaker import short_voice_warning

    assert "0.02 s long, shorter than the speaker encoder's 1 s window" in short_voice_warning(320, 16000, "voice_1")
    assert short_voice_warning(48000, 48000) is None and short_voice_warning(47999, 48000) is not None


def test_silent_voice_raises_clear_error(tiny):
    _, model = tiny
    with pytest.raises(SpeakerAudioError, match="silent"):
        model.embed(torch.zeros(2, 32000), 16000)


def test_near_silent_voice_raises_clear_error():
    with pytest.raises(SpeakerAudioError, match="silent"):
        reference_clip(torch.full((16000,), 1e-6), 16000)


def test_empty_voice_raises_clear_error():
    with pytest.raises(SpeakerAudioError, match="no samples"):
        reference_clip(torch.zeros(1, 0), 16000)


def test_non_finite_voice_raises_clear_error():
    with pytest.raises(SpeakerAudioError, match="NaN"):
        reference_clip(torch.tensor([0.1, float("nan"), 0.2]), 16000)


def test_batch_of_one_voice_is_accepted():
    voice = torch.randn(2, 16000) * 0.1
    assert torch.equal(reference_clip(voice[None], 16000), reference_clip(voice, 16000))


def test_batch_of_several_voices_is_refused():
    with pytest.raises(SpeakerAudioError, match="one waveform"):
        reference_clip(torch.zeros(2, 2, 100), 16000)


def test_tiny_file_is_the_release_format(tiny):
    path, _ = tiny
    saved = torch.load(path, weights_only=True)
    assert path.relative_to(path.parents[1]).as_posix() == "audio_encoders/M-vb2+vox2+cnc-ft_mix.pt"
    assert saved["nava_tiny"] is True and saved["model_config"]["embed_dim"] == 192
    assert "spec.torchfbank.2.mel_scale.fb" in saved["state_dict"]


def test_tiny_file_loads_with_a_loud_warning(tiny, caplog):
    path, _ = tiny
    with caplog.at_level(logging.WARNING, logger="nava"):
        load_redimnet(path)
    assert "random-weight" in caplog.text


def _fake_safetensors(path: Path, keys: list[str]) -> Path:
    save_file({key: torch.zeros(2, 2) for key in keys}, str(path))
    return path


WRONG_FILES = {
    "wan22_vae": ["decoder.middle.0.residual.0.gamma", "decoder.upsamples.0.upsamples.0.residual.2.weight"],
    "nava_mmdit": ["backbone.double_blocks.0.self_attn.q.weight", "backbone.patch_embedding_audio.0.weight"],
    "umt5": ["encoder.block.0.layer.0.SelfAttention.q.weight",
             "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"],
    "ltx_audio_vae": ["audio_vae.decoder.conv_in.conv.weight", "vocoder.conv_pre.weight"],
}


@pytest.mark.parametrize("kind", WRONG_FILES)
def test_wrong_component_is_refused_before_loading(tmp_path, kind, no_tensor_read):
    path = _fake_safetensors(tmp_path / f"{kind}.safetensors", WRONG_FILES[kind])
    with pytest.raises(CheckpointError, match="cannot be used as the ReDimNet speaker encoder"):
        load_redimnet(path)


def test_truncated_file_is_refused(tiny, tmp_path):
    path, _ = tiny
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_redimnet(cut)


def test_text_file_named_pt_is_refused(tmp_path):
    path = tmp_path / "ReDimNet-M-vb2+vox2+cnc-ft_mix.pt"
    path.write_text("<html>404: the download failed</html>")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        load_redimnet(path)


def test_file_not_matching_its_model_config_is_refused(tiny, tmp_path, no_tensor_read):
    path, _ = tiny
    saved = torch.load(path, weights_only=True)
    saved["model_config"] = {}  # claims ReDimNet-M, holds the tiny weights
    torch.save(saved, tmp_path / "mislabelled.pt")
    with pytest.raises(CheckpointError, match="does not match"):
        load_redimnet(tmp_path / "mislabelled.pt")


def test_unknown_model_config_option_is_refused():
    with pytest.raises(CheckpointError, match="does not know"):
        ReDimNetConfig.from_model_config({"num_heads": 8})
