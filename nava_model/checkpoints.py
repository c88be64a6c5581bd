"""Safe checkpoint reading shared by every loader.

Only safetensors or `torch.load(weights_only=True)` are ever used. `open_checkpoint` reads the
key names, shapes and dtypes without loading tensor data, so a loader can refuse a wrong file
(see `components.require_component`) before it allocates anything, then read the tensors it needs.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open

TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
# Wrappers some exports put around a model's own keys (NAVA.safetensors stores its MMDiT under `backbone.`).
WRAPPER_PREFIXES = ("transformer.", "backbone.")
_SHARD = re.compile(r"-(\d{5})-of-(\d{5})\.safetensors$")


class CheckpointError(ValueError):
    """A model file that cannot be used by the loader it was given to."""


@dataclass
class Checkpoint:
    """One opened model file (or set of shards): its header, read once, and its tensors on demand.

    Loaders take a `Checkpoint` (or a path, which they open), so the file a caller already opened to
    check it is not opened again. A torch file is unpickled once, memory-mapped: tensors nobody reads
    stay on disk. A safetensors tensor is read only when asked for.
    """

    path: Path  # the file given (the first shard of a sharded set)
    format: str  # "safetensors" or "torch"
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, torch.dtype]
    metadata: dict[str, str] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # non-tensor entries of a torch.save dict (e.g. model_config)
    files: dict[str, Path] = field(default_factory=dict, repr=False)  # key -> the shard holding it
    torch_tensors: dict[str, torch.Tensor] | None = field(default=None, repr=False)  # a torch file's tensors, mmapped

    @property
    def name(self) -> str:
        return self.path.name

    def has(self, key: str) -> bool:
        return key in self.shapes

    def has_prefix(self, prefix: str) -> bool:
        return any(k.startswith(prefix) for k in self.shapes)

    @property
    def is_tiny(self) -> bool:
        """Files written by `make-tiny` carry `nava_tiny` in their metadata (or torch.save dict)."""
        return self.metadata.get("nava_tiny") == "true" or self.extra.get("nava_tiny") is True

    def metadata_json(self, key: str) -> dict | None:
        raw = self.metadata.get(key)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise CheckpointError(f"{self.name}: its `{key}` metadata is not valid JSON ({exc})") from exc

    @contextmanager
    def reader(self) -> Iterator[Callable[[str], torch.Tensor]]:
        """key -> tensor, read from disk one at a time while the context is open."""
        if self.torch_tensors is not None:
            yield self.torch_tensors.__getitem__
            return
        with ExitStack() as stack:
            shards = dict.fromkeys(self.files.values())
            handles = {path: stack.enter_context(safe_open(str(path), framework="pt")) for path in shards}
            yield lambda key: _read_safetensor(handles[self.files[key]], key, self.name)

    def tensors(self, keys=None) -> Iterator[tuple[str, torch.Tensor]]:
        """(key, tensor) pairs for `keys` (default: all), one tensor read at a time."""
        with self.reader() as read:
            for key in self.shapes if keys is None else keys:
                yield key, read(key)

    def read(self, keys=None) -> dict[str, torch.Tensor]:
        return dict(self.tensors(keys))


def _read_safetensor(handle, key: str, name: str) -> torch.Tensor:
    try:
        return handle.get_tensor(key)
    except Exception as exc:
        raise CheckpointError(f"{name} could not be read ({exc}): download it again.") from exc


def _torch_load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
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


def _shard_paths(path: Path) -> list[Path]:
    """All shards of a `…-0000k-of-0000n.safetensors` set (or just the file)."""
    match = _SHARD.search(path.name)
    if match is None:
        return [path]
    count = int(match[2])
    stem = path.name[: match.start()]
    paths = [path.with_name(f"{stem}-{i:05d}-of-{count:05d}.safetensors") for i in range(1, count + 1)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise CheckpointError(f"{path.name} is one shard of {count}; missing beside it: {', '.join(missing)}")
    return paths


def _open_torch(path: Path) -> Checkpoint:
    tensors, extra = _split_torch_dict(_torch_load(path))
    return Checkpoint(
        path, "torch",
        {k: tuple(v.shape) for k, v in tensors.items()},
        {k: v.dtype for k, v in tensors.items()},
        extra=extra,
        files={k: path for k in tensors},
        torch_tensors=tensors,
    )


def _open_safetensors(paths: list[Path]) -> Checkpoint:
    shapes, dtypes, files, metadata = {}, {}, {}, {}
    for path in paths:
        try:
            with safe_open(str(path), framework="pt") as handle:
                for key in handle.keys():
                    tensor_slice = handle.get_slice(key)
                    shapes[key] = tuple(tensor_slice.get_shape())
                    dtypes[key] = _SAFETENSORS_DTYPES.get(tensor_slice.get_dtype(), torch.uint8)
                    files[key] = path
                metadata = metadata or dict(handle.metadata() or {})
        except Exception as exc:
            raise CheckpointError(
                f"{path.name} is not a readable safetensors file ({exc}). "
                "It is truncated or corrupt: download it again."
            ) from exc
    return Checkpoint(paths[0], "safetensors", shapes, dtypes, metadata, files=files)


def open_checkpoint(source: str | os.PathLike | Checkpoint) -> Checkpoint:
    """Open a model file (all its shards, for a sharded set) and read its header; a Checkpoint is returned as is."""
    if isinstance(source, Checkpoint):
        return source
    path = Path(source)
    if not path.is_file():
        raise CheckpointError(f"model file not found: {path}")
    if path.suffix in TORCH_SUFFIXES:
        return _open_torch(path)
    return _open_safetensors(_shard_paths(path))


_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}


def require_layout(
    checkpoint: Checkpoint, what: str, found: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]]
) -> None:
    """Refuse a file whose tensors (`found`, under the model's names) are not the model's `expected` layout."""
    mismatch = layout_mismatch(found, expected)
    if mismatch:
        raise CheckpointError(
            f"{checkpoint.name} does not match the {what} layout ({mismatch}): the file is incomplete, damaged or "
            "another model; download it again."
        )


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
