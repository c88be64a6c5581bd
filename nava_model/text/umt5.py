"""umT5-XXL text encoder: transformers' `UMT5EncoderModel`, our loader for its file layouts, the tokenizer.

Loads Wan's official `models_t5_umt5-xxl-enc-bf16.pth`, HF `UMT5EncoderModel` exports and ComfyUI's
`umt5_xxl_fp16.safetensors` / `umt5_xxl_fp8_e4m3fn_scaled.safetensors` (fp8 weights stay fp8 in
memory and are dequantised layer by layer at forward time). The model is built on the meta device
and the file's tensors are assigned to it one by one, so the weights are allocated once.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from ..checkpoints import Checkpoint, CheckpointError, open_checkpoint, require_layout
from ..components import TEXT_ENCODER, require_component
from ..config import PRESETS
from ..fp8 import FP8_DTYPES, dequantize, swap_in_fp8_linears
from ..random_init import random_state_dict
from .cleaning import clean_prompt
from .layout import UMT5Widths, hf_config, hf_name, official_shapes, widths_from_shapes
from .tiny_tokenizer import train_tiny_spiece
from .tokenizer import UMT5Tokenizer, find_tokenizer, sentencepiece_tokenizer

TOKENIZER_KEY = "spiece_model"  # ComfyUI stores the serialized SentencePiece model under this key
TIED_EMBEDDING = "encoder.embed_tokens.weight"  # the same tensor as shared.weight
FP8_SCALE_SUFFIXES = (".scale_weight", ".weight_scale")  # ComfyUI "scaled fp8" / newer `comfy_quant` names
# Extras of ComfyUI's fp8 files: the format marker, per-layer JSON, input scales (we dequantise the weights instead).
FP8_EXTRAS = re.compile(r"scaled_fp8|.*\.(scale_input|input_scale|comfy_quant)")
# fp8 weights that stay fp8 in memory. `wo` is dequantised at load instead: HF's FFN casts its input to
# `wo.weight.dtype` (meant for int8 models), which would round the activations to fp8.
KEPT_FP8 = re.compile(r".*\.(SelfAttention\.[qkvo]|DenseReluDense\.wi_[01])\.weight")



@dataclass
class EncodedText:
    embeddings: Tensor  # [L_valid, d_model]
    token_ids: list[int]  # the valid tokens, `</s>` last


class UMT5TextEncoder(nn.Module):
    """Prompts -> umT5 embeddings of their valid tokens (upstream trims the 512-token padding away).

    A module (holding the encoder's weights) so a memory manager can place it like any model.
    """

    def __init__(self, model: nn.Module, tokenizer: UMT5Tokenizer):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer

    @property
    def placeholder_token_id(self) -> int:
        return self.tokenizer.placeholder_token_id

    @property
    def device(self) -> torch.device:
        return self.model.shared.weight.device

    @torch.no_grad()
    def encode(self, texts: list[str]) -> list[EncodedText]:
        if isinstance(texts, str) or not all(isinstance(text, str) for text in texts):
            raise TypeError("UMT5TextEncoder.encode takes a list of strings")
        if not texts:
            return []
        token_ids = [self.tokenizer(clean_prompt(text)) for text in texts]
        # Padding only to the longest prompt gives the valid rows upstream's 512-padding gives:
        # padded keys are masked out and the relative bias depends on offsets only.
        lengths = [len(ids) for ids in token_ids]
        ids = torch.zeros(len(texts), max(lengths), dtype=torch.long)
        for row, row_ids in enumerate(token_ids):
            ids[row, : len(row_ids)] = torch.tensor(row_ids)
        mask = (torch.arange(ids.shape[1]) < torch.tensor(lengths)[:, None]).long()
        hidden = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).last_hidden_state
        return [EncodedText(row[:length], row_ids) for row, length, row_ids in zip(hidden, lengths, token_ids)]


def load_umt5(path: str | os.PathLike, device="cpu", dtype: torch.dtype = torch.float32, tokenizer_path=None,
              operations=torch.nn) -> UMT5TextEncoder:
    """Load a umT5 encoder file (any layout above; a path or an opened `Checkpoint`) and its tokenizer
    (see `tokenizer.find_tokenizer`)."""
    info = open_checkpoint(path)
    require_component(info, "text_encoder")
    names = _hf_names(info)
    widths = _widths(info, {name: info.shapes[key] for key, name in names.items()})
    scale_keys = _fp8_scale_keys(info, names)
    kept_fp8 = {names[key].removesuffix(".weight") for key in scale_keys if KEPT_FP8.fullmatch(names[key])}
    with info.reader() as read:
        embedded = read(TOKENIZER_KEY).numpy().tobytes() if info.has(TOKENIZER_KEY) else None
        tokenizer = find_tokenizer(info.path, embedded, tokenizer_path)
        if tokenizer.vocab_size > widths.vocab_size:
            raise CheckpointError(
                f"the tokenizer has {tokenizer.vocab_size} tokens but {info.name} embeds only "
                f"{widths.vocab_size}: they do not belong together"
            )
        model = build_encoder(widths, operations, {module: () for module in kept_fp8})
        _check_layout(info, names, model)

        def scale(key: str) -> Tensor:
            return read(scale_keys[key]).float() if scale_keys[key] else torch.ones(())

        state = {}
        for key, name in names.items():
            tensor, module = read(key), name.removesuffix(".weight")
            if module in kept_fp8:
                state[name] = tensor.to(device)
                state[f"{module}.weight_scale"] = scale(key).to(device)
            elif key in scale_keys:
                state[name] = dequantize(tensor, scale(key), torch.float32).to(device, dtype)
            else:
                state[name] = tensor.to(device, dtype)
        state[TIED_EMBEDDING] = state["shared.weight"]
        model.load_state_dict(state, assign=True)
    return UMT5TextEncoder(model.eval().requires_grad_(False), tokenizer)


def build_encoder(widths: UMT5Widths, operations=torch.nn, fp8_layers: dict[str, tuple[int, ...]] | None = None
                  ) -> nn.Module:
    """transformers' `UMT5EncoderModel` on the meta device, its Linears from `operations` (fp8 ones where named)."""
    from transformers import UMT5EncoderModel  # imported here: transformers takes seconds to import

    with torch.device("meta"):
        model = UMT5EncoderModel(hf_config(widths))
    if operations is not torch.nn:
        for name, module in list(model.named_modules()):
            if type(module) is torch.nn.Linear:
                linear = operations.Linear(module.in_features, module.out_features, bias=False, device="meta")
                model.set_submodule(name, linear)
    swap_in_fp8_linears(model, fp8_layers or {}, operations)
    return model


def _hf_names(info: Checkpoint) -> dict[str, str]:
    """File key -> HF name for the encoder's tensors (tokenizer, fp8 extras, tied copy and decoder left out)."""
    official = info.has("token_embedding.weight")
    names = {}
    if info.has(TIED_EMBEDDING) and not info.has("shared.weight"):  # exports holding only the tied copy
        names[TIED_EMBEDDING] = "shared.weight"
    for key in info.shapes:
        if key in (TOKENIZER_KEY, TIED_EMBEDDING) or key.endswith(FP8_SCALE_SUFFIXES) or FP8_EXTRAS.fullmatch(key):
            continue
        if key.startswith(("decoder.", "lm_head.")):  # a full encoder-decoder export: only the encoder is used
            continue
        name = hf_name(key) if official else key
        if name is None:
            raise CheckpointError(f"{info.name}: unexpected tensor {key!r} in an official Wan umT5 file")
        names[key] = name
    return names


def _widths(info: Checkpoint, shapes: dict[str, tuple[int, ...]]) -> UMT5Widths:
    try:
        return widths_from_shapes(shapes)
    except KeyError as exc:
        raise CheckpointError(f"{info.name} lacks the umT5 tensor {exc}: the file is incomplete") from exc
    except ValueError as exc:
        raise CheckpointError(f"{info.name}: {exc}") from exc


def _fp8_scale_keys(info: Checkpoint, names: dict[str, str]) -> dict[str, str | None]:
    """File key of each float8 weight -> file key of its scale (None: unscaled)."""
    scales = {}
    for key, name in names.items():
        dtype = info.dtypes[key]
        if not dtype.is_floating_point:
            raise CheckpointError(
                f"{info.name} stores {key} as {dtype}: {TEXT_ENCODER.name} is read from fp32/fp16/bf16 and fp8 "
                "(e4m3fn) files, "
                "not this quantisation; use umt5_xxl_fp16.safetensors or umt5_xxl_fp8_e4m3fn_scaled.safetensors"
            )
        if dtype in FP8_DTYPES:
            layer = key.removesuffix(".weight")
            scales[key] = next((layer + suffix for suffix in FP8_SCALE_SUFFIXES if info.has(layer + suffix)), None)
    return scales


def _check_layout(info: Checkpoint, names: dict[str, str], model: nn.Module) -> None:
    expected = {
        key: tuple(value.shape) for key, value in model.state_dict().items()
        if key != TIED_EMBEDDING and not key.endswith(".weight_scale")  # fp8 scales were matched with their weights
    }
    require_layout(info, "umT5 encoder", {name: info.shapes[key] for key, name in names.items()}, expected)


def write_tiny_umt5(path: str | os.PathLike, seed: int = 0) -> None:
    """A tiny random-weight umT5 file at `path` in ComfyUI's key layout, its SentencePiece model inside."""
    spiece = train_tiny_spiece()
    d_model = PRESETS["tiny"].text_dim
    vocab_size = sentencepiece_tokenizer(spiece).vocab_size
    widths = UMT5Widths(vocab_size, d_model, num_layers=2, num_heads=2, d_ff=2 * d_model, d_kv=d_model // 2)
    weights = random_state_dict(official_shapes(widths), seed, torch.float16)  # drawn under the official names
    tensors = {hf_name(key): value for key, value in weights.items()}
    tensors[TOKENIZER_KEY] = torch.frombuffer(bytearray(spiece), dtype=torch.uint8)
    save_file(tensors, str(path), metadata={"nava_tiny": "true"})
