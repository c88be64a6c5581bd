"""Wan2.2 VAE: parity with the reference, checkpoint layouts, wrong files, sizes, progress, tiling."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from nava_model.checkpoints import CheckpointError
from nava_model.components import VIDEO_VAE
from nava_model.latent_space import VideoSizeError, check_video_size
from nava_model.random_init import random_state_dict
from nava_model.vae.wan22 import model as wan22
from nava_model.vae.wan22.keys import diffusers_name
from nava_model.vae.wan22.model import TINY_CONFIG, Wan22VAE, Wan22VAEConfig, load_wan22_vae, official_shapes
from nava_model.vae.wan22.tiling import Tiling, run_tiled

FIXTURES = Path(__file__).parent / "fixtures"
PARITY_TOLERANCE = 1e-4  # max |ours - reference| / max |reference|, fp32


def seeded_vae(config: Wan22VAEConfig, seed: int = 0) -> Wan22VAE:
    vae = Wan22VAE(config).eval()
    vae.load_state_dict(random_state_dict(official_shapes(config), seed))
    return vae


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return ((ours - reference).abs().max() / reference.abs().max()).item()


def load_parity_fixture(name: str) -> tuple[Wan22VAE, dict[str, torch.Tensor]]:
    path = FIXTURES / f"{name}.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
    config = Wan22VAEConfig(dim=int(meta["dim"]), dec_dim=int(meta["dec_dim"]))
    return seeded_vae(config, int(meta["seed"])), load_file(str(path))


@pytest.fixture(scope="module")
def small_parity():
    return load_parity_fixture("wan22_vae_parity_small")


@pytest.fixture(scope="module")
def tiny_vae():
    return seeded_vae(TINY_CONFIG)


# --- parity with Wan-Video/Wan2.2 wan/modules/vae2_2.py (fixtures/wan22_vae_parity_*.md) ---


def test_encode_matches_reference(small_parity):
    vae, data = small_parity
    assert relative_error(vae.encode(data["video"]), data["encoded"]) <= PARITY_TOLERANCE


def test_decode_matches_reference(small_parity):
    vae, data = small_parity
    # the official Wan2_2_VAE.decode clamps to [-1, 1]; the fixture stores the raw decoder output
    assert relative_error(vae.decode(data["latent"]), data["decoded"].clamp(-1, 1)) <= PARITY_TOLERANCE


@pytest.mark.skipif(
    os.environ.get("NAVA_TEST_REAL_WIDTH") != "1",
    reason="real-width (705 M parameters) parity takes ~3 min and ~6 GB: set NAVA_TEST_REAL_WIDTH=1",
)
def test_real_width_encode_and_decode_match_reference():
    vae, data = load_parity_fixture("wan22_vae_parity_real")
    assert vae.config == Wan22VAEConfig(dim=160, dec_dim=256, z_dim=48)
    assert relative_error(vae.encode(data["video"]), data["encoded"]) <= PARITY_TOLERANCE
    assert relative_error(vae.decode(data["latent"]), data["decoded"].clamp(-1, 1)) <= PARITY_TOLERANCE


def test_real_architecture_has_the_official_layout():
    shapes = official_shapes(Wan22VAEConfig())
    assert len(shapes) == 196
    assert sum(torch.Size(s).numel() for s in shapes.values()) == 704_688_668
    assert shapes["decoder.upsamples.0.upsamples.3.time_conv.weight"] == (2048, 1024, 3, 1, 1)
    assert shapes["encoder.middle.1.to_qkv.weight"] == (1920, 640, 1, 1)


# --- checkpoint layouts ---


def test_official_comfyui_and_diffusers_layouts_load_to_identical_outputs(tmp_path):
    state = random_state_dict(official_shapes(TINY_CONFIG), seed=3)
    torch.save(state, tmp_path / "Wan2.2_VAE.pth")
    save_file(state, str(tmp_path / "wan2.2_vae.safetensors"))
    save_file({diffusers_name(k): v for k, v in state.items()}, str(tmp_path / "diffusion_pytorch_model.safetensors"))
    latent = torch.randn(1, 48, 1, 2, 3, generator=torch.Generator().manual_seed(0))
    outputs = [
        load_wan22_vae(tmp_path / name).decode(latent)
        for name in ("Wan2.2_VAE.pth", "wan2.2_vae.safetensors", "diffusion_pytorch_model.safetensors")
    ]
    assert torch.equal(outputs[0], outputs[1]) and torch.equal(outputs[0], outputs[2])


def test_diffusers_file_matches_diffusers_outputs(tmp_path):
    # Weights drawn per diffusers key name: a wrong renaming would swap tensors and change the outputs.
    data = load_file(str(FIXTURES / "wan22_vae_parity_diffusers.safetensors"))
    config = Wan22VAEConfig(dim=16, dec_dim=16)
    diffusers_shapes = {diffusers_name(k): s for k, s in official_shapes(config).items()}
    path = tmp_path / "diffusion_pytorch_model.safetensors"
    save_file(random_state_dict(diffusers_shapes, seed=0), str(path))
    vae = load_wan22_vae(path)
    mean, std = torch.tensor(wan22.LATENT_MEAN).view(1, 48, 1, 1, 1), torch.tensor(wan22.LATENT_STD).view(1, 48, 1, 1, 1)
    assert relative_error(vae.encode(data["video"]) * std + mean, data["raw_encoded"]) <= PARITY_TOLERANCE
    assert relative_error(vae.decode((data["raw_latent"] - mean) / std), data["decoded"]) <= PARITY_TOLERANCE


def test_diffusers_names_follow_the_diffusers_conversion():
    expected = {
        "encoder.conv1.weight": "encoder.conv_in.weight",
        "conv1.bias": "quant_conv.bias",
        "conv2.weight": "post_quant_conv.weight",
        "encoder.downsamples.1.downsamples.0.shortcut.weight": "encoder.down_blocks.1.resnets.0.conv_shortcut.weight",
        "encoder.downsamples.2.downsamples.2.time_conv.bias": "encoder.down_blocks.2.downsampler.time_conv.bias",
        "encoder.middle.1.to_qkv.weight": "encoder.mid_block.attentions.0.to_qkv.weight",
        "encoder.middle.2.residual.3.gamma": "encoder.mid_block.resnets.1.norm2.gamma",
        "decoder.upsamples.0.upsamples.3.resample.1.weight": "decoder.up_blocks.0.upsampler.resample.1.weight",
        "decoder.upsamples.3.upsamples.2.residual.6.weight": "decoder.up_blocks.3.resnets.2.conv2.weight",
        "decoder.head.0.gamma": "decoder.norm_out.gamma",
        "decoder.head.2.weight": "decoder.conv_out.weight",
    }
    assert {k: diffusers_name(k) for k in expected} == expected


def test_widths_are_read_from_the_file(tmp_path):
    vae = load_wan22_vae(VIDEO_VAE.write_tiny(tmp_path))
    assert vae.config == TINY_CONFIG


def test_tiny_file_has_the_release_name_and_marker_and_decodes(tmp_path, caplog):
    path = VIDEO_VAE.write_tiny(tmp_path, seed=0)
    assert path == tmp_path / "vae" / "wan2.2_vae.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        assert handle.metadata()["nava_tiny"] == "true"
    with caplog.at_level(logging.WARNING, logger="nava"):
        vae = load_wan22_vae(path)
    assert "TINY" in caplog.text
    assert vae.decode(torch.zeros(1, 48, 2, 2, 2)).shape == (1, 3, 5, 32, 32)


def test_loader_casts_to_the_requested_dtype(tmp_path):
    vae = load_wan22_vae(VIDEO_VAE.write_tiny(tmp_path), dtype=torch.bfloat16)
    assert {p.dtype for p in vae.parameters()} == {torch.bfloat16}
    assert vae.decode(torch.zeros(1, 48, 1, 2, 2)).dtype == torch.float32


def test_every_conv_is_built_from_the_operations_namespace():
    class Conv2d(torch.nn.Conv2d):
        pass

    class Conv3d(torch.nn.Conv3d):
        pass

    vae = Wan22VAE(TINY_CONFIG, operations=SimpleNamespace(Conv2d=Conv2d, Conv3d=Conv3d))
    convs = [m for m in vae.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
    assert convs and all(type(m) in (Conv2d, Conv3d) for m in convs)


# --- wrong files are refused before any weight is read ---


def _write(path: Path, shapes: dict[str, tuple[int, ...]]) -> Path:
    save_file({k: torch.zeros(s) for k, s in shapes.items()}, str(path))
    return path


WRONG_FILES = {
    "wan21_vae": (
        {"decoder.middle.0.residual.0.gamma": (4, 1, 1, 1), "decoder.upsamples.0.residual.0.gamma": (4, 1, 1, 1),
         "conv2.weight": (16, 16, 1, 1, 1)},
        "Wan 2.1 video VAE",
    ),
    "ltx_audio_vae": (
        {"audio_vae.decoder.conv_in.conv.weight": (4, 8, 3, 3), "vocoder.conv_pre.weight": (4, 128, 7)},
        "the LTX-2 audio VAE with its vocoder, which goes in models/vae",
    ),
    "wan22_dit": (
        {"blocks.0.self_attn.q.weight": (8, 8), "patch_embedding.weight": (8, 48, 1, 2, 2)},
        "models/diffusion_models",
    ),
    "nava_mmdit": (
        {"backbone.double_blocks.0.norm1.weight": (8,), "backbone.patch_embedding_audio.0.weight": (8, 128, 7)},
        "the NAVA MMDiT, which goes in models/nava",
    ),
    "umt5": (
        {"encoder.block.0.layer.0.SelfAttention.q.weight": (8, 8),
         "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight": (32, 2)},
        "the umT5-XXL text encoder, which goes in models/text_encoders",
    ),
    "unknown": ({"model.layers.0.weight": (4, 4)}, "none of the known model files"),
}


@pytest.mark.parametrize("case", sorted(WRONG_FILES))
def test_wrong_file_is_refused_naming_what_it_is_and_its_folder(tmp_path, case, no_tensor_read):
    shapes, message = WRONG_FILES[case]
    path = _write(tmp_path / f"{case}.safetensors", shapes)
    with pytest.raises(CheckpointError, match=message):
        load_wan22_vae(path)


def test_truncated_file_is_refused(tmp_path, no_tensor_read):
    path = VIDEO_VAE.write_tiny(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_wan22_vae(path)


def test_incomplete_wan22_file_is_refused(tmp_path, no_tensor_read):
    state = official_shapes(TINY_CONFIG)
    del state["decoder.head.2.bias"]
    with pytest.raises(CheckpointError, match="missing"):
        load_wan22_vae(_write(tmp_path / "wan2.2_vae.safetensors", state))


# --- sizes ---


@pytest.mark.parametrize(
    "width, height, frames, message",
    [
        (330, 192, None, "width 330 is not a positive multiple of 32: use 320 or 352"),
        (320, 200, None, "height 200 is not a positive multiple of 32: use 192 or 224"),
        (0, 192, None, "width 0"),
        (320, 192, 48, "48 frames is not 4k \\+ 1 .*use 45 or 49"),
        (320, 192, 0, "0 frames"),
    ],
)
def test_bad_generation_size_is_refused(width, height, frames, message):
    with pytest.raises(VideoSizeError, match=message):
        check_video_size(width, height, frames)


def test_good_generation_sizes_pass():
    check_video_size(1280, 704, 145)
    check_video_size(320, 192, 1)


def test_encode_takes_multiples_of_16(tiny_vae):
    assert tiny_vae.encode(torch.zeros(1, 3, 5, 48, 16)).shape == (1, 48, 2, 3, 1)


def test_encode_takes_a_single_image(tiny_vae):
    assert tiny_vae.encode(torch.zeros(1, 3, 1, 32, 32)).shape == (1, 48, 1, 2, 2)


@pytest.mark.parametrize(
    "shape, message",
    [((1, 3, 4, 32, 32), "4 frames"), ((1, 3, 5, 40, 32), "height 40"), ((3, 5, 32, 32), "expected video")],
)
def test_bad_video_is_refused_by_encode(tiny_vae, shape, message):
    with pytest.raises(VideoSizeError, match=message):
        tiny_vae.encode(torch.zeros(shape))


def test_latent_with_wrong_channels_is_refused_by_decode(tiny_vae):
    with pytest.raises(VideoSizeError, match="48"):
        tiny_vae.decode(torch.zeros(1, 16, 2, 2, 2))


# --- progress and cancel ---


def test_on_frame_reports_each_latent_frame(tiny_vae):
    calls = []
    tiny_vae.decode(torch.zeros(1, 48, 3, 2, 2), on_frame=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_raising_from_on_frame_cancels_the_decode(tiny_vae):
    calls = []

    def cancel(done, total):
        calls.append(done)
        raise InterruptedError

    with pytest.raises(InterruptedError):
        tiny_vae.decode(torch.zeros(1, 48, 3, 2, 2), on_frame=cancel)
    assert calls == [1]


def test_tiled_progress_counts_frames_of_every_tile(tiny_vae):
    calls = []
    tiny_vae.decode(torch.zeros(1, 48, 2, 2, 6), tiled=Tiling(4, 2), on_frame=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 4) for i in range(1, 5)]  # 2 tiles x 2 latent frames


# --- tiling ---


def test_tile_blending_is_exact_for_a_pixelwise_map():
    latent = torch.randn(1, 2, 3, 20, 36, generator=torch.Generator().manual_seed(0))

    def upsample(x):
        return x.repeat_interleave(16, -1).repeat_interleave(16, -2)

    blended = run_tiled(upsample, latent, (20, 36), Tiling(8, 4), in_scale=1, out_scale=16)
    assert (blended - upsample(latent)).abs().max() < 1e-6


def test_one_tile_covering_the_frame_equals_untiled(tiny_vae):
    latent = torch.randn(1, 48, 2, 3, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(tiny_vae.decode(latent, tiled=Tiling(8, 2)), tiny_vae.decode(latent))


def test_tiled_decode_equals_untiled_away_from_seams():
    # With the per-frame attention silenced, a pixel whose receptive field (about 17 latent pixels
    # each side) lies inside one tile, and which only that tile covers, decodes as untiled (up to
    # fp32 rounding: convolutions of other sizes sum in another order; measured 4.7e-5).
    vae = seeded_vae(TINY_CONFIG)
    attention = vae.decoder.middle[1].proj
    torch.nn.init.zeros_(attention.weight), torch.nn.init.zeros_(attention.bias)
    latent = torch.randn(1, 48, 1, 2, 88, generator=torch.Generator().manual_seed(0))
    full, tiled = vae.decode(latent), vae.decode(latent, tiled=Tiling(48, 8))  # tiles [0, 48) and [40, 88)
    interior = slice(18 * 16, 30 * 16)
    seam = slice(40 * 16, 48 * 16)
    assert (tiled[..., interior] - full[..., interior]).abs().max() < 2e-4
    assert (tiled[..., seam] - full[..., seam]).abs().max() > 1e-3


def test_tiled_decode_stays_close_to_untiled(tiny_vae):
    # Random weights mix each whole frame (attention, wide receptive field), so this bounds the
    # worst case; measured mean |tiled - untiled| = 0.077 on outputs in [-1, 1] (std 0.49).
    latent = torch.randn(1, 48, 1, 8, 24, generator=torch.Generator().manual_seed(1))
    difference = (tiny_vae.decode(latent, tiled=Tiling(12, 4)) - tiny_vae.decode(latent)).abs()
    assert difference.mean() < 0.12


def test_tiled_encode_matches_untiled_shape_and_is_close(tiny_vae):
    # measured mean |tiled - untiled| = 0.071 on latents of std 0.73
    video = torch.rand(1, 3, 5, 64, 192, generator=torch.Generator().manual_seed(0)) * 2 - 1
    full, tiled = tiny_vae.encode(video), tiny_vae.encode(video, tiled=Tiling(6, 2))
    assert tiled.shape == full.shape == (1, 48, 2, 4, 12)
    assert (tiled - full).abs().mean() < 0.15 * full.std()
