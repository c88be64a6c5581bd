"""LTX-2 audio VAE + vocoder: API, length rules, file layouts and refusal of wrong files (tiny widths)."""

from __future__ import annotations

import json
import logging
import math
from contextlib import contextmanager

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from nava_model import dsp
from nava_model.checkpoints import Checkpoint, CheckpointError
from nava_model.components import AUDIO_VAE
from nava_model.latent_space import audio_tokens, pixel_frames
from nava_model.vae.ltx_audio import model as ltx_audio
from nava_model.vae.ltx_audio.autoencoder import AudioVaeConfig
from nava_model.vae.ltx_audio.file_layout import VocoderSpec, file_name
from nava_model.vae.ltx_audio.model import (
    LTX20_VOCODER,
    LTX23_VOCODER,
    TINY_VAE,
    LtxAudioVAE,
    file_config,
    load_ltx_audio_vae,
    seeded_state_dict,
)
from nava_model.vae.ltx_audio.vocoder import GeneratorConfig, HiFiGANVocoder, VocoderWithBWE


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return AUDIO_VAE.write_tiny(tmp_path_factory.mktemp("models"), seed=0)


@pytest.fixture(scope="module")
def tiny(tiny_path):
    return load_ltx_audio_vae(tiny_path)


@pytest.fixture(scope="module")
def tiny_weights(tiny_path):
    with safe_open(str(tiny_path), framework="pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}, handle.metadata()


def latent(tokens: int, seed: int = 0, batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, tokens, 128, generator=torch.Generator().manual_seed(seed))


def save(path, weights, metadata=None):
    save_file({k: v.contiguous() for k, v in weights.items()}, str(path), metadata=metadata)
    return path


def test_tiny_file_uses_official_names_and_release_config(tiny_weights, tiny_path):
    weights, metadata = tiny_weights
    assert tiny_path.name == "ltx-2.3-22b-dev_audio_vae.safetensors" and tiny_path.parent.name == "vae"
    assert all(k.startswith(("audio_vae.", "vocoder.")) for k in weights)
    assert weights["audio_vae.per_channel_statistics.mean-of-means"].shape == (128,)
    assert weights["vocoder.mel_stft.stft_fn.forward_basis"].shape == (514, 1, 512)
    assert weights["vocoder.mel_stft.mel_basis"].shape == (64, 257)
    config = json.loads(metadata["config"])
    assert config["audio_vae"]["model"]["params"]["ddconfig"]["z_channels"] == 8
    assert config["vocoder"]["bwe"]["output_sampling_rate"] == 48000
    assert metadata["nava_tiny"] == "true"


def test_tiny_file_loading_warns_loudly(tiny_path, caplog):
    with caplog.at_level(logging.WARNING, logger="nava"):
        load_ltx_audio_vae(tiny_path)
    assert "tiny" in caplog.text


def test_tiny_file_is_the_23_bwe_vocoder_at_48k(tiny):
    assert isinstance(tiny.vocoder, VocoderWithBWE)
    assert tiny.sample_rate == 48000


def test_decode_gives_stereo_of_4L_minus_3_mel_frames(tiny):
    tokens = 5
    waveform = tiny.decode(latent(tokens))
    assert waveform.shape == (1, 2, (4 * tokens - 3) * 480)
    assert waveform.abs().max() <= 1.0


def test_decode_mel_has_4L_minus_3_frames_of_64_bins(tiny):
    assert tiny.decode_mel(latent(6, batch=2)).shape == (2, 2, 21, 64)


def test_decode_at_16k_is_resampled_native_clamped_to_099(tiny):
    z = latent(4)
    native = tiny.decode(z)
    nava = tiny.decode(z, output_rate=16000)
    expected = dsp.resample(native, 48000, 16000).clamp(-0.99, 0.99)
    assert nava.shape == (1, 2, 13 * 160)
    torch.testing.assert_close(nava, expected)


def test_decode_is_causal_in_time(tiny):
    z = latent(6)
    changed = z.clone()
    changed[:, 4:] += 1.0
    a, b = tiny.decode_mel(z), tiny.decode_mel(changed)
    # latent i reaches mel frames >= 4i - 3
    torch.testing.assert_close(a[:, :, : 4 * 4 - 3], b[:, :, : 4 * 4 - 3])
    assert not torch.allclose(a, b)


def test_encode_gives_ceil_mel_frames_over_4_tokens(tiny):
    samples = 16000
    waveform = torch.randn(1, 2, samples, generator=torch.Generator().manual_seed(1)) * 0.1
    tokens = tiny.encode(waveform, 16000)
    assert tokens.shape == (1, math.ceil((1 + samples // 160) / 4), 128)
    assert tokens.shape[1] == 26


def test_encode_resamples_and_duplicates_mono(tiny):
    mono = torch.randn(1, 1, 24000, generator=torch.Generator().manual_seed(2)) * 0.1
    stereo_16k = dsp.resample(mono, 48000, 16000).expand(-1, 2, -1)
    torch.testing.assert_close(tiny.encode(mono, 48000), tiny.encode(stereo_16k, 16000))


@pytest.mark.parametrize("frames, tokens", [(37, 152), (10, 39), (31, 127), (13, 52), (1, 2)])
def test_audio_length_follows_nava(frames, tokens):
    """Upstream's rule for F video latent frames: ceil(((F - 1) * 4 + 1) / 24 * 25) tokens."""
    assert audio_tokens(pixel_frames(frames)) == tokens


def test_audio_length_rejects_zero_frames():
    with pytest.raises(ValueError, match="at least one"):
        audio_tokens(0)


def test_decode_rejects_wrong_token_width(tiny):
    with pytest.raises(ValueError, match=r"\[batch, tokens >= 1, 128\]"):
        tiny.decode(torch.zeros(1, 5, 64))


def test_decode_rejects_bad_output_rate(tiny):
    with pytest.raises(ValueError, match="output_rate"):
        tiny.decode(latent(2), output_rate=-1)


def test_encode_rejects_audio_shorter_than_half_a_window(tiny):
    with pytest.raises(ValueError, match="too short"):
        tiny.encode(torch.zeros(1, 2, 100), 16000)


def test_encode_rejects_wrong_channel_count(tiny):
    with pytest.raises(ValueError, match="channels"):
        tiny.encode(torch.zeros(1, 3, 16000), 16000)


# --- the release layout (built on the meta device) -------------------------------------------------


@pytest.fixture(scope="module")
def release_shapes():
    with torch.device("meta"):
        ltx23 = LtxAudioVAE(AudioVaeConfig(), LTX23_VOCODER)
        ltx20 = LtxAudioVAE(AudioVaeConfig(), LTX20_VOCODER)
    return ({file_name(k): tuple(v.shape) for k, v in ltx23.state_dict().items()},
            {file_name(k): tuple(v.shape) for k, v in ltx20.state_dict().items()})


def count(shapes, prefix):
    keys = [k for k in shapes if k.startswith(prefix)]
    return len(keys), sum(math.prod(shapes[k]) for k in keys)


def test_release_audio_vae_has_the_official_tensor_counts(release_shapes):
    shapes, _ = release_shapes
    assert count(shapes, "audio_vae.encoder.") == (44, 21_333_008)
    assert count(shapes, "audio_vae.decoder.") == (56, 31_915_138)
    assert count(shapes, "audio_vae.per_channel_statistics.") == (2, 256)


def test_release_vocoders_have_the_official_tensor_counts(release_shapes):
    ltx23, ltx20 = release_shapes
    assert count(ltx23, "vocoder.") == (1227, 129_085_032)
    assert count(ltx20, "vocoder.") == (194, 55_592_802)


@pytest.mark.parametrize("key, shape", [
    ("audio_vae.encoder.conv_in.conv.weight", (128, 2, 3, 3)),
    ("audio_vae.encoder.down.1.block.0.nin_shortcut.conv.weight", (256, 128, 1, 1)),
    ("audio_vae.encoder.down.0.downsample.conv.weight", (128, 128, 3, 3)),
    ("audio_vae.encoder.conv_out.conv.weight", (16, 512, 3, 3)),
    ("audio_vae.decoder.conv_in.conv.weight", (512, 8, 3, 3)),
    ("audio_vae.decoder.up.1.upsample.conv.conv.weight", (256, 256, 3, 3)),
    ("audio_vae.decoder.conv_out.conv.weight", (2, 128, 3, 3)),
    ("vocoder.vocoder.conv_pre.weight", (1536, 128, 7)),
    ("vocoder.vocoder.resblocks.17.acts1.0.upsample.filter", (1, 1, 12)),
    ("vocoder.vocoder.resblocks.17.acts2.2.downsample.lowpass.filter", (1, 1, 12)),
    ("vocoder.vocoder.act_post.act.beta", (24,)),
    ("vocoder.vocoder.conv_post.weight", (2, 24, 7)),
    ("vocoder.bwe_generator.conv_pre.weight", (512, 128, 7)),
    ("vocoder.bwe_generator.conv_post.weight", (2, 16, 7)),
    ("vocoder.mel_stft.mel_basis", (64, 257)),
    ("vocoder.mel_stft.stft_fn.inverse_basis", (514, 1, 512)),
])
def test_release_ltx23_keys_have_the_official_shapes(release_shapes, key, shape):
    assert release_shapes[0][key] == shape


def test_release_ltx23_vocoder_has_no_final_bias(release_shapes):
    assert "vocoder.vocoder.conv_post.bias" not in release_shapes[0]
    assert "vocoder.bwe_generator.conv_post.bias" not in release_shapes[0]


def test_release_ltx20_keys_have_the_official_shapes(release_shapes):
    shapes = release_shapes[1]
    assert shapes["vocoder.conv_pre.weight"] == (1024, 128, 7)
    assert shapes["vocoder.ups.0.weight"] == (1024, 512, 16)
    assert shapes["vocoder.conv_post.weight"] == (2, 32, 7) and "vocoder.conv_post.bias" in shapes
    assert "vocoder.resblocks.14.convs2.2.bias" in shapes


# --- layouts: one set of weights, several file forms, identical outputs ---------------------------


@pytest.fixture(scope="module")
def reference_output(tiny):
    return tiny.decode(latent(3, seed=5))


def test_full_ltx_checkpoint_loads_the_same_audio_model(tmp_path, tiny_weights, reference_output, monkeypatch):
    weights, metadata = tiny_weights
    full = dict(weights)
    full["model.diffusion_model.transformer_blocks.0.attn1.to_q.weight"] = torch.zeros(8, 8)
    full["model.diffusion_model.patchify_proj.weight"] = torch.zeros(8, 128)
    full["vae.decoder.conv_in.conv.weight"] = torch.zeros(4, 4, 3, 3, 3)
    path = save(tmp_path / "ltx-2.3-22b-dev.safetensors", full, metadata)
    read = []
    reader = Checkpoint.reader

    @contextmanager
    def recording_reader(self):
        with reader(self) as get:
            yield lambda key: read.append(key) or get(key)

    monkeypatch.setattr(Checkpoint, "reader", recording_reader)
    model = load_ltx_audio_vae(path)
    assert read and not any(k.startswith(("model.diffusion_model.", "vae.")) for k in read)
    torch.testing.assert_close(model.decode(latent(3, seed=5)), reference_output, rtol=0, atol=0)


def test_comfyui_inner_names_load_the_same_model(tmp_path, tiny_weights, reference_output):
    weights, metadata = tiny_weights
    inner = {k.removeprefix("audio_vae.").removeprefix("vocoder."): v for k, v in weights.items()}
    assert "bwe_generator.conv_pre.weight" in inner and "vocoder.conv_pre.weight" in inner
    path = save(tmp_path / "audio_vae_inner.safetensors", inner, metadata)
    torch.testing.assert_close(load_ltx_audio_vae(path).decode(latent(3, seed=5)), reference_output, rtol=0, atol=0)


def test_file_without_config_metadata_is_inferred_from_shapes(tmp_path, tiny_weights, reference_output):
    weights, _ = tiny_weights
    path = save(tmp_path / "no_config.safetensors", weights)
    torch.testing.assert_close(load_ltx_audio_vae(path).decode(latent(3, seed=5)), reference_output, rtol=0, atol=0)


def test_extra_statistics_keys_are_ignored(tmp_path, tiny_weights, reference_output):
    weights, metadata = tiny_weights
    extra = dict(weights)
    extra["audio_vae.per_channel_statistics.mean-of-stds"] = torch.ones(128)
    extra["audio_vae.per_channel_statistics.channel"] = torch.arange(128.0)
    path = save(tmp_path / "extra_stats.safetensors", extra, metadata)
    torch.testing.assert_close(load_ltx_audio_vae(path).decode(latent(3, seed=5)), reference_output, rtol=0, atol=0)


def test_bf16_file_loads_with_vocoder_in_fp32(tmp_path, tiny_weights):
    weights, metadata = tiny_weights
    path = save(tmp_path / "bf16.safetensors", {k: v.bfloat16() for k, v in weights.items()}, metadata)
    model = load_ltx_audio_vae(path, dtype=torch.bfloat16)
    assert model.decoder.conv_in.conv.weight.dtype == torch.bfloat16
    assert model.vocoder.vocoder.conv_pre.weight.dtype == torch.float32
    assert model.decode(latent(2)).dtype == torch.float32


# --- the LTX-2.0 HiFi-GAN vocoder -----------------------------------------------------------------

TINY_HIFIGAN = VocoderSpec(GeneratorConfig(64, (6, 5, 2, 2, 2), (16, 15, 8, 4, 4), resblock_kernel_sizes=(3,),
                                           resblock_dilation_sizes=((1, 3, 5),)), sample_rate=24000)


@pytest.fixture(scope="module")
def hifigan_file(tmp_path_factory):
    model = LtxAudioVAE(TINY_VAE, TINY_HIFIGAN)
    path = tmp_path_factory.mktemp("ltx20") / "ltx-2-19b-dev_audio_vae.safetensors"
    return save(path, seeded_state_dict(model, seed=3), {"config": json.dumps(file_config(model))})


def test_ltx20_file_gets_the_hifigan_vocoder_at_24k(hifigan_file):
    model = load_ltx_audio_vae(hifigan_file)
    assert isinstance(model.vocoder, HiFiGANVocoder) and model.sample_rate == 24000
    waveform = model.decode(latent(3))
    assert waveform.shape == (1, 2, 9 * 240)
    assert waveform.abs().max() < 1.0  # tanh


def test_ltx20_layout_detected_without_config(tmp_path, hifigan_file):
    with safe_open(str(hifigan_file), framework="pt") as handle:
        weights = {key: handle.get_tensor(key) for key in handle.keys()}
    assert "vocoder.conv_pre.weight" in weights and "vocoder.conv_post.bias" in weights
    path = save(tmp_path / "no_config.safetensors", weights)
    torch.testing.assert_close(load_ltx_audio_vae(path).decode(latent(2)), load_ltx_audio_vae(hifigan_file).decode(latent(2)))


# --- wrong files ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "keys, expected",
    [
        ({"decoder.middle.0.residual.0.gamma": (4, 1, 1, 1), "decoder.upsamples.0.upsamples.0.residual.2.weight": (4,)},
         "Wan2.2 video VAE"),
        ({"encoder.block.0.layer.0.SelfAttention.q.weight": (4, 4),
          "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight": (4, 4)}, "umT5"),
        ({"backbone.double_blocks.0.norm1.weight": (4,), "backbone.patch_embedding_audio.0.weight": (4, 4)}, "NAVA MMDiT"),
    ],
    ids=["wan_vae", "umt5", "mmdit"],
)
def test_other_components_are_refused_with_the_right_loader(tmp_path, keys, expected, no_model_built):
    path = save(tmp_path / "other.safetensors", {k: torch.zeros(s) for k, s in keys.items()})
    with pytest.raises(CheckpointError, match=expected):
        load_ltx_audio_vae(path)


@pytest.fixture
def no_model_built(monkeypatch):
    """Wrong files must be refused before any weight is allocated."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was built for a file that should have been refused")

    monkeypatch.setattr(ltx_audio, "LtxAudioVAE", refuse)


def test_truncated_file_is_refused(tmp_path, tiny_path, no_model_built):
    data = tiny_path.read_bytes()
    path = tmp_path / "truncated.safetensors"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_ltx_audio_vae(path)


def test_file_without_vocoder_is_refused(tmp_path, tiny_weights, no_model_built):
    weights, metadata = tiny_weights
    vae_only = {k: v for k, v in weights.items() if k.startswith("audio_vae.")}
    path = save(tmp_path / "vae_only.safetensors", vae_only)
    with pytest.raises(CheckpointError, match="lacks the vocoder"):
        load_ltx_audio_vae(path)


def test_mismatched_config_is_refused(tmp_path, tiny_weights):
    weights, metadata = tiny_weights
    config = json.loads(metadata["config"])
    config["audio_vae"]["model"]["params"]["ddconfig"]["ch"] = 32
    path = save(tmp_path / "bad_config.safetensors", weights, {"config": json.dumps(config)})
    with pytest.raises(CheckpointError, match="do not match"):
        load_ltx_audio_vae(path)
