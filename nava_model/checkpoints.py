"""Safe checkpoint reading shared by every loader.

Only safetensors or `torch.load(weights_only=True)` are ever used. `inspect_checkpoint` reads the
key names, shapes and dtypes without loading tensor data, so a loader can refuse a wrong file
(see `components.require_component`) before it allocates anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
# Wrappers some exports put around a model's own keys (NAVA.safetensors stores its MMDiT under `backbone.`).
WRAPPER_PREFIXES = ("transformer.", "backbone.")


class CheckpointError(ValueError):
    """A model file that cannot be used by the loader it was given to."""


@dataclass
class CheckpointInfo:
    """Key names, shapes and dtypes of a file, read without loading the tensors."""

    path: Path
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, torch.dtype]
    metadata: dict[str, str] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # non-tensor entries of a torch.save dict (e.g. model_config)

    def has(self, key: str) -> bool:
        return key in self.shapes

    def has_prefix(self, prefix: str) -> bool:
        return any(k.startswith(prefix) for k in self.shapes)

    @property
    def is_tiny(self) -> bool:
        """Files written by `make-tiny` carry `nava_tiny` in their metadata (or torch.save dict)."""
        return self.metadata.get("nava_tiny") == "true" or self.extra.get("nava_tiny") is True


def _torch_load(path: Path, mmap: bool) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # truncated zips and pickles surface as many exception types
        raise CheckpointError(
            f"{path.name} could not be read as a PyTorch checkpoint ({type(exc).__name__}: {exc}). "
            "The file is truncated or not a checkpoint: download it again."
        ) from exc


def _split_torch_dict(obj) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors of a torch.save'd object, plus its non-tensor entries (hub format `{model_config, state_dict}`)."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"expected a state dict, found a {type(obj).__name__}")
    if isinstance(obj.get("state_dict"), dict):
        extra = {k: v for k, v in obj.items() if k != "state_dict"}
        return obj["state_dict"], extra
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    extra = {k: v for k, v in obj.items() if not isinstance(v, torch.Tensor)}
    return tensors, extra


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise CheckpointError(f"model file not found: {path}")


def inspect_checkpoint(path: str | os.PathLike) -> CheckpointInfo:
    path = Path(path)
    _require_file(path)
    if path.suffix in TORCH_SUFFIXES:
        tensors, extra = _split_torch_dict(_torch_load(path, mmap=True))
        return CheckpointInfo(
            path,
            {k: tuple(v.shape) for k, v in tensors.items()},
            {k: v.dtype for k, v in tensors.items()},
            extra=extra,
        )
    try:
        with safe_open(str(path), framework="pt") as handle:
            shapes, dtypes = {}, {}
            for key in handle.keys():
                tensor_slice = handle.get_slice(key)
                shapes[key] = tuple(tensor_slice.get_shape())
                dtypes[key] = _SAFETENSORS_DTYPES.get(tensor_slice.get_dtype(), torch.uint8)
            metadata = dict(handle.metadata() or {})
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(
            f"{path.name} is not a readable safetensors file ({exc}). "
            "It is truncated or corrupt: download it again."
        ) from exc
    return CheckpointInfo(path, shapes, dtypes, metadata)


_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}


def read_state_dict(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], CheckpointInfo]:
    """All tensors of a file (safetensors, or torch.load with weights_only=True) and its info."""
    info = inspect_checkpoint(path)
    if info.path.suffix in TORCH_SUFFIXES:
        tensors, _ = _split_torch_dict(_torch_load(info.path, mmap=True))
        return tensors, info
    try:
        return load_file(str(info.path)), info
    except Exception as exc:
        raise CheckpointError(f"{info.path.name} could not be read ({exc}): download it again.") from exc


def metadata_json(info: CheckpointInfo, key: str) -> dict | None:
    raw = info.metadata.get(key)
    return json.loads(raw) if raw else None


def layout_mismatch(found: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]]) -> str | None:
    """A short description of missing / unexpected / wrong-shape keys, or None when the layouts agree."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted(k for k in set(found) & set(expected) if tuple(found[k]) != tuple(expected[k]))
    parts = [
        f"{label}: {keys[:3]}{' ...' if len(keys) > 3 else ''} ({len(keys)})"
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
        if keys
    ]
    return "; ".join(parts) or None


def strip_wrapper_prefixes(key: str) -> str:
    """`key` without the wrapper prefixes of `WRAPPER_PREFIXES` (each removed once, in that order)."""
    for prefix in WRAPPER_PREFIXES:
        key = key.removeprefix(prefix)
    return key
