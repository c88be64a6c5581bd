"""Files the umT5 loader must refuse, each with a message saying what the file is and where it goes."""

import pytest
import torch
from safetensors.torch import save_file

from nava_model.checkpoints import CheckpointError
from nava_model.random_init import random_state_dict
from nava_model.text import TokenizerError, load_umt5, umt5
from nava_model.text.layout import UMT5Widths, hf_name, official_shapes
from nava_model.text.tiny_tokenizer import train_tiny_spiece

WIDTHS = UMT5Widths(vocab_size=2048, d_model=16, num_layers=2, num_heads=2, d_ff=32, d_kv=8)


@pytest.fixture(scope="module")
def spiece():
    return train_tiny_spiece()


def comfy_tensors(spiece: bytes, vocab_size: int = WIDTHS.vocab_size) -> dict[str, torch.Tensor]:
    widths = UMT5Widths(vocab_size, WIDTHS.d_model, WIDTHS.num_layers, WIDTHS.num_heads, WIDTHS.d_ff, WIDTHS.d_kv)
    tensors = {hf_name(k): v for k, v in random_state_dict(official_shapes(widths), seed=1).items()}
    tensors["spiece_model"] = torch.frombuffer(bytearray(spiece), dtype=torch.uint8)
    return tensors


def save(tmp_path, tensors, name="umt5_xxl_fp16.safetensors"):
    path = tmp_path / name
    save_file(tensors, str(path))
    return path


@pytest.fixture
def no_allocation(monkeypatch):
    """Fail the test if the loader gets as far as building the model."""
    def refuse(*args, **kwargs):
        raise AssertionError("the model was built before the file was refused")

    monkeypatch.setattr(umt5, "build_encoder", refuse)


def test_plain_t5_is_refused(tmp_path, spiece, no_allocation):
    tensors = comfy_tensors(spiece)
    del tensors["encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight"]  # T5: bias in block 0 only
    with pytest.raises(CheckpointError, match="T5 \\(not umT5\\).*not used by NAVA"):
        load_umt5(save(tmp_path, tensors, "t5xxl_fp16.safetensors"))


def test_wan_vae_is_refused(tmp_path, no_allocation):
    tensors = {"decoder.middle.0.residual.0.gamma": torch.ones(4, 1, 1, 1),
               "decoder.upsamples.0.upsamples.0.residual.2.weight": torch.ones(4, 4, 3, 3, 3)}
    with pytest.raises(CheckpointError, match="Wan2.2 video VAE.*models/vae"):
        load_umt5(save(tmp_path, tensors, "wan2.2_vae.safetensors"))


def test_nava_mmdit_is_refused(tmp_path, no_allocation):
    tensors = {"backbone.double_blocks.0.norm1.weight": torch.ones(4),
               "backbone.patch_embedding_audio.0.weight": torch.ones(4, 4, 7)}
    with pytest.raises(CheckpointError, match="NAVA MMDiT.*models/nava"):
        load_umt5(save(tmp_path, tensors, "NAVA.safetensors"))


def test_truncated_safetensors_is_refused(tmp_path, spiece, no_allocation):
    path = save(tmp_path, comfy_tensors(spiece))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="download it again"):
        load_umt5(path)


def test_truncated_official_pth_is_refused(tmp_path, no_allocation):
    path = tmp_path / "models_t5_umt5-xxl-enc-bf16.pth"
    torch.save(random_state_dict(official_shapes(WIDTHS), seed=1), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="download it again"):
        load_umt5(path)


def test_file_missing_a_layer_tensor_is_refused(tmp_path, spiece):
    tensors = comfy_tensors(spiece)
    del tensors["encoder.block.1.layer.1.DenseReluDense.wo.weight"]
    with pytest.raises(CheckpointError, match="does not match the umT5 encoder layout.*block.1.layer.1.DenseReluDense.wo"):
        load_umt5(save(tmp_path, tensors))


def test_tokenizer_larger_than_the_embedding_is_refused(tmp_path, spiece):
    with pytest.raises(CheckpointError, match="do not belong together"):
        load_umt5(save(tmp_path, comfy_tensors(spiece, vocab_size=100)))


def test_unsupported_quantisation_is_refused(tmp_path, spiece, no_allocation):
    tensors = comfy_tensors(spiece)
    tensors["encoder.block.0.layer.0.SelfAttention.q.weight"] = torch.zeros(16, 16, dtype=torch.int8)
    with pytest.raises(CheckpointError, match="torch.int8.*umt5_xxl_fp16.safetensors"):
        load_umt5(save(tmp_path, tensors))


def test_file_without_tokenizer_asks_for_spiece_model(tmp_path, spiece, no_allocation):
    tensors = comfy_tensors(spiece)
    del tensors["spiece_model"]
    with pytest.raises(TokenizerError, match="spiece.model"):
        load_umt5(save(tmp_path, tensors, "model.safetensors"))
