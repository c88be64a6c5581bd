"""LTX-2 audio VAE + vocoder: NAVA's audio latent tokens [B, L, 128] <-> stereo waveform.

Decode: de-normalise the tokens with the 128 per-channel statistics, unpatchify to [B, 8, L, 16],
decode to a stereo log-mel [B, 2, 4L - 3, 64] (100 frames/s), vocode (48 kHz with the LTX-2.3
BigVGAN + bandwidth extension, 24 kHz with the LTX-2.0 HiFi-GAN). NAVA itself resamples to 16 kHz
and clamps to ±0.99; `output_rate=16000` reproduces that.
Encode: resample to 16 kHz, magnitude log-mel (Slaney scale and norm), encoder mean, normalise.
"""

from __future__ import annotations

import json
import os

import torch
from safetensors.torch import save_file
from torch import Tensor, nn

from nava_model import dsp
from nava_model.checkpoints import CheckpointError, open_checkpoint
from nava_model.components import AUDIO_VAE, require_component
from nava_model.random_init import random_state_dict
from nava_model.vae.ltx_audio.autoencoder import AudioDecoder, AudioEncoder, AudioVaeConfig
from nava_model.vae.ltx_audio.file_layout import STATISTICS, VocoderSpec, configs, file_name, internal_names
from nava_model.vae.ltx_audio.vocoder import BandwidthConfig, GeneratorConfig, HiFiGANVocoder, VocoderWithBWE


NAVA_OUTPUT_PEAK = 0.99  # NAVA clamps its resampled 16 kHz output to this


class LatentStatistics(nn.Module):
    """Per-feature mean and std of the patchified latent (feature index = channel·16 + mel row)."""

    def __init__(self, features: int):
        super().__init__()
        self.register_buffer("mean-of-means", torch.zeros(features))
        self.register_buffer("std-of-means", torch.ones(features))

    def normalize(self, tokens: Tensor) -> Tensor:
        return (tokens - self.get_buffer("mean-of-means")) / self.get_buffer("std-of-means")

    def denormalize(self, tokens: Tensor) -> Tensor:
        return tokens * self.get_buffer("std-of-means") + self.get_buffer("mean-of-means")


def build_vocoder(spec: VocoderSpec, operations=nn) -> nn.Module:
    if spec.has_bwe:
        return VocoderWithBWE(spec.generator, spec.bwe, spec.bandwidth, operations=operations)
    return HiFiGANVocoder(spec.generator, spec.sample_rate, operations=operations)


