"""umT5 encoder parity at reduced width, for every file layout the loader reads.

Reference: transformers' UMT5EncoderModel loaded directly with HF names, and Wan2.2's own
`wan/modules/t5.py` T5Encoder with the official names (fixture `umt5_parity.safetensors`, see its
.md note). Weights are seeded per official key; each layout is written from them here and loaded by
`load_umt5`. Tolerance: max |ours - reference| / max |reference| <= 1e-4 in fp32, over valid tokens.
The fp16 and fp8 files are compared with the reference run on the same rounded / dequantised weights.
"""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from nava_model.random_init import random_state_dict
from nava_model.text import load_umt5
from nava_model.text.layout import UMT5_XXL, hf_name, official_shapes
from nava_model.text.tiny_tokenizer import train_tiny_spiece
from nava_model.text.umt5 import build_encoder

FIXTURES = Path(__file__).parent / "fixtures"
TOLERANCE = 1e-4

_spec = importlib.util.spec_from_file_location("umt5_make_fixtures", FIXTURES / "umt5_make_fixtures.py")
generator = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generator)


@pytest.fixture(scope="module")
def reference():
    with safe_open(str(FIXTURES / "umt5_parity.safetensors"), "pt") as handle:
        assert handle.metadata()["widths"] == repr(generator.WIDTHS)
    return load_file(str(FIXTURES / "umt5_parity.safetensors"))


@pytest.fixture(scope="module")
def official():
    return random_state_dict(official_shapes(generator.WIDTHS), generator.SEED)


@pytest.fixture(scope="module")
def spiece():
    return train_tiny_spiece()


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float((ours - reference).abs().max() / reference.abs().max())


def valid_outputs(encoder, reference) -> torch.Tensor:
    mask = reference["attention_mask"]
    with torch.no_grad():
        hidden = encoder.model(input_ids=reference["input_ids"], attention_mask=mask).last_hidden_state
    return hidden[mask.bool()]


def hf_tensors(official, dtype=torch.float32) -> dict[str, torch.Tensor]:
    return {hf_name(key): value.to(dtype) for key, value in official.items()}


def comfy_fp8_tensors(official, spiece: bytes, newer_format: bool) -> dict[str, torch.Tensor]:
    """ComfyUI's scaled-fp8 file (marker `scaled_fp8`, `.scale_weight`), or the newer `comfy_quant` one."""
    tensors = {"spiece_model": torch.frombuffer(bytearray(spiece), dtype=torch.uint8)}
    if not newer_format:
        tensors["scaled_fp8"] = torch.zeros(0, dtype=torch.float8_e4m3fn)
    for key, value in hf_tensors(official).items():
        if not generator.LINEAR.fullmatch(key):
            tensors[key] = value.half()
            continue
        layer = key.removesuffix(".weight")
        tensors[key], scale = generator.quantise_fp8(value)
        if newer_format:
            tensors[f"{layer}.weight_scale"] = scale
            tensors[f"{layer}.comfy_quant"] = torch.tensor(list(json.dumps({"format": "float8_e4m3fn"}).encode()),
                                                           dtype=torch.uint8)
        else:
            tensors[f"{layer}.scale_weight"] = scale
            tensors[f"{layer}.scale_input"] = torch.ones(())
    return tensors


def test_official_wan_pth_matches_transformers(tmp_path, official, spiece, reference):
    path = tmp_path / "models_t5_umt5-xxl-enc-bf16.pth"
    torch.save(official, path)
    (tmp_path / "spiece.model").write_bytes(spiece)  # the tokenizer lies beside the official file
    ours = valid_outputs(load_umt5(path), reference)
    assert relative_error(ours, reference["transformers_fp32"]) <= TOLERANCE


def test_official_wan_pth_matches_wan_t5_encoder(tmp_path, official, spiece, reference):
    path = tmp_path / "models_t5_umt5-xxl-enc-bf16.pth"
    torch.save(official, path)
    ours = valid_outputs(load_umt5(path, tokenizer_path=_write(tmp_path / "spiece.model", spiece)), reference)
    assert relative_error(ours, reference["wan_fp32"]) <= TOLERANCE


def test_hf_layout_with_tied_embedding_matches_transformers(tmp_path, official, spiece, reference):
    tensors = hf_tensors(official)
    tensors["encoder.embed_tokens.weight"] = tensors["shared.weight"].clone()
    save_file(tensors, str(tmp_path / "model.safetensors"))
    tokenizer = _write(tmp_path / "tok" / "spiece.model", spiece)
    encoder = load_umt5(tmp_path / "model.safetensors", tokenizer_path=tokenizer)
    assert relative_error(valid_outputs(encoder, reference), reference["transformers_fp32"]) <= TOLERANCE


