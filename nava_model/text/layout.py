"""umT5 checkpoint layouts: Wan's official names, HF/ComfyUI names, and the config read from shapes.

Wan's `models_t5_umt5-xxl-enc-bf16.pth` and HF's `UMT5EncoderModel` (whose names ComfyUI's
`umt5_xxl_*.safetensors` files use) hold the same tensors under different names.
Everything is loaded under the HF names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

MAX_DISTANCE = 128  # relative-position buckets grow logarithmically up to this distance (umT5, Wan)

_OFFICIAL_TO_HF = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"token_embedding\.weight", "shared.weight"),
        (r"norm\.weight", "encoder.final_layer_norm.weight"),
        (r"blocks\.(\d+)\.norm1\.weight", r"encoder.block.\1.layer.0.layer_norm.weight"),
        (r"blocks\.(\d+)\.attn\.([qkvo])\.weight", r"encoder.block.\1.layer.0.SelfAttention.\2.weight"),
        (
            r"blocks\.(\d+)\.pos_embedding\.embedding\.weight",
            r"encoder.block.\1.layer.0.SelfAttention.relative_attention_bias.weight",
        ),
        (r"blocks\.(\d+)\.norm2\.weight", r"encoder.block.\1.layer.1.layer_norm.weight"),
        (r"blocks\.(\d+)\.ffn\.gate\.0\.weight", r"encoder.block.\1.layer.1.DenseReluDense.wi_0.weight"),  # GELU branch
        (r"blocks\.(\d+)\.ffn\.fc1\.weight", r"encoder.block.\1.layer.1.DenseReluDense.wi_1.weight"),  # linear branch
        (r"blocks\.(\d+)\.ffn\.fc2\.weight", r"encoder.block.\1.layer.1.DenseReluDense.wo.weight"),
    )
)


def hf_name(official_key: str) -> str | None:
    """The HF name of an official Wan key (None if it is not a umT5 encoder weight)."""
    for pattern, replacement in _OFFICIAL_TO_HF:
        if pattern.fullmatch(official_key):
            return pattern.sub(replacement, official_key)
    return None


@dataclass(frozen=True)
class UMT5Widths:
    vocab_size: int
    d_model: int
    num_layers: int
    num_heads: int
    d_ff: int
    d_kv: int  # per-head width (64 in umT5-XXL)
    num_buckets: int = 32


UMT5_XXL = UMT5Widths(vocab_size=256384, d_model=4096, num_layers=24, num_heads=64, d_ff=10240, d_kv=64)


def official_shapes(widths: UMT5Widths) -> dict[str, tuple[int, ...]]:
    """The key -> shape table of Wan's official encoder file."""
    dim, inner, ffn = widths.d_model, widths.num_heads * widths.d_kv, widths.d_ff
    shapes = {"token_embedding.weight": (widths.vocab_size, dim)}
    for n in range(widths.num_layers):
        block = f"blocks.{n}"
        shapes[f"{block}.norm1.weight"] = (dim,)
        shapes.update({f"{block}.attn.{p}.weight": (inner, dim) for p in "qkv"})
        shapes[f"{block}.attn.o.weight"] = (dim, inner)
        shapes[f"{block}.norm2.weight"] = (dim,)
        shapes[f"{block}.ffn.gate.0.weight"] = (ffn, dim)
        shapes[f"{block}.ffn.fc1.weight"] = (ffn, dim)
        shapes[f"{block}.ffn.fc2.weight"] = (dim, ffn)
        shapes[f"{block}.pos_embedding.embedding.weight"] = (widths.num_buckets, widths.num_heads)
    shapes["norm.weight"] = (dim,)
    return shapes


def widths_from_shapes(shapes: Mapping[str, tuple[int, ...]]) -> UMT5Widths:
    """Widths from HF-named shapes; heads and buckets from the relative-bias table [buckets, heads]."""
    vocab_size, d_model = shapes["shared.weight"]
    attention = "encoder.block.0.layer.0.SelfAttention"
    num_layers = sum(1 for key in shapes if _QUERY.fullmatch(key))
    num_buckets, num_heads = shapes[f"{attention}.relative_attention_bias.weight"]
    inner = shapes[f"{attention}.q.weight"][0]
    if inner % num_heads:
        raise ValueError(f"attention width {inner} is not a multiple of {num_heads} heads")
    d_ff = shapes["encoder.block.0.layer.1.DenseReluDense.wi_0.weight"][0]
    return UMT5Widths(vocab_size, d_model, num_layers, num_heads, d_ff, inner // num_heads, num_buckets)


_QUERY = re.compile(r"encoder\.block\.\d+\.layer\.0\.SelfAttention\.q\.weight")


def hf_config(widths: UMT5Widths):
    """transformers' `UMT5Config`: gated tanh-GELU FFN, per-layer relative bias, eps 1e-6, no dropout."""
    from transformers import UMT5Config  # imported here: transformers takes seconds to import

    return UMT5Config(
        vocab_size=widths.vocab_size,
        d_model=widths.d_model,
        d_kv=widths.d_kv,
        d_ff=widths.d_ff,
        num_layers=widths.num_layers,
        num_heads=widths.num_heads,
        relative_attention_num_buckets=widths.num_buckets,
        relative_attention_max_distance=MAX_DISTANCE,
        feed_forward_proj="gated-gelu",
        layer_norm_epsilon=1e-6,
        dropout_rate=0.0,
        is_encoder_decoder=False,
        use_cache=False,
        pad_token_id=0,
        eos_token_id=1,
    )
