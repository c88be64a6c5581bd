"""Loading NAVA / NAVA_fp8 / Wan2.2 files, the tiny writer, and refusing wrong files before allocating."""

import logging

import pytest
import torch
from safetensors.torch import load_file, save_file

from nava_model.checkpoints import CheckpointError
from nava_model.components import MMDIT
from nava_model.config import get_preset
from nava_model.mmdit import NavaMMDiT, load_nava_mmdit, loader
from nava_model.mmdit.loader import FILE_PREFIX, build_meta
from nava_model.random_init import random_state_dict, state_dict_shapes

FP8_LINEAR = ("self_attn.", "cross_attn.", "ffn.")


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return MMDIT.write_tiny(tmp_path_factory.mktemp("models"), seed=0)


def _forward(model: NavaMMDiT):
    g = torch.Generator().manual_seed(0)
    video, audio = torch.randn(1, 48, 2, 4, 4, generator=g), torch.randn(1, 6, 128, generator=g)
    context = torch.randn(1, 5, model.config.text_dim, generator=g)
    with torch.no_grad():
        return model(video, audio, torch.tensor([600.0]), context)


def test_tiny_file_has_the_release_name_and_loads_with_its_config(tiny_file, caplog):
    assert tiny_file.relative_to(tiny_file.parents[1]).as_posix() == "nava/NAVA.safetensors"
    with caplog.at_level(logging.WARNING, logger="nava"):
        model = load_nava_mmdit(tiny_file, attention_backend="math")
    assert "TINY" in caplog.text
    assert model.config == get_preset("tiny")
    stored = load_file(str(tiny_file))
    assert set(stored) == {FILE_PREFIX + k for k in model.state_dict()}
    torch.testing.assert_close(model.double_blocks[1].self_attn.q_audio.weight,
                               stored["backbone.double_blocks.1.self_attn.q_audio.weight"])


def test_a_bf16_model_runs_and_stays_near_fp32(tiny_file):
    half = load_nava_mmdit(tiny_file, dtype=torch.bfloat16, attention_backend="math")
    full = load_nava_mmdit(tiny_file, attention_backend="math")
    assert half.double_blocks[0].ffn[0].weight.dtype == torch.bfloat16
    for ours, expected in zip(_forward(half), _forward(full)):
        assert ours.dtype == torch.float32
        assert (ours - expected).abs().max() <= 0.05 * expected.abs().max()


def test_config_is_inferred_from_shapes_and_transformer_prefix_is_accepted(tmp_path):
    config = get_preset("tiny", dim=128, num_heads=1)
    shapes = {"transformer.backbone." + k: s for k, s in state_dict_shapes(build_meta(config)).items()}
    path = tmp_path / "NAVA.safetensors"
    save_file(random_state_dict(shapes, 0), str(path))
    assert load_nava_mmdit(path).config == config


def _fp8_file(tmp_path, scale_shape: str):
    """A tiny NAVA_fp8-style file: block Linears float8_e4m3fn + weight_scale, the rest bf16."""
    config = get_preset("tiny")
    weights = random_state_dict(state_dict_shapes(build_meta(config)), 0)
    stored, dequantised = {}, {}
    for key, value in weights.items():
        is_block_linear = key.startswith(("double_blocks.", "single_blocks.")) and key.endswith(".weight") and any(
            f".{part}" in key for part in FP8_LINEAR) and "norm" not in key
        if not is_block_linear:
            stored[key] = value.to(torch.bfloat16)
            dequantised[key] = stored[key].float()
            continue
        per_row = value.abs().amax(dim=1) / 448.0
        scale = {"[out]": per_row, "[out,1]": per_row[:, None], "scalar": per_row.max()}[scale_shape]
        scale = scale.to(torch.bfloat16)
        quantised = (value / scale.float().reshape(-1, 1).expand(value.shape[0], 1)).to(torch.float8_e4m3fn)
        stored[key], stored[key + "_scale"] = quantised, scale
        dequantised[key] = quantised.float() * scale.float().reshape(-1, 1)
    path = tmp_path / "NAVA_fp8.safetensors"
    save_file({FILE_PREFIX + k: v for k, v in stored.items()}, str(path),
              metadata={"nava_config": loader.config_to_json(config)})
    return path, config, weights, dequantised