def test_comfyui_fp16_matches_transformers_on_fp16_weights(tmp_path, official, spiece, reference):
    tensors = hf_tensors(official, torch.float16)
    tensors["spiece_model"] = torch.frombuffer(bytearray(spiece), dtype=torch.uint8)
    save_file(tensors, str(tmp_path / "umt5_xxl_fp16.safetensors"))
    encoder = load_umt5(tmp_path / "umt5_xxl_fp16.safetensors")
    assert relative_error(valid_outputs(encoder, reference), reference["transformers_fp16"]) <= TOLERANCE


@pytest.mark.parametrize("newer_format", [False, True], ids=["scaled_fp8", "comfy_quant"])
def test_comfyui_fp8_matches_transformers_on_dequantised_weights(tmp_path, official, spiece, reference, newer_format):
    path = tmp_path / "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
    save_file(comfy_fp8_tensors(official, spiece, newer_format), str(path))
    encoder = load_umt5(path)
    query = encoder.model.encoder.block[0].layer[0].SelfAttention.q
    assert query.weight.dtype == torch.float8_e4m3fn  # kept in fp8 storage
    assert relative_error(valid_outputs(encoder, reference), reference["transformers_fp8"]) <= TOLERANCE


def test_encode_trims_to_valid_tokens_like_upstream_512_padding(tmp_path, official, spiece):
    tensors = hf_tensors(official)
    tensors["spiece_model"] = torch.frombuffer(bytearray(spiece), dtype=torch.uint8)
    save_file(tensors, str(tmp_path / "umt5.safetensors"))
    encoder = load_umt5(tmp_path / "umt5.safetensors")
    texts = ["A woman says <S><extra_id_2>你好，我们走吧<E> softly.", "rain"]
    for text, encoded in zip(texts, encoder.encode(texts)):
        ids = torch.zeros(1, 512, dtype=torch.long)
        ids[0, : len(encoded.token_ids)] = torch.tensor(encoded.token_ids)
        mask = (ids != 0).long()
        with torch.no_grad():
            padded = encoder.model(input_ids=ids, attention_mask=mask).last_hidden_state[0, : len(encoded.token_ids)]
        assert encoded.embeddings.shape == padded.shape
        assert relative_error(encoded.embeddings, padded) <= TOLERANCE


def test_linears_come_from_the_operations_namespace(tmp_path, official, spiece, reference):
    class Ops:
        class Linear(torch.nn.Linear):
            pass

    tensors = hf_tensors(official)
    tensors["spiece_model"] = torch.frombuffer(bytearray(spiece), dtype=torch.uint8)
    save_file(tensors, str(tmp_path / "umt5.safetensors"))
    encoder = load_umt5(tmp_path / "umt5.safetensors", operations=Ops)
    linears = [m for m in encoder.model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 7 * generator.WIDTHS.num_layers and all(isinstance(m, Ops.Linear) for m in linears)
    assert relative_error(valid_outputs(encoder, reference), reference["transformers_fp32"]) <= TOLERANCE


def test_bf16_compute_matches_transformers_in_bf16(tmp_path, official, spiece, reference):
    tensors = hf_tensors(official, torch.float16)
    tensors["spiece_model"] = torch.frombuffer(bytearray(spiece), dtype=torch.uint8)
    save_file(tensors, str(tmp_path / "umt5_xxl_fp16.safetensors"))
    ours = valid_outputs(load_umt5(tmp_path / "umt5_xxl_fp16.safetensors", dtype=torch.bfloat16), reference)
    assert ours.dtype == torch.bfloat16
    # Same bf16 operations on both sides; seeded weights without T5's attention scaling make bf16 itself
    # differ from fp32 by ~20 %, so this is compared with transformers run in bf16, not with fp32.
    assert relative_error(ours.float(), reference["transformers_fp16_in_bf16"]) <= 1e-2


def test_umt5_xxl_layout_on_meta_matches_components_spec():
    model = build_encoder(UMT5_XXL)
    hf_shapes = {k: tuple(v.shape) for k, v in model.state_dict().items() if k != "encoder.embed_tokens.weight"}
    official = official_shapes(UMT5_XXL)
    assert {hf_name(key): shape for key, shape in official.items()} == hf_shapes
    assert len(official) == 242
    assert sum(torch.Size(shape).numel() for shape in official.values()) == 5_680_910_336


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
