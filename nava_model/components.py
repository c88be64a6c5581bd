"""The five model files NAVA runs on, declared once: what each is, where it goes, how it is loaded.

A `Component` record holds everything the rest of the package needs to know about one file:
its key, its name in words, the file families it accepts (recognised from key names and shapes),
the release file and every accepted alternative with its folder and download address, its load
function and its tiny random-weight writer. `load_models`, `make-tiny`, the CLI's file lookup and
the loaders' wrong-file errors all read this table. The ComfyUI nodes keep their own table from
component key to socket and node name.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoints import Checkpoint, CheckpointError, open_checkpoint, strip_wrapper_prefixes

logger = logging.getLogger("nava")


# -- file families: what a file is, from its keys ---------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """One kind of model file, recognised from its key names and shapes."""

    what: str  # the file in words: "the Wan2.2 video VAE"
    folder: str  # the models/ sub-folder it belongs in
    component: str | None  # key of the component that loads it; None for models NAVA does not use
    matches: Callable[[set[str], Checkpoint], bool]  # keys without the `transformer.`/`backbone.` prefix


def _starts(keys: set[str], prefix: str) -> bool:
    return any(k.startswith(prefix) for k in keys)


def _patch_channels(checkpoint: Checkpoint) -> int:
    shape = next(s for k, s in checkpoint.shapes.items() if k.endswith("patch_embedding.weight"))
    return shape[1]


def _quant_channels(checkpoint: Checkpoint) -> int:
    return checkpoint.shapes.get("quant_conv.weight", (0,))[0]


def _is_wan_vae(keys: set[str]) -> bool:
    return "decoder.middle.0.residual.0.gamma" in keys or (
        "quant_conv.weight" in keys and _starts(keys, "decoder.up_blocks.")
    )


def _is_wan22_vae(keys: set[str], checkpoint: Checkpoint) -> bool:
    if "decoder.middle.0.residual.0.gamma" in keys:
        return "decoder.upsamples.0.upsamples.0.residual.2.weight" in keys
    return _quant_channels(checkpoint) == 96  # diffusers AutoencoderKLWan: 2 x 48 channels


def _is_wan_dit(keys: set[str]) -> bool:
    return "blocks.0.self_attn.q.weight" in keys and "patch_embedding.weight" in keys


def _is_t5_family(keys: set[str]) -> bool:
    return "encoder.block.0.layer.0.SelfAttention.q.weight" in keys or (
        "token_embedding.weight" in keys and "blocks.0.attn.q.weight" in keys
    )


def _is_umt5(keys: set[str]) -> bool:
    """umT5 gives every layer its own relative position bias; T5 only the first."""
    return (
        "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight" in keys
        or "blocks.1.pos_embedding.embedding.weight" in keys
    )


# In the order they are tried: the first family whose test passes is the file's.
NAVA_MMDIT = Family(
    "the NAVA MMDiT", "nava", "mmdit",
    lambda keys, file: _starts(keys, "double_blocks.") and _starts(keys, "patch_embedding_audio"),
)
LTX_FULL = Family(
    "a full LTX-2 checkpoint", "checkpoints", "audio_vae",
    lambda keys, file: file.has_prefix("model.diffusion_model.") and file.has_prefix("audio_vae."),
)
LTX_AUDIO_VAE = Family(
    "the LTX-2 audio VAE with its vocoder", "vae", "audio_vae",
    lambda keys, file: file.has_prefix("audio_vae.") or file.has_prefix("vocoder.")
    or "per_channel_statistics.mean-of-means" in keys,
)
WAN22_VAE = Family(
    "the Wan2.2 video VAE", "vae", "video_vae", lambda keys, file: _is_wan_vae(keys) and _is_wan22_vae(keys, file)
)
WAN21_VAE = Family("the Wan 2.1 video VAE (16 channels)", "vae", None, lambda keys, file: _is_wan_vae(keys))
WAN22_DIT = Family(
    "a Wan2.2-TI2V-5B DiT (a video-only warm start for the NAVA MMDiT)", "diffusion_models", "mmdit",
    lambda keys, file: _is_wan_dit(keys) and _patch_channels(file) == 48,
)
WAN21_DIT = Family(
    "a Wan 2.1 / Wan2.2-14B DiT (16 latent channels)", "diffusion_models", None, lambda keys, file: _is_wan_dit(keys)
)
UMT5 = Family(
    "the umT5-XXL text encoder", "text_encoders", "text_encoder",
    lambda keys, file: _is_t5_family(keys) and _is_umt5(keys),
)
T5 = Family("a T5 (not umT5) text encoder", "text_encoders", None, lambda keys, file: _is_t5_family(keys))
REDIMNET = Family(
    "the ReDimNet speaker encoder", "audio_encoders", "speaker_encoder",
    # ReDimNet's own keys start with "backbone.", which is stripped before the test.
    lambda keys, file: ("stem.0.weight" in keys and "fin_wght1d.w" in keys) or _starts(keys, "spec.torchfbank"),
)
FAMILIES = (NAVA_MMDIT, LTX_FULL, LTX_AUDIO_VAE, WAN22_VAE, WAN21_VAE, WAN22_DIT, WAN21_DIT, UMT5, T5, REDIMNET)

def identify_family(checkpoint: Checkpoint) -> Family | None:
    """Which known kind of model file `checkpoint` describes, or None."""
    keys = {strip_wrapper_prefixes(k) for k in checkpoint.shapes}
    return next((family for family in FAMILIES if family.matches(keys, checkpoint)), None)


# -- components ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelFile:
    """A file a component accepts under a known name, in its models/ sub-folder."""

    folder: str
    name: str
    url: str | None = None  # where to download it (None: no single official address)

    def path(self, models_dir: str | os.PathLike) -> Path:
        return Path(models_dir) / self.folder / self.name


def _resolve(reference: str) -> Callable:
    """`"package.module:function"` -> the function (imported on first use: model code is heavy)."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Component:
    """One model file NAVA needs: everything the package knows about it."""

    key: str  # "mmdit", "video_vae", ...: also the field name in `NavaModels`
    name: str  # in words, for messages: "the Wan2.2 video VAE"
    files: tuple[ModelFile, ...]  # the release file first (make-tiny writes it), then accepted alternatives
    loader: str  # "module:function" taking (path, device=, dtype=, operations=)
    tiny_writer: str  # "module:function" taking (path, seed=) and writing a tiny random-weight file there
    fixed_dtype: torch.dtype | None = None  # computes in this dtype whatever the others use
    optional: bool = False  # only needed for some jobs (the speaker encoder: only with reference voices)

    @property
    def release(self) -> ModelFile:
        return self.files[0]

    @property
    def where(self) -> str:
        """Where it goes, for messages: "wan2.2_vae.safetensors in models/vae"."""
        return f"{self.release.name} in models/{self.release.folder}"

    @property
    def files_in_words(self) -> str:
        """Every accepted file and its folders: "NAVA.safetensors or NAVA_fp8.safetensors in models/nava or ..."."""
        folders_by_name: dict[str, list[str]] = {}
        for entry in self.files:
            folders_by_name.setdefault(entry.name, []).append(f"models/{entry.folder}")
        names_by_folders: dict[str, list[str]] = {}
        for name, folders in folders_by_name.items():
            names_by_folders.setdefault(" or ".join(folders), []).append(name)
        return "; ".join(f"{' or '.join(names)} in {folders}" for folders, names in names_by_folders.items())

    @property
    def folders(self) -> tuple[str, ...]:
        """The models/ sub-folders holding this component's files, the release folder first."""
        return tuple(dict.fromkeys(f.folder for f in self.files))

    @property
    def families(self) -> tuple[Family, ...]:
        return tuple(f for f in FAMILIES if f.component == self.key)

    def load(self, source: str | os.PathLike | Checkpoint, **kwargs):
        """The loaded model from a file path or an opened `Checkpoint` (kwargs: device, dtype, operations, ...)."""
        return _resolve(self.loader)(source, **kwargs)

    def write_tiny(self, models_dir: str | os.PathLike, seed: int = 0) -> Path:
        """Write the tiny random-weight file under the release name in `models_dir`; return its path.

        The file is written under a temporary name and renamed, so an interrupted write leaves no
        half file under the release name.
        """
        from .media import give_default_permissions

        path = self.release.path(models_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        try:
            _resolve(self.tiny_writer)(partial, seed=seed)
            give_default_permissions(partial)  # safetensors writes 0600 files
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return path


_NAVA_HF = "https://huggingface.co/ernie-research/NAVA/resolve/main"
_WAN22_HF = "https://huggingface.co/Comfy-Org/Wan_2.2_ComfyUI_Repackaged/resolve/main/split_files"
_WAN21_HF = "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files"
_WAN_OFFICIAL = "https://huggingface.co/Wan-AI/Wan2.2-TI2V-5B/resolve/main"

MMDIT = Component(
    "mmdit",
    "the NAVA MMDiT",
    files=tuple(
        ModelFile(folder, name, f"{_NAVA_HF}/{name}")
        for folder in ("nava", "diffusion_models")
        for name in ("NAVA.safetensors", "NAVA_fp8.safetensors")
    ),
    loader="nava_model.mmdit.loader:load_nava_mmdit",
    tiny_writer="nava_model.mmdit.loader:write_tiny_mmdit",
)
VIDEO_VAE = Component(
    "video_vae",
    "the Wan2.2 video VAE",
    files=(
        ModelFile("vae", "wan2.2_vae.safetensors", f"{_WAN22_HF}/vae/wan2.2_vae.safetensors"),
        ModelFile("vae", "Wan2.2_VAE.pth", f"{_WAN_OFFICIAL}/Wan2.2_VAE.pth"),
    ),
    loader="nava_model.vae.wan22.model:load_wan22_vae",
    tiny_writer="nava_model.vae.wan22.model:write_tiny_wan22_vae",
)
AUDIO_VAE = Component(
    "audio_vae",
    "the LTX-2 audio VAE with its vocoder",
    files=(
        ModelFile(
            "vae", "ltx-2.3-22b-dev_audio_vae.safetensors", f"{_NAVA_HF}/params/LTX2/ltx-2.3-22b-dev_audio_vae.safetensors"
        ),
        # A full LTX-2 checkpoint holds the audio VAE and vocoder too; only those tensors are read.
        ModelFile(
            "checkpoints", "ltx-2.3-22b-dev.safetensors",
            "https://huggingface.co/Lightricks/LTX-2.3/resolve/main/ltx-2.3-22b-dev.safetensors",
        ),
        ModelFile(
            "checkpoints", "ltx-2.3-22b-distilled-1.1.safetensors",
            "https://huggingface.co/Lightricks/LTX-2.3/resolve/main/ltx-2.3-22b-distilled-1.1.safetensors",
        ),
        ModelFile(
            "checkpoints", "ltx-2-19b-dev.safetensors",
            "https://huggingface.co/Lightricks/LTX-2/resolve/main/ltx-2-19b-dev.safetensors",
        ),
    ),
    loader="nava_model.vae.ltx_audio.model:load_ltx_audio_vae",
    tiny_writer="nava_model.vae.ltx_audio.model:write_tiny_ltx_audio_vae",
    fixed_dtype=torch.float32,  # the reference decodes audio in fp32
)
TEXT_ENCODER = Component(
    "text_encoder",
    "the umT5-XXL text encoder",
    files=(
        ModelFile("text_encoders", "umt5_xxl_fp16.safetensors", f"{_WAN21_HF}/text_encoders/umt5_xxl_fp16.safetensors"),
        ModelFile(
            "text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
            f"{_WAN21_HF}/text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors",
        ),
        ModelFile(
            "text_encoders", "models_t5_umt5-xxl-enc-bf16.pth", f"{_WAN_OFFICIAL}/models_t5_umt5-xxl-enc-bf16.pth"
        ),
    ),
    loader="nava_model.text.umt5:load_umt5",
    tiny_writer="nava_model.text.umt5:write_tiny_umt5",
)
# GitHub only: ComfyUI's missing-models panel offers its Download button for Hugging Face and Civitai addresses.
_REDIMNET_RELEASE = "https://github.com/IDRnD/ReDimNet/releases/download/latest/M-vb2+vox2+cnc-ft_mix.pt"
SPEAKER_ENCODER = Component(
    "speaker_encoder",
    "the ReDimNet speaker encoder",
    files=(
        # the name the release address downloads as, so nothing needs renaming; then the name used before
        ModelFile("audio_encoders", "M-vb2+vox2+cnc-ft_mix.pt", _REDIMNET_RELEASE),
        ModelFile("audio_encoders", "ReDimNet-M-vb2+vox2+cnc-ft_mix.pt", _REDIMNET_RELEASE),
    ),
    loader="nava_model.speaker.redimnet:load_redimnet",
    tiny_writer="nava_model.speaker.redimnet:write_tiny_redimnet",
    fixed_dtype=torch.float32,
    optional=True,
)
COMPONENTS: dict[str, Component] = {c.key: c for c in (MMDIT, VIDEO_VAE, AUDIO_VAE, TEXT_ENCODER, SPEAKER_ENCODER)}


# -- wrong files -----------------------------------------------------------------------------------------------
class WrongComponentError(CheckpointError):
    """A file given as one component that is another component, another model, or nothing known.

    `found` is the key of the component the file really is (None when it is no NAVA component), so a
    caller can add where that component is loaded (the nodes add their loader's name).
    """

    def __init__(self, message: str, expected: str, found: str | None):
        super().__init__(message)
        self.expected, self.found = expected, found


def require_component(checkpoint: Checkpoint, key: str) -> Family:
    """`check_component`, then a warning if the file is a tiny random-weight one (whatever it produces is noise)."""
    family = check_component(checkpoint, key)
    if checkpoint.is_tiny:
        logger.warning(
            "%s is a TINY random-weight test file (make-tiny) for %s: what it produces is noise",
            checkpoint.name, COMPONENTS[key].name,
        )
    return family


def check_component(checkpoint: Checkpoint, key: str) -> Family:
    """The file's family if it is a file of component `key`; else an error saying what it is and where it goes."""
    component = COMPONENTS[key]
    family = identify_family(checkpoint)
    if family is not None and family.component == key:
        return family
    if family is None:
        raise WrongComponentError(
            f"{checkpoint.name} is not {component.name}: its keys match none of the known model files "
            f"(first keys: {sorted(checkpoint.shapes)[:3]}). {component.name.capitalize()} is {component.where}.",
            key, None,
        )
    found = f"{checkpoint.name} is {family.what}, which goes in models/{family.folder}"
    if family.component is None:
        found += " and is not used by NAVA"
    raise WrongComponentError(
        f"{found}; it cannot be used as {component.name} ({component.where}).", key, family.component
    )


def identify_component(source: str | os.PathLike | Checkpoint) -> Component | None:
    """Which NAVA component a file is (from its header alone), or None."""
    family = identify_family(open_checkpoint(source))
    return None if family is None or family.component is None else COMPONENTS[family.component]


# -- a models/ tree --------------------------------------------------------------------------------------------
def find_component_file(models_dir: str | os.PathLike, key: str) -> Path:
    """The first of component `key`'s accepted files present under `models_dir`; an error naming them if none."""
    component = COMPONENTS[key]
    for entry in component.files:
        if entry.path(models_dir).is_file():
            return entry.path(models_dir)
    release = component.release
    others = [f"models/{f.folder}/{f.name}" for f in component.files[1:]]
    raise FileNotFoundError(
        f"{component.name} was not found in {models_dir}: download {release.name} from {release.url} into "
        f"{Path(models_dir) / release.folder}"
        + (f" (also accepted: {', '.join(others)})" if others else "")
        + f", or run `python -m nava_model make-tiny {models_dir}` for tiny random weights"
    )


@dataclass
class NavaModels:
    mmdit: torch.nn.Module
    video_vae: torch.nn.Module
    audio_vae: torch.nn.Module
    text_encoder: object
    speaker_encoder: torch.nn.Module | None


def load_models(models_dir: str | os.PathLike | None, device: str = "cpu", dtype: torch.dtype = torch.float32,
                with_speaker: bool = True, files: Mapping[str, str | os.PathLike] | None = None) -> NavaModels:
    """Load every component: the file `files` gives for its key, else the first accepted one under `models_dir`.

    Every file is found (all missing ones are reported together), opened and checked to be its component
    before the first one is loaded.
    """
    files = dict(files or {})
    wanted = [c for c in COMPONENTS.values() if with_speaker or not c.optional]
    missing = []
    for component in wanted:
        try:
            files.setdefault(component.key, find_component_file(models_dir, component.key))
        except FileNotFoundError as exc:
            missing.append(str(exc))
    if missing:  # every missing file at once
        raise FileNotFoundError("\n".join(missing))
    opened = {c.key: open_checkpoint(files[c.key]) for c in wanted}
    for key, checkpoint in opened.items():
        check_component(checkpoint, key)
    loaded = {c.key: c.load(opened[c.key], device=device, dtype=c.fixed_dtype or dtype) for c in wanted}
    return NavaModels(**{key: loaded.get(key) for key in COMPONENTS})


def make_tiny_models(models_dir: str | os.PathLike, seed: int = 0) -> dict[str, Path]:
    """Write every component's tiny random-weight file under its release name; each is marked tiny."""
    return {c.key: c.write_tiny(models_dir, seed=seed) for c in COMPONENTS.values()}


def tiny_models_present(models_dir: str | os.PathLike) -> bool:
    return all(c.release.path(models_dir).is_file() for c in COMPONENTS.values())