@pytest.mark.parametrize("scale_shape", ["[out]", "[out,1]", "scalar"])
def test_fp8_file_stays_fp8_in_memory_and_matches_its_dequantised_weights(tmp_path, scale_shape):
    path, config, original, dequantised = _fp8_file(tmp_path, scale_shape)
    model = load_nava_mmdit(path, attention_backend="math")
    q = model.double_blocks[0].self_attn.q
    assert q.weight.dtype == torch.float8_e4m3fn
    assert model.single_blocks[1].ffn[2].weight.dtype == torch.float8_e4m3fn
    assert model.patch_embedding.weight.dtype == torch.float32

    outputs = _forward(model)
    for weights, tolerance in ((dequantised, 1e-5), (original, 0.15)):  # fp8 has 3 mantissa bits
        reference = NavaMMDiT(config).eval()
        reference.attention_backend = "math"
        reference.load_state_dict(weights)
        for ours, expected in zip(outputs, _forward(reference)):
            assert (ours - expected).abs().max() <= tolerance * expected.abs().max()


class CastingOps:
    """Layers that cast their weights to the input's dtype at use, as ComfyUI's manual-cast ops do."""

    class Linear(torch.nn.Linear):
        def forward(self, x):
            bias = None if self.bias is None else self.bias.to(x.dtype)
            return torch.nn.functional.linear(x, self.weight.to(x.dtype), bias)

    class Conv1d(torch.nn.Conv1d):
        def forward(self, x):
            bias = None if self.bias is None else self.bias.to(x.dtype)
            return self._conv_forward(x, self.weight.to(x.dtype), bias)

    class Conv3d(torch.nn.Conv3d):
        def forward(self, x):
            return self._conv_forward(x, self.weight.to(x.dtype), self.bias.to(x.dtype))

    LayerNorm = torch.nn.LayerNorm


def test_fp8_storage_keeps_only_matrices_in_fp8_and_runs_in_the_compute_dtype(tiny_file):
    model = load_nava_mmdit(tiny_file, dtype=torch.float8_e4m3fn, operations=CastingOps, attention_backend="math",
                            compute_dtype=torch.bfloat16)
    block = model.double_blocks[0]
    assert block.ffn[0].weight.dtype == torch.float8_e4m3fn
    assert model.patch_embedding_audio[2].w1.weight.dtype == torch.float8_e4m3fn
    assert block.ffn[0].bias.dtype == block.modulation.modulation.dtype == torch.bfloat16
    assert block.norm3.weight.dtype == block.self_attn.norm_q.weight.dtype == torch.bfloat16
    full = load_nava_mmdit(tiny_file, attention_backend="math")
    for ours, expected in zip(_forward(model), _forward(full)):
        assert (ours - expected).abs().max() <= 0.2 * expected.abs().max()


def test_fp8_storage_with_plain_torch_layers_is_refused(tiny_file):
    with pytest.raises(ValueError, match="casts weights"):
        load_nava_mmdit(tiny_file, dtype=torch.float8_e4m3fn)


def _wan_file(tmp_path, layers=3, in_channels=48):
    """A Wan2.2-layout DiT file at width 128 (official key names, no prefix)."""
    config = get_preset("tiny", dim=128, num_heads=1, num_double_blocks=1, num_single_blocks=layers - 1)
    nava = state_dict_shapes(build_meta(config))
    shapes = {}
    for key, shape in nava.items():
        if key.startswith(("patch_embedding_audio", "speaker_embedding", "head_audio")) or "_audio" in key:
            continue
        for kind in ("double_blocks", "single_blocks"):
            if key.startswith(kind):
                index, rest = key[len(kind) + 1:].split(".", 1)
                index = int(index) + (config.num_double_blocks if kind == "single_blocks" else 0)
                key = f"blocks.{index}.{rest.replace('modulation.modulation', 'modulation')}"
        shapes[key] = shape
    shapes["patch_embedding.weight"] = (128, in_channels, 1, 2, 2)
    path = tmp_path / "wan_dit.safetensors"
    weights = random_state_dict(shapes, 0)
    save_file(weights, str(path))
    return path, weights


