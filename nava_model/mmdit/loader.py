"""Loading the MMDiT from `NAVA.safetensors`, `NAVA_fp8.safetensors` or a Wan2.2-TI2V-5B DiT (warm start).

Order of work: read the file header, refuse a wrong or incomplete file, derive the config, build the
model on the meta device, then read the tensors one at a time straight into their final dtype and
device (`assign=True`), so peak memory is the model itself, not the file plus the model.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass, replace

import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from ..checkpoints import Checkpoint, CheckpointError, open_checkpoint, require_layout, strip_wrapper_prefixes
from ..components import WAN22_DIT, require_component
from ..config import PRESETS, NavaConfig, get_preset
from ..fp8 import FP8_COMPUTE, FP8_DTYPES, set_fp8_compute, swap_in_fp8_linears
from ..random_init import random_state_dict, seeded_tensor, state_dict_shapes
from .compile import check_compile_choice
from .model import NavaMMDiT, build_meta

logger = logging.getLogger("nava")

FILE_PREFIX = "backbone."  # NAVA.safetensors holds the `NAVA` wrapper's state: its `backbone` is this model
# In a Wan block these tensors have `*_audio` twins in NAVA's double-stream blocks.
_TWINNED = re.compile(r"^(self_attn|cross_attn)\.(q|k|v|o|norm_q|norm_k)\.")


# -- config -----------------------------------------------------------------------------------------
def _block_count(keys, prefix: str) -> int:
    indices = {int(k[len(prefix):].split(".", 1)[0]) for k in keys if k.startswith(prefix)}
    return max(indices) + 1 if indices else 0


def config_from_shapes(shapes: dict[str, tuple[int, ...]]) -> NavaConfig:
    """Infer the config of a NAVA state dict (keys without prefix). Heads: 24 for dim 3072, else head_dim 128."""
    try:
        dim, video_in, *patch = shapes["patch_embedding.weight"]
        audio_conv = shapes["patch_embedding_audio.0.weight"]
        fields = dict(
            dim=dim,
            ffn_dim=shapes["double_blocks.0.ffn.0.weight"][0],
            text_dim=shapes["text_embedding.0.weight"][1],
            freq_dim=shapes["time_embedding.0.weight"][1],
            speaker_dim=shapes["speaker_embedding.net.1.weight"][1],
            patch_size=tuple(patch),
            video_in_channels=video_in,
            audio_in_channels=audio_conv[1],
            audio_embed_kernel=audio_conv[2],
            num_double_blocks=_block_count(shapes, "double_blocks."),
            num_single_blocks=_block_count(shapes, "single_blocks."),
        )
    except KeyError as missing:
        raise CheckpointError(f"the NAVA checkpoint lacks {missing}: the file is incomplete, fetch it again") from None
    release = PRESETS["nava-6.3b"]
    if dim == release.dim:
        return replace(release, **fields)
    if dim % 128:
        raise CheckpointError(
            f"cannot tell the head count of a width-{dim} NAVA checkpoint; store its config as `nava_config` metadata"
        )
    return NavaConfig(num_heads=dim // 128, **fields)


def config_from_metadata(checkpoint: Checkpoint) -> NavaConfig | None:
    raw = checkpoint.metadata_json("nava_config")
    if raw is None:
        return None
    try:
        return NavaConfig(**{**raw, "patch_size": tuple(raw["patch_size"])})
    except (TypeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{checkpoint.name}: unreadable `nava_config` metadata ({exc})") from None


def config_to_json(config: NavaConfig) -> str:
    return json.dumps(asdict(config))


# -- Wan2.2 warm start --------------------------------------------------------------------------------
def wan22_key_map(wan_keys, config: NavaConfig) -> dict[str, list[str]]:
    """Official Wan2.2 DiT key -> the NAVA keys it initialises.

    Wan block i < num_double_blocks fills the video half of double block i and its audio twins; the
    following blocks fill the single blocks. `blocks.i.modulation` becomes `….modulation.modulation`.
    """
    mapping = {}
    for key in wan_keys:
        match = re.match(r"blocks\.(\d+)\.(.+)$", key)
        if match is None:
            mapping[key] = [key]
            continue
        index, rest = int(match[1]), match[2]
        if rest == "modulation":
            rest = "modulation.modulation"
        if index >= config.num_double_blocks:
            mapping[key] = [f"single_blocks.{index - config.num_double_blocks}.{rest}"]
            continue
        targets = [f"double_blocks.{index}.{rest}"]
        if rest == "modulation.modulation":
            targets.append(f"double_blocks.{index}.modulation_audio.modulation")
        elif _TWINNED.match(rest):
            attn, layer, param = rest.split(".", 2)
            targets.append(f"double_blocks.{index}.{attn}.{layer}_audio.{param}")
        mapping[key] = targets
    return mapping


def config_from_wan22(shapes: dict[str, tuple[int, ...]]) -> NavaConfig:
    """The NAVA config a Wan2.2 DiT initialises: the release one for the 5B, else a third of the blocks double."""
    dim, video_in, *_ = shapes["patch_embedding.weight"]
    layers = _block_count(shapes, "blocks.")
    release = PRESETS["nava-6.3b"]
    if dim == release.dim and layers == release.num_double_blocks + release.num_single_blocks:
        return release
    double = layers // 3
    return NavaConfig(
        dim=dim,
        ffn_dim=shapes["blocks.0.ffn.0.weight"][0],
        num_heads=max(1, dim // 128),
        num_double_blocks=double,
        num_single_blocks=layers - double,
        text_dim=shapes["text_embedding.0.weight"][1],
        freq_dim=shapes["time_embedding.0.weight"][1],
        video_in_channels=video_in,
    )


# -- reading ----------------------------------------------------------------------------------------
def _fp8_layers(shapes: dict, dtypes: dict) -> dict[str, tuple[int, ...]]:
    """Module path -> weight_scale shape for every fp8-stored Linear (keys without prefix)."""
    layers = {}
    for key, dtype in dtypes.items():
        if dtype not in FP8_DTYPES:
            continue
        module = key.removesuffix(".weight")
        if not key.endswith(".weight") or f"{module}.weight_scale" not in shapes:
            raise CheckpointError(
                f"{key} is stored in {dtype} without a `weight_scale`: this fp8 layout is not supported; "
                "use NAVA.safetensors or NAVA_fp8.safetensors"
            )
        scale_shape = shapes[f"{module}.weight_scale"]
        if torch.Size(scale_shape).numel() not in (1, shapes[key][0]):
            raise CheckpointError(
                f"{module}.weight_scale has shape {scale_shape}; only per-output-channel ([out] or [out, 1]) "
                "or per-tensor fp8 scales are supported"
            )
        layers[module] = scale_shape
    return layers


@dataclass(frozen=True)
class _LoadPlan:
    """What a checked file holds and where each of its tensors goes."""

    checkpoint: Checkpoint
    config: NavaConfig
    shapes: dict[str, tuple[int, ...]]  # file keys without prefix
    key_map: dict[str, list[str]]  # file key (without prefix) -> model keys
    fp8_layers: dict[str, tuple[int, ...]]  # fp8-stored Linears -> weight_scale shape
    warm_start: bool  # a Wan2.2 DiT: the audio-only parts are absent


def _plan(checkpoint: Checkpoint) -> _LoadPlan:
    """Refuse a wrong file and derive the config from the header: nothing is allocated yet."""
    family = require_component(checkpoint, "mmdit")
    shapes = {strip_wrapper_prefixes(k): s for k, s in checkpoint.shapes.items()}
    fp8_layers = _fp8_layers(shapes, {strip_wrapper_prefixes(k): d for k, d in checkpoint.dtypes.items()})
    if family is not WAN22_DIT:
        config = config_from_metadata(checkpoint) or config_from_shapes(shapes)
        return _LoadPlan(checkpoint, config, shapes, {k: [k] for k in shapes}, fp8_layers, False)
    if fp8_layers:
        raise CheckpointError(f"{checkpoint.name}: fp8 Wan2.2 DiTs are not supported as a warm start; use the bf16 file")
    config = config_from_wan22(shapes)
    return _LoadPlan(checkpoint, config, shapes, wan22_key_map(shapes, config), {}, True)


def read_mmdit_config(path) -> NavaConfig:
    """The model config from the file's header alone (nothing is loaded)."""
    return _plan(open_checkpoint(path)).config