class LtxAudioVAE(nn.Module):
    def __init__(self, config: AudioVaeConfig, vocoder: VocoderSpec, with_encoder: bool = True,
                 operations=nn, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.config = config
        self.vocoder_spec = vocoder
        self.encoder = AudioEncoder(config, operations=operations, dtype=dtype) if with_encoder else None
        self.decoder = AudioDecoder(config, operations=operations, dtype=dtype)
        self.per_channel_statistics = LatentStatistics(config.token_dim)
        self.vocoder = build_vocoder(vocoder, operations)  # fp32 whatever the VAE dtype

    @property
    def sample_rate(self) -> int:
        """Native output rate of the vocoder (48000 for LTX-2.3, 24000 for LTX-2.0)."""
        return self.vocoder.sample_rate

    @property
    def _vae_param(self) -> Tensor:
        return self.decoder.conv_in.conv.weight

    def tokens_to_latent(self, tokens: Tensor) -> Tensor:
        """[B, L, z·16] -> [B, z, L, 16]."""
        return tokens.unflatten(2, (self.config.z_channels, self.config.latent_rows)).transpose(1, 2)

    def latent_to_tokens(self, latent: Tensor) -> Tensor:
        """[B, z, L, 16] -> [B, L, z·16]."""
        return latent.transpose(1, 2).flatten(2)

    def _check_tokens(self, latent: Tensor) -> None:
        dim = self.config.token_dim
        if latent.ndim != 3 or latent.shape[2] != dim or latent.shape[1] < 1:
            raise ValueError(f"audio latent must be [batch, tokens >= 1, {dim}], got {tuple(latent.shape)}")

    @torch.no_grad()
    def decode_mel(self, latent: Tensor) -> Tensor:
        """Normalised tokens [B, L, 128] -> stereo log-mel [B, 2, 4L - 3, 64]."""
        self._check_tokens(latent)
        param = self._vae_param
        tokens = self.per_channel_statistics.denormalize(latent.to(param.device, torch.float32))
        return self.decoder(self.tokens_to_latent(tokens).to(param.dtype))

    @torch.no_grad()
    def decode(self, latent: Tensor, output_rate: int | None = None) -> Tensor:
        """Normalised tokens [B, L, 128] -> waveform [B, 2, N] in [-1, 1] at `output_rate` (default: native).

        Any other rate resamples the native output (torchaudio's sinc_interp_hann) and clamps to ±0.99,
        as NAVA does for its 16 kHz output.
        """
        if output_rate is not None and (not isinstance(output_rate, int) or output_rate <= 0):
            raise ValueError(f"output_rate must be a positive integer sample rate or None, got {output_rate!r}")
        waveform = self.vocoder(self.decode_mel(latent).float())
        if output_rate is None or output_rate == self.sample_rate:
            return waveform
        return dsp.resample(waveform, self.sample_rate, output_rate).clamp(-NAVA_OUTPUT_PEAK, NAVA_OUTPUT_PEAK)

    def log_mel(self, waveform: Tensor, sample_rate: int) -> Tensor:
        """Waveform [B, C, N] -> the encoder's input [B, C, frames, 64]: log(max(|mel|, 1e-5)) at 16 kHz."""
        cfg = self.config
        waveform = dsp.resample(waveform.float(), sample_rate, cfg.sample_rate)
        mel = dsp.mel_spectrogram(
            waveform, cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.n_fft,
            n_mels=cfg.mel_bins, f_min=0.0, f_max=cfg.sample_rate / 2, power=1.0, norm="slaney", mel_scale="slaney",
        )
        return torch.log(mel.clamp(min=1e-5)).transpose(2, 3)

    @torch.no_grad()
    def encode(self, waveform: Tensor, sample_rate: int) -> Tensor:
        """Waveform [B, C, N] (C = 1 is duplicated to stereo) -> normalised tokens [B, ceil(frames / 4), 128]."""
        if self.encoder is None:
            raise ValueError("this audio VAE file has no encoder weights (decoder only): it cannot encode audio")
        cfg = self.config
        if waveform.ndim != 3 or waveform.shape[1] not in (1, cfg.in_channels):
            raise ValueError(f"waveform must be [batch, 1 or {cfg.in_channels} channels, samples], got {tuple(waveform.shape)}")
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if waveform.shape[2] * cfg.sample_rate <= cfg.n_fft // 2 * sample_rate:
            raise ValueError(f"audio too short to encode: {waveform.shape[2]} samples at {sample_rate} Hz "
                             f"(need more than {cfg.n_fft // 2 / cfg.sample_rate:.3f} s)")
        waveform = waveform.expand(-1, cfg.in_channels, -1)
        param = self._vae_param
        mel = self.log_mel(waveform.to(param.device), sample_rate)
        mean = self.encoder(mel.to(param.dtype)).float()
        return self.per_channel_statistics.normalize(self.latent_to_tokens(mean))


def load_ltx_audio_vae(path: str | os.PathLike, device="cpu", dtype: torch.dtype = torch.float32,
                       operations=nn) -> LtxAudioVAE:
    """An LTX-2 audio VAE + vocoder from a standalone file, a full LTX-2 checkpoint or ComfyUI inner names
    (a path or an opened `Checkpoint`); a full checkpoint's other tensors are never read."""
    checkpoint = open_checkpoint(path)
    require_component(checkpoint, "audio_vae")
    names = internal_names(checkpoint)
    shapes = {names[key]: checkpoint.shapes[key] for key in names}
    needed = ("decoder.conv_in.conv.weight", *STATISTICS)
    missing = [key for key in needed if key not in shapes]
    if missing or not any(key.startswith("vocoder.") for key in shapes):
        what = ", ".join(missing) or "the vocoder"
        raise CheckpointError(f"{checkpoint.name} is not a complete LTX-2 audio VAE file: it lacks {what}. "
                              f"{AUDIO_VAE.name.capitalize()} needs the audio decoder, its statistics and the vocoder in one file.")
    vae_config, vocoder_spec = configs(checkpoint, shapes)
    with_encoder = any(key.startswith("encoder.") for key in shapes)
    model = LtxAudioVAE(vae_config, vocoder_spec, with_encoder, operations=operations, dtype=dtype)
    state = {names[key]: tensor for key, tensor in checkpoint.tensors(names)}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{checkpoint.name}: its tensors do not match its configuration: {exc}") from exc
    return model.to(device).eval()


# --- seeded weights and the tiny file -------------------------------------------------------------

BIGVGAN = dict(resblock="AMP1", final_bias=False)
# The released vocoders (diffusers' convert script and the files' `config` metadata).
LTX23_VOCODER = VocoderSpec(
    GeneratorConfig(1536, (5, 2, 2, 2, 2, 2), (11, 4, 4, 4, 4, 4), final_activation="clamp", **BIGVGAN),
    GeneratorConfig(512, (6, 5, 2, 2, 2), (12, 11, 4, 4, 4), final_activation=None, **BIGVGAN),
    BandwidthConfig(),
    48000,
)
LTX20_VOCODER = VocoderSpec(GeneratorConfig(1024, (6, 5, 2, 2, 2), (16, 15, 8, 4, 4)), sample_rate=24000)

TINY_VAE = AudioVaeConfig(ch=16)
# Released strides and stage counts; one AMP block per stage (kernel 3) instead of three keeps the demo fast.
TINY_AMP = dict(resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1, 3, 5),), **BIGVGAN)
TINY_VOCODER = VocoderSpec(
    GeneratorConfig(64, (5, 2, 2, 2, 2, 2), (11, 4, 4, 4, 4, 4), final_activation="clamp", **TINY_AMP),
    GeneratorConfig(32, (6, 5, 2, 2, 2), (12, 11, 4, 4, 4), final_activation=None, **TINY_AMP),
    BandwidthConfig(),
    48000,
)