def test_wan22_dit_warm_starts_the_video_path_and_says_what_stays_at_init(tmp_path, caplog):
    path, wan = _wan_file(tmp_path)
    with caplog.at_level(logging.WARNING, logger="nava"):
        model = load_nava_mmdit(path)
    assert "audio embedder" in caplog.text
    attn = model.double_blocks[0].self_attn
    torch.testing.assert_close(attn.q.weight, wan["blocks.0.self_attn.q.weight"])
    torch.testing.assert_close(attn.q_audio.weight, wan["blocks.0.self_attn.q.weight"])
    torch.testing.assert_close(model.double_blocks[0].modulation_audio.modulation, wan["blocks.0.modulation"])
    torch.testing.assert_close(model.single_blocks[1].ffn[0].weight, wan["blocks.2.ffn.0.weight"])
    torch.testing.assert_close(model.single_blocks[0].modulation.modulation, wan["blocks.1.modulation"])


def _refuses_before_building(monkeypatch, path, match):
    def no_build(*args, **kwargs):
        raise AssertionError("the model was built before the file was checked")

    monkeypatch.setattr(loader, "build_meta", no_build)
    with pytest.raises(CheckpointError, match=match):
        load_nava_mmdit(path)


def test_a_video_vae_is_refused_naming_its_folder(tmp_path, monkeypatch):
    path = tmp_path / "wan2.2_vae.safetensors"
    save_file({"decoder.middle.0.residual.0.gamma": torch.zeros(4, 1, 1, 1),
               "decoder.upsamples.0.upsamples.0.residual.2.weight": torch.zeros(4, 4, 3, 3, 3)}, str(path))
    _refuses_before_building(monkeypatch, path, "the Wan2.2 video VAE, which goes in models/vae")


def test_a_text_encoder_is_refused_naming_its_folder(tmp_path, monkeypatch):
    path = tmp_path / "umt5_xxl_fp16.safetensors"
    save_file({"encoder.block.0.layer.0.SelfAttention.q.weight": torch.zeros(4, 4),
               "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight": torch.zeros(32, 2)}, str(path))
    _refuses_before_building(monkeypatch, path, "the umT5-XXL text encoder, which goes in models/text_encoders")


def test_a_wan21_dit_is_refused_as_a_model_nava_does_not_use(tmp_path, monkeypatch):
    path, _ = _wan_file(tmp_path, in_channels=16)
    _refuses_before_building(monkeypatch, path, "which goes in models/diffusion_models and is not used by NAVA")


def test_a_truncated_file_is_refused(tiny_file, tmp_path, monkeypatch):
    data = tiny_file.read_bytes()
    path = tmp_path / "NAVA.safetensors"
    path.write_bytes(data[: len(data) // 2])
    _refuses_before_building(monkeypatch, path, "truncated")


def test_a_file_missing_tensors_is_refused_before_allocating(tiny_file, tmp_path):
    weights = load_file(str(tiny_file))
    del weights["backbone.single_blocks.1.ffn.2.weight"]
    path = tmp_path / "NAVA.safetensors"
    save_file(weights, str(path), metadata={"nava_config": loader.config_to_json(get_preset("tiny"))})
    with pytest.raises(CheckpointError, match="missing"):
        load_nava_mmdit(path)


def test_unknown_attention_backend_is_refused(tiny_file):
    with pytest.raises(ValueError, match="attention backend"):
        load_nava_mmdit(tiny_file, attention_backend="xformers")