def _keep_fp8_to_matrices(model: nn.Module, compute_dtype: torch.dtype) -> None:
    """With fp8 storage only Linear / Conv weights stay fp8; norms, biases, modulation tables and tokens
    (a small share of the bytes, sensitive to rounding) are stored in the compute dtype."""
    for module in model.modules():
        is_matrix_layer = isinstance(module, (nn.Linear, nn.modules.conv._ConvNd))
        for name, param in list(module.named_parameters(recurse=False)):
            if param.dtype in FP8_DTYPES and not (is_matrix_layer and name == "weight"):
                setattr(module, name, nn.Parameter(torch.empty_like(param, dtype=compute_dtype), requires_grad=False))


def _require_casting_operations(dtype: torch.dtype, operations) -> None:
    if dtype in FP8_DTYPES and operations is nn:
        raise ValueError(
            f"{dtype} weight storage needs an `operations` namespace that casts weights at use (ComfyUI's comfy.ops); "
            "with torch.nn load NAVA_fp8.safetensors or use bfloat16"
        )


def load_nava_mmdit(
    path, device="cpu", dtype=torch.float32, operations=nn, attention_backend: str = "auto",
    compute_dtype: torch.dtype | None = None, compile_blocks: str = "auto", fp8_compute: str = "dequant",
) -> NavaMMDiT:
    """Load NAVA.safetensors / NAVA_fp8.safetensors, or a Wan2.2-TI2V-5B DiT as a video warm start.

    `path` is a file (any shard of a sharded set) or a `Checkpoint` already opened.

    `dtype` is the storage dtype; `compute_dtype` (default: `dtype`, or bf16 for fp8 storage) is what the
    layers run in when `operations` casts weights at use, as ComfyUI's manual-cast ops do. `compile_blocks`:
    "auto" (torch.compile the blocks on CUDA), "on" or "off". `fp8_compute` ("dequant" or "scaled_mm", see
    fp8.py) is how the Linears stored in fp8 by NAVA_fp8.safetensors compute.
    """
    _require_casting_operations(dtype, operations)
    check_compile_choice(compile_blocks)
    if fp8_compute not in FP8_COMPUTE:
        raise ValueError(f"unknown fp8 compute {fp8_compute!r}; choose one of {FP8_COMPUTE}")
    plan = _plan(open_checkpoint(path))
    model = build_meta(plan.config, operations, dtype, compute_dtype)
    model.attention_backend = attention_backend  # checked here, before any tensor is read
    swap_in_fp8_linears(model, plan.fp8_layers, operations)
    set_fp8_compute(model, fp8_compute)
    _keep_fp8_to_matrices(model, model.compute_dtype)
    expected = state_dict_shapes(model)
    found = {t: plan.shapes[k] for k, targets in plan.key_map.items() for t in targets}
    absent = sorted(set(expected) - set(found)) if plan.warm_start else []
    if absent:
        logger.warning(
            "%s is a Wan2.2 DiT: loaded as a video warm start; the audio embedder, speaker embedder and audio head "
            "(%d tensors) keep a seeded random init, and the double blocks' audio twins copy the video weights",
            plan.checkpoint.name, len(absent),
        )
    require_layout(plan.checkpoint, "NAVA MMDiT", {**found, **{k: expected[k] for k in absent}}, expected)
    _assign(model, plan, absent, device)
    model.compile_blocks = compile_blocks
    return model.eval().requires_grad_(False)


