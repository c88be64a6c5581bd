"""ReDimNet speaker encoder: a reference voice -> one 192-d timbre embedding (NAVA's speaker condition).

Loads the torch.hub release files of IDRnD/ReDimNet (`{model_config, state_dict}` saved with torch.save),
any size of the family (b0-b6, S, M), building the network from the stored `model_config`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field, fields

import torch
from torch import Tensor, nn

from .. import dsp
from ..checkpoints import Checkpoint, CheckpointError, open_checkpoint, require_layout
from ..components import require_component
from ..random_init import random_state_dict, seeded_tensor, state_dict_shapes
from .backbone import ReDimNetBackbone, StageSpec
from .features import PREEMPHASIS, MelFrontEnd, MelFrontEndConfig
from .pooling import make_pooling


MAX_SECONDS = 30.0  # NAVA embeds at most the first 30 s of a reference voice
MIN_SECONDS = 1.0  # shorter clips are zero-padded to 1 s
SILENCE_PEAK = 1e-4  # -80 dBFS: a clip whose peak stays below this carries no voice

# File keys that hold no learned state: the fixed pre-emphasis filter, window and mel basis (recomputed by
# nava_model.dsp) and the training-only speaker classifier.
_IGNORED_PREFIXES = ("spec.torchfbank.", "cls_head.")


class SpeakerAudioError(ValueError):
    """A reference voice that cannot give a meaningful speaker embedding."""


# (stride, num_blocks, conv_exp, kernel_sizes, att_block_red) per stage: the code default, ReDimNet-M.
M_STAGES = (
    (1, 2, 1, [(3, 3)], 12),
    (2, 2, 1, [(3, 3)], 12),
    (1, 3, 1, [(3, 3)], 12),
    (2, 4, 1, [(3, 3)], 8),
    (1, 4, 1, [(3, 3)], 8),
    (2, 4, 1, [(3, 3)], 4),
)


@dataclass(frozen=True)
class ReDimNetConfig:
    """The release files' `model_config` (ReDimNetWrap's keyword arguments); defaults are ReDimNet-M."""

    F: int = 72
    C: int = 16
    block_1d_type: str = "att"
    block_2d_type: str = "convnext_like"
    stages_setup: tuple = M_STAGES
    group_divisor: int | None = 4
    out_channels: int | None = None
    embed_dim: int = 192
    hop_length: int = 160
    pooling_func: str = "ASTP"
    feat_type: str = "pt"
    global_context_att: bool = False
    emb_bn: bool = False
    spec_params: dict = field(
        default_factory=lambda: {"do_spec_aug": False, "freq_mask_width": (0, 6), "time_mask_width": (0, 8)}
    )
    # Training-only options: accepted, no effect on the embedding (the classifier head is not built).
    num_classes: int | None = None
    class_dropout: float = 0.0
    feat_agg_dropout: float = 0.0
    head_activation: str | None = None
    return_all_outputs: bool = False
    tf_optimized_arch: bool = False

    @classmethod
    def from_model_config(cls, model_config: dict | None) -> ReDimNetConfig:
        model_config = dict(model_config or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(model_config) - known)
        if unknown:
            raise CheckpointError(f"ReDimNet model_config has options this loader does not know: {unknown}")
        config = cls(**model_config)
        config.validate()
        return config

    def validate(self) -> None:
        if self.feat_type not in ("pt", "pt_mel"):
            raise CheckpointError(f"ReDimNet feat_type {self.feat_type!r} (TensorFlow features) is not supported; "
                                  "use a release with feat_type 'pt'")
        if self.tf_optimized_arch:
            raise CheckpointError("ReDimNet tf_optimized_arch files are not supported; use a PyTorch release file")

    @property
    def stages(self) -> list[StageSpec]:
        # The 4th item, kernel sizes, is stored in the files but unused: every 2-D block is 3x3.
        return [StageSpec(int(s[0]), int(s[1]), int(s[2]), s[4]) for s in self.stages_setup]

    @property
    def front_end(self) -> MelFrontEndConfig:
        spectral = {f.name for f in fields(MelFrontEndConfig)}
        options = {k: v for k, v in self.spec_params.items() if k in spectral}  # the rest is SpecAugment
        return MelFrontEndConfig(n_mels=self.F, hop_length=self.hop_length, **options)

    def to_model_config(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


class ReDimNetSpeakerEncoder(nn.Module):
    def __init__(self, config: ReDimNetConfig = ReDimNetConfig(), operations=nn, device=None, dtype=None):
        super().__init__()
        self.config = config
        factory = dict(device=device, dtype=dtype)
        self.spec = MelFrontEnd(config.front_end, **factory)
        self.backbone = ReDimNetBackbone(config.F, config.C, config.block_1d_type, config.block_2d_type, config.stages,
                                         config.group_divisor, config.out_channels, operations, **factory)
        frame_dim = config.out_channels or config.F * config.C
        self.pool = make_pooling(config.pooling_func, frame_dim, config.global_context_att, operations, **factory)
        self.bn = nn.BatchNorm1d(self.pool.out_dim, **factory)
        self.linear = operations.Linear(self.pool.out_dim, config.embed_dim, **factory)
        self.bn2 = nn.BatchNorm1d(config.embed_dim, **factory) if config.emb_bn else None

    @property
    def sample_rate(self) -> int:
        return self.config.front_end.sample_rate

    def forward(self, waveform: Tensor) -> Tensor:
        """waveform [B, N] at `sample_rate` -> embeddings [B, embed_dim]."""
        dtype = self.linear.weight.dtype
        features = self.spec(waveform).to(dtype)  # [B, F, T]
        frames = self.backbone(features[:, None])
        out = self.linear(self.bn(self.pool(frames)))
        return out if self.bn2 is None else self.bn2(out)

    @torch.no_grad()
    def embed(self, waveform: Tensor, sample_rate: int) -> Tensor:
        """A reference voice [C, N] or [N] at any rate -> its embedding [embed_dim] (fp32).

        As NAVA: channels averaged to mono, resampled to 16 kHz, first 30 s, zero-padded to at least 1 s.
        """
        clip = reference_clip(waveform, sample_rate, self.sample_rate)
        device = self.linear.weight.device
        return self(clip[None].to(device)).float()[0]


def reference_clip(waveform: Tensor, sample_rate: int, target_rate: int = 16000) -> Tensor:
    """The mono, `target_rate`, <= 30 s, >= 1 s clip NAVA embeds; raises SpeakerAudioError for unusable audio.

    `waveform` is [samples], [channels, samples] or a batch of one [1, channels, samples] (ComfyUI's AUDIO).
    """
    if isinstance(waveform, Tensor) and waveform.ndim == 3 and waveform.shape[0] == 1:
        waveform = waveform[0]
    if not isinstance(waveform, Tensor) or waveform.ndim not in (1, 2):
        shape = tuple(waveform.shape) if isinstance(waveform, Tensor) else type(waveform).__name__
        raise SpeakerAudioError(f"reference voice must be one waveform [channels, samples] or [samples], got {shape}")
    if not isinstance(sample_rate, numbers.Integral) or sample_rate <= 0:
        raise SpeakerAudioError(f"reference voice sample rate must be a positive integer, got {sample_rate!r}")
    if waveform.shape[-1] == 0:
        raise SpeakerAudioError("reference voice has no samples: give a recording of the speaker (1 s or more)")
    mono = waveform.float().reshape(-1, waveform.shape[-1]).mean(0)
    # Resample only what is kept, plus a margin longer than the resampling filter.
    mono = mono[: math.ceil((MAX_SECONDS + 1.0) * sample_rate)]
    if not torch.isfinite(mono).all():
        raise SpeakerAudioError("reference voice contains NaN or infinite samples: the file is damaged")
    mono = dsp.resample(mono, int(sample_rate), target_rate)[: int(MAX_SECONDS * target_rate)]
    peak = mono.abs().max().item()
    if peak < SILENCE_PEAK:
        raise SpeakerAudioError(
            f"reference voice is silent (peak {peak:.1e}, after mixing the channels to mono, in the first "
            f"{MAX_SECONDS:.0f} s): give a recording in which the speaker is audible, or remove this voice"
        )
    shortfall = int(MIN_SECONDS * target_rate) - mono.shape[-1]
    return torch.nn.functional.pad(mono, (0, shortfall)) if shortfall > 0 else mono


def short_voice_warning(num_samples: int, sample_rate: int, name: str = "reference voice") -> str | None:
    """A warning for a voice shorter than ReDimNet's MIN_SECONDS window (it is zero-padded, so its timbre is a
    guess), or None. The node and the CLI both check voices with this before any model is loaded."""
    seconds = num_samples / sample_rate
    if seconds >= MIN_SECONDS:
        return None
    return (
        f"{name} is only {seconds:.2f} s long, shorter than the speaker encoder's {MIN_SECONDS:g} s window: it is "
        "padded with silence and the timbre will be unreliable; use a few seconds of clean speech"
    )


def _config_from_file(checkpoint: Checkpoint) -> ReDimNetConfig:
    model_config = checkpoint.extra.get("model_config")
    if model_config is None:
        model_config = checkpoint.metadata_json("model_config")
    return ReDimNetConfig.from_model_config(model_config)


def load_redimnet(path, device="cpu", dtype=torch.float32, operations=nn) -> ReDimNetSpeakerEncoder:
    """A ReDimNet release file (a path or an opened `Checkpoint`), built from the `model_config` it stores."""
    checkpoint = open_checkpoint(path)
    require_component(checkpoint, "speaker_encoder")
    config = _config_from_file(checkpoint)
    try:
        layout = state_dict_shapes(ReDimNetSpeakerEncoder(config, operations, device="meta"))
    except ValueError as exc:
        raise CheckpointError(f"{checkpoint.name}: unsupported ReDimNet model_config ({exc})") from exc
    learned = [k for k in checkpoint.shapes if not k.startswith(_IGNORED_PREFIXES)]
    require_layout(checkpoint, "ReDimNet", {k: checkpoint.shapes[k] for k in learned}, layout)
    state = checkpoint.read(learned)
    model = ReDimNetSpeakerEncoder(config, operations, device=device, dtype=dtype)
    model.load_state_dict(state)
    return model.eval()


def front_end_buffers(config: ReDimNetConfig) -> dict[str, Tensor]:
    """The fixed `spec.torchfbank.*` buffers a release file carries (pre-emphasis taps, window, mel basis)."""
    fe = config.front_end
    buffers = {
        "spec.torchfbank.2.spectrogram.window": torch.hamming_window(fe.win_length),
        "spec.torchfbank.2.mel_scale.fb": dsp.mel_filterbank(fe.n_fft // 2 + 1, fe.f_min, fe.f_max, fe.n_mels,
                                                             fe.sample_rate),
    }
    if fe.do_preemph:
        buffers["spec.torchfbank.1.flipped_filter"] = torch.tensor([[[-PREEMPHASIS, 1.0]]])
    return buffers


def seeded_state_dict(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, Tensor]:
    """Per-key seeded weights for a ReDimNet layout, with valid BatchNorm statistics.

    running_var = 1 + 0.1 |N| (seeded per key) so that every BatchNorm divides by a positive variance;
    num_batches_tracked = 0. Shared by the parity fixtures and the tiny file.
    """
    state = random_state_dict(shapes, seed)
    for key, shape in shapes.items():
        if key.endswith("running_var"):
            state[key] = 1.0 + seeded_tensor(key, shape, seed).abs()
        elif key.endswith("num_batches_tracked"):
            state[key] = torch.zeros(shape, dtype=torch.long)
    return state


TINY_CONFIG = ReDimNetConfig(
    C=4,
    stages_setup=((1, 1, 1, [(3, 3)], 12), (2, 1, 1, [(3, 3)], 8)),
)


def write_tiny_redimnet(path, seed: int = 0) -> None:
    """A random-weight ReDimNet at `path` in the release format (72 mels, 192-d embedding, 2 small stages)."""
    shapes = state_dict_shapes(ReDimNetSpeakerEncoder(TINY_CONFIG, device="meta"))
    state = seeded_state_dict(shapes, seed) | front_end_buffers(TINY_CONFIG)
    torch.save({"model_config": TINY_CONFIG.to_model_config(), "state_dict": state, "nava_tiny": True}, path)
