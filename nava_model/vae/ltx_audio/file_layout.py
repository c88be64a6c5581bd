"""Which tensors of an LTX-2 file are the audio VAE and vocoder, under which names, with which config.

Layouts read (all mapped to one internal naming: `encoder.*`, `decoder.*`, `per_channel_statistics.*`,
`vocoder.*`, i.e. the official names with `audio_vae.` removed):
* official standalone (`audio_vae.*` + `vocoder.*`, e.g. NAVA's `ltx-2.3-22b-dev_audio_vae.safetensors`);
* a full LTX-2 checkpoint (the same plus `model.diffusion_model.*` and `vae.*`, never read);
* ComfyUI's inner names (both prefixes removed: `encoder.*`, `decoder.*`, `conv_pre.*` or `bwe_generator.*`...).
The hyper-parameters come from the safetensors metadata `config` JSON when present, else from shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nava_model.checkpoints import Checkpoint, CheckpointError
from nava_model.vae.ltx_audio.autoencoder import AudioVaeConfig
from nava_model.vae.ltx_audio.vocoder import BandwidthConfig, GeneratorConfig

VAE_PARTS = ("encoder.", "decoder.")
STATISTICS = ("per_channel_statistics.mean-of-means", "per_channel_statistics.std-of-means")
VOCODER_INNER = ("vocoder.", "bwe_generator.", "mel_stft.", "conv_pre.", "ups.", "resblocks.", "conv_post.", "act_post.")
# Released upsampling stages pair each transposed-conv kernel with one stride (files without a config).
RELEASED_STRIDE = {4: 2, 8: 2, 11: 5, 12: 6, 15: 5, 16: 6}


def internal_names(checkpoint: Checkpoint) -> dict[str, str]:
    """File key -> internal key for every audio VAE / vocoder tensor of the file (others are skipped)."""
    prefixed = checkpoint.has_prefix("audio_vae.")
    names = {}
    for key in checkpoint.shapes:
        if prefixed:
            inner = key.removeprefix("audio_vae.")
            if inner != key and (inner.startswith(VAE_PARTS) or inner in STATISTICS):
                names[key] = inner
            elif key.startswith("vocoder."):
                names[key] = key
        elif key.startswith(VAE_PARTS) or key in STATISTICS:
            names[key] = key
        elif key.startswith(VOCODER_INNER):
            names[key] = "vocoder." + key
    return names


def file_name(internal: str) -> str:
    """Internal key -> official (standalone file) key."""
    return internal if internal.startswith("vocoder.") else "audio_vae." + internal


def _count(shapes: dict, pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for key in shapes if (m := regex.match(key))})


def vae_config_from_shapes(shapes: dict[str, tuple[int, ...]]) -> AudioVaeConfig:
    z_channels = shapes["decoder.conv_in.conv.weight"][1]
    ch = shapes["decoder.conv_out.conv.weight"][1]
    levels = _count(shapes, r"decoder\.up\.(\d+)\.")
    ch_mult = tuple(shapes[f"decoder.up.{i}.block.0.conv2.conv.weight"][0] // ch for i in range(levels))
    encoder_out = shapes.get("encoder.conv_out.conv.weight", (2 * z_channels,))[0]
    return AudioVaeConfig(
        ch=ch,
        ch_mult=ch_mult,
        num_res_blocks=_count(shapes, r"decoder\.up\.0\.block\.(\d+)\.") - 1,
        z_channels=z_channels,
        double_z=encoder_out == 2 * z_channels,
        out_ch=shapes["decoder.conv_out.conv.weight"][0],
        in_channels=shapes.get("encoder.conv_in.conv.weight", (0, 2))[1],
        mel_bins=shapes[STATISTICS[0]][0] // z_channels * 2 ** (levels - 1),
    )


def generator_config_from_shapes(shapes: dict, prefix: str, final_activation: str | None) -> GeneratorConfig:
    width, mel_channels, _ = shapes[f"{prefix}conv_pre.weight"]
    stages = _count(shapes, rf"{re.escape(prefix)}ups\.(\d+)\.weight")
    kernels = tuple(shapes[f"{prefix}ups.{i}.weight"][2] for i in range(stages))
    per_stage = _count(shapes, rf"{re.escape(prefix)}resblocks\.(\d+)\.convs1\.0\.weight") // stages
    units = _count(shapes, rf"{re.escape(prefix)}resblocks\.0\.convs1\.(\d+)\.weight")
    if any(k not in RELEASED_STRIDE for k in kernels) or units != 3:
        raise CheckpointError(
            f"cannot infer the vocoder's strides and dilations (upsampling kernels {kernels}, {units} units per "
            "residual block) and the file has no "
            "`config` metadata: use the released file, which carries it."
        )
    return GeneratorConfig(
        upsample_initial_channel=width,
        upsample_rates=tuple(RELEASED_STRIDE[k] for k in kernels),
        upsample_kernel_sizes=kernels,
        resblock_kernel_sizes=tuple(shapes[f"{prefix}resblocks.{j}.convs1.0.weight"][2] for j in range(per_stage)),
        resblock_dilation_sizes=((1, 3, 5),) * per_stage,
        resblock="AMP1" if f"{prefix}resblocks.0.acts1.0.act.alpha" in shapes else "1",
        final_activation=final_activation,
        final_bias=f"{prefix}conv_post.bias" in shapes,
        mel_channels=mel_channels,
    )


@dataclass(frozen=True)
class VocoderSpec:
    """The vocoder a file holds: a HiFi-GAN generator (LTX-2.0) or BigVGAN-v2 + BWE (LTX-2.3)."""

    generator: GeneratorConfig
    bwe: GeneratorConfig | None = None
    bandwidth: BandwidthConfig | None = None
    sample_rate: int = 24000

    @property
    def has_bwe(self) -> bool:
        return self.bwe is not None

    def to_json(self) -> dict:
        if not self.has_bwe:
            return {**self.generator.to_json(), "output_sampling_rate": self.sample_rate}
        return {"vocoder": self.generator.to_json(), "bwe": {**self.bwe.to_json(), **self.bandwidth.to_json()}}

    @classmethod
    def from_json(cls, cfg: dict) -> VocoderSpec:
        if "bwe" not in cfg:
            return cls(GeneratorConfig.from_json(cfg), sample_rate=int(cfg.get("output_sampling_rate", 24000)))
        bandwidth = BandwidthConfig.from_json(cfg["bwe"])
        return cls(
            GeneratorConfig.from_json(cfg.get("vocoder", {})),
            GeneratorConfig.from_json(cfg["bwe"], apply_final_activation=False),
            bandwidth,
            bandwidth.output_rate,
        )

    @classmethod
    def from_shapes(cls, shapes: dict) -> VocoderSpec:
        if "vocoder.bwe_generator.conv_pre.weight" not in shapes:
            return cls(generator_config_from_shapes(shapes, "vocoder.", "tanh"))
        basis = shapes["vocoder.mel_stft.stft_fn.forward_basis"]
        bandwidth = BandwidthConfig(n_fft=basis[2], n_mels=shapes["vocoder.mel_stft.mel_basis"][0])
        return cls(
            generator_config_from_shapes(shapes, "vocoder.vocoder.", "clamp"),
            generator_config_from_shapes(shapes, "vocoder.bwe_generator.", None),
            bandwidth,
            bandwidth.output_rate,
        )


def configs(checkpoint: Checkpoint, shapes: dict[str, tuple[int, ...]]) -> tuple[AudioVaeConfig, VocoderSpec]:
    """Hyper-parameters from the `config` metadata JSON when the file has it, else from `shapes` (internal names)."""
    config = checkpoint.metadata_json("config") or {}
    try:
        vae = AudioVaeConfig.from_json(config["audio_vae"]) if "audio_vae" in config else vae_config_from_shapes(shapes)
        vocoder = VocoderSpec.from_json(config["vocoder"]) if "vocoder" in config else VocoderSpec.from_shapes(shapes)
    except ValueError as exc:
        raise CheckpointError(f"{checkpoint.name}: {exc}") from exc
    return vae, vocoder