def file_config(model: LtxAudioVAE) -> dict:
    """The `config` metadata JSON, in the structure of the released files."""
    return {"audio_vae": model.config.to_json(), "vocoder": model.vocoder_spec.to_json()}


VOCODER_OUTPUT_SCALE = 0.01


def seeded_state_dict(module: nn.Module, seed: int = 0, official_name=file_name) -> dict[str, Tensor]:
    """Seeded weights for `module` under the official key names; fixed buffers keep their computed values.

    Learned tensors come from `random_state_dict` (drawn per official key, so a part gets the same
    weights alone as inside the whole model); the Kaiser filters, STFT bases and mel basis are the
    real ones; std-of-means is exponentiated to stay positive; each vocoder generator's last conv is
    scaled by 1/100, which keeps the random-weight waveform inside the ±1 clamp instead of saturating it
    (a saturated output would hide numerical differences). `official_name` maps the module's keys
    (default: an `LtxAudioVAE`; a bare vocoder passes `lambda key: "vocoder." + key`).
    """
    own = module.state_dict()
    fixed = {name for name, _ in module.named_buffers()} - set(STATISTICS)
    learned = {official_name(key): tuple(value.shape) for key, value in own.items() if key not in fixed}
    weights = random_state_dict(learned, seed)
    std = official_name(STATISTICS[1])
    if std in weights:
        weights[std] = weights[std].exp()
    for key in weights:
        if key.endswith("conv_post.weight"):
            weights[key] = weights[key] * VOCODER_OUTPUT_SCALE
    weights.update({official_name(key): own[key].float().contiguous() for key in own if key in fixed})
    return weights


def write_tiny_ltx_audio_vae(path: str | os.PathLike, seed: int = 0) -> None:
    """A tiny LTX-2.3-layout audio VAE + BigVGAN/BWE vocoder file at `path` (real keys and config, small widths)."""
    model = LtxAudioVAE(TINY_VAE, TINY_VOCODER)
    metadata = {"config": json.dumps(file_config(model)), "nava_tiny": "true"}
    save_file(seeded_state_dict(model, seed), str(path), metadata=metadata)
