"""The tiny umT5 file written by make-tiny: real ComfyUI layout, small widths, tokenizer inside."""

import hashlib

import pytest
import torch

from nava_model.checkpoints import open_checkpoint
from nava_model.components import TEXT_ENCODER, UMT5, identify_family
from nava_model.config import PRESETS
from nava_model.text import load_umt5


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return TEXT_ENCODER.write_tiny(tmp_path_factory.mktemp("models"))


def test_tiny_file_has_comfyui_name_layout_and_marker(tiny_file):
    info = open_checkpoint(tiny_file)
    assert tiny_file.relative_to(tiny_file.parents[1]).as_posix() == "text_encoders/umt5_xxl_fp16.safetensors"
    assert identify_family(info) is UMT5
    assert info.is_tiny
    assert info.dtypes["spiece_model"] == torch.uint8
    assert info.shapes["shared.weight"][1] == PRESETS["tiny"].text_dim
    assert info.has("encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight")


def test_tiny_file_is_deterministic(tiny_file, tmp_path):
    again = TEXT_ENCODER.write_tiny(tmp_path)
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(tiny_file.read_bytes()).digest()


def test_tiny_encoder_encodes_to_text_dim_with_one_placeholder_token(tiny_file):
    encoder = load_umt5(tiny_file)
    texts = ["Two people talk. <S><extra_id_2>你好，世界<E> then <S><extra_id_2>bye<E>", "rain"]
    prompt, plain = encoder.encode(texts)
    assert prompt.token_ids.count(encoder.placeholder_token_id) == 2
    assert prompt.token_ids[-1] == 1 and plain.token_ids[-1] == 1
    assert prompt.embeddings.shape == (len(prompt.token_ids), PRESETS["tiny"].text_dim)
    assert torch.isfinite(prompt.embeddings).all()


def test_loading_the_tiny_file_warns(tiny_file, caplog):
    with caplog.at_level("WARNING", logger="nava"):
        load_umt5(tiny_file)
    assert "tiny" in caplog.text