def _assign(model: NavaMMDiT, plan: _LoadPlan, absent: list[str], device) -> None:
    """Read the tensors one at a time into their final device and dtype and hand them to the meta model."""
    params = dict(model.state_dict(keep_vars=True))

    def place(key: str, tensor: Tensor) -> Tensor:
        target_dtype = tensor.dtype if tensor.dtype in FP8_DTYPES else params[key].dtype
        return tensor.to(device=device, dtype=target_dtype)

    state = {}
    for key, tensor in plan.checkpoint.tensors():
        for target in plan.key_map[strip_wrapper_prefixes(key)]:
            state[target] = place(target, tensor)
    for key in absent:
        state[key] = place(key, seeded_tensor(FILE_PREFIX + key, params[key].shape))
    model.load_state_dict(state, strict=True, assign=True)


# -- tiny file ----------------------------------------------------------------------------------------
def write_tiny_mmdit(path, seed: int = 0) -> None:
    """A NAVA.safetensors at `path`: the real key layout (`backbone.` prefix) at the `tiny` preset widths."""
    config = get_preset("tiny")
    shapes = {FILE_PREFIX + k: s for k, s in state_dict_shapes(build_meta(config)).items()}
    save_file(
        random_state_dict(shapes, seed),
        str(path),
        metadata={"nava_tiny": "true", "nava_config": config_to_json(config)},
    )
