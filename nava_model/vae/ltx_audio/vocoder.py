"""Mel-to-waveform vocoders of the LTX-2 audio VAE.

* LTX-2.0: a HiFi-GAN generator (LeakyReLU residual blocks, tanh) at 24 kHz stereo.
* LTX-2.3 (the file NAVA ships): a BigVGAN-v2 generator at 16 kHz followed by a bandwidth
  extension to 48 kHz: the 16 kHz output is re-analysed with a causal STFT whose bases are stored
  in the checkpoint, a second BigVGAN-v2 generator predicts a 48 kHz residual from that log-mel,
  and the residual is added to a Hann-windowed-sinc ×3 upsampling of the 16 kHz signal.

Both read stereo log-mels [B, 2, T, 64] and return [B, 2, N]. They run in fp32: bf16 errors
compound through the ~100 sequential convolutions of BigVGAN-v2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nava_model import dsp
from nava_model.vae.ltx_audio.bigvgan import AMPBlock, AntiAliasedSnake, dilated_conv_pairs, interpolate

HIFIGAN_SLOPE = 0.1


@dataclass(frozen=True)
class GeneratorConfig:
    """One mel-to-waveform generator, in the vocabulary of the checkpoint's `config` JSON."""

    upsample_initial_channel: int
    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5),) * 3
    resblock: str = "1"  # "1": HiFi-GAN, "AMP1": BigVGAN-v2 with SnakeBeta
    final_activation: str | None = "tanh"  # "tanh" | "clamp" | None
    final_bias: bool = True
    mel_channels: int = 128  # stereo: 2 x 64 mel bins, left first

    @property
    def is_bigvgan(self) -> bool:
        return self.resblock == "AMP1"

    @classmethod
    def from_json(cls, cfg: dict, apply_final_activation: bool = True) -> GeneratorConfig:
        resblock = str(cfg.get("resblock", "1"))
        if resblock not in ("1", "AMP1"):
            raise ValueError(f"unsupported vocoder resblock {resblock!r} (LTX-2 files use '1' or 'AMP1')")
        if resblock == "AMP1" and cfg.get("activation", "snakebeta") != "snakebeta":
            raise ValueError(f"unsupported BigVGAN activation {cfg.get('activation')!r} (LTX-2.3 uses 'snakebeta')")
        if not cfg.get("stereo", True):
            raise ValueError("mono LTX vocoders are not supported (every released LTX-2 vocoder is stereo)")
        final = None
        if apply_final_activation and cfg.get("apply_final_activation", True):
            final = "tanh" if cfg.get("use_tanh_at_final", True) else "clamp"
        return cls(
            upsample_initial_channel=int(cfg.get("upsample_initial_channel", 1024)),
            upsample_rates=tuple(cfg.get("upsample_rates", (6, 5, 2, 2, 2))),
            upsample_kernel_sizes=tuple(cfg.get("upsample_kernel_sizes", (16, 15, 8, 4, 4))),
            resblock_kernel_sizes=tuple(cfg.get("resblock_kernel_sizes", (3, 7, 11))),
            resblock_dilation_sizes=tuple(tuple(d) for d in cfg.get("resblock_dilation_sizes", ((1, 3, 5),) * 3)),
            resblock=resblock,
            final_activation=final,
            final_bias=bool(cfg.get("use_bias_at_final", True)),
        )

    def to_json(self) -> dict:
        cfg = {
            "upsample_initial_channel": self.upsample_initial_channel,
            "resblock": self.resblock,
            "upsample_rates": list(self.upsample_rates),
            "resblock_kernel_sizes": list(self.resblock_kernel_sizes),
            "upsample_kernel_sizes": list(self.upsample_kernel_sizes),
            "resblock_dilation_sizes": [list(d) for d in self.resblock_dilation_sizes],
            "stereo": True,
            "use_tanh_at_final": self.final_activation == "tanh",
            "use_bias_at_final": self.final_bias,
        }
        if self.is_bigvgan:
            cfg["activation"] = "snakebeta"
        if self.final_activation is None:
            cfg["apply_final_activation"] = False
        return cfg


class HiFiGANResBlock(nn.Module):
    """Three residual units; unit i: lrelu → conv(k, dilation d_i) → lrelu → conv(k) added to its input."""

    def __init__(self, channels: int, kernel: int, dilations, operations=nn, device=None, dtype=None):
        super().__init__()
        self.convs1, self.convs2 = dilated_conv_pairs(channels, kernel, dilations, operations, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        for conv1, conv2 in zip(self.convs1, self.convs2):
            x = x + conv2(F.leaky_relu(conv1(F.leaky_relu(x, HIFIGAN_SLOPE)), HIFIGAN_SLOPE))
        return x


class Generator(nn.Module):
    """conv_pre → per stage: upsample (transposed conv) → mean of the stage's residual blocks → act → conv_post."""

    def __init__(self, config: GeneratorConfig, operations=nn, device=None, dtype=None):
        super().__init__()
        self.config = config
        width = config.upsample_initial_channel
        factory = dict(device=device, dtype=dtype)
        self.conv_pre = operations.Conv1d(config.mel_channels, width, 7, padding=3, **factory)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        block = AMPBlock if config.is_bigvgan else HiFiGANResBlock
        for stage, (rate, kernel) in enumerate(zip(config.upsample_rates, config.upsample_kernel_sizes)):
            channels = width // 2 ** (stage + 1)
            self.ups.append(
                operations.ConvTranspose1d(2 * channels, channels, kernel, stride=rate, padding=(kernel - rate) // 2, **factory)
            )
            for res_kernel, dilations in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes):
                self.resblocks.append(block(channels, res_kernel, dilations, operations=operations, **factory))
        final = width // 2 ** len(config.upsample_rates)
        # HiFi-GAN's last activation is a default LeakyReLU (slope 0.01), not the 0.1 of its stages.
        self.act_post = AntiAliasedSnake(final, **factory) if config.is_bigvgan else nn.LeakyReLU()
        self.conv_post = operations.Conv1d(final, 2, 7, padding=3, bias=config.final_bias, **factory)

    def forward(self, mel: Tensor) -> Tensor:
        """[B, 2, T, n_mels] log-mel -> [B, 2, T * hop] waveform."""
        x = self.unbounded(mel)
        if self.config.final_activation == "tanh":
            return torch.tanh(x)
        if self.config.final_activation == "clamp":
            return x.clamp(-1, 1)
        return x

    def unbounded(self, mel: Tensor) -> Tensor:
        """The waveform before the final tanh / clamp."""
        x = self.conv_pre(mel.transpose(2, 3).flatten(1, 2))
        per_stage = len(self.config.resblock_kernel_sizes)
        for stage, up in enumerate(self.ups):
            if not self.config.is_bigvgan:
                x = F.leaky_relu(x, HIFIGAN_SLOPE)
            x = up(x)
            blocks = self.resblocks[stage * per_stage : (stage + 1) * per_stage]
            x = torch.stack([block(x) for block in blocks]).mean(0)
        return self.conv_post(self.act_post(x))


# --- bandwidth extension ------------------------------------------------------------------------


def causal_stft_bases(n_fft: int, hop: int) -> tuple[Tensor, Tensor]:
    """Forward and inverse STFT bases [2 * (n_fft/2 + 1), 1, n_fft] (real rows, then imaginary rows).

    Forward rows are the DFT rows e^{-2πikn/N} times a periodic Hann window. The inverse basis is the
    windowed pseudo-inverse of (n_fft / hop)·DFT; the DFT rows are orthogonal, so the pseudo-inverse is
    each row divided by its squared norm (N at DC and Nyquist, N/2 elsewhere, empty rows stay zero).
    It is stored in the files but unused at inference.
    """
    n_freqs = n_fft // 2 + 1
    dft = torch.fft.fft(torch.eye(n_fft, dtype=torch.float64, device="cpu"))[:n_freqs]
    basis = torch.cat([dft.real, dft.imag])  # [2 * n_freqs, n_fft]
    norms = basis.pow(2).sum(dim=1, keepdim=True)
    inverse = torch.where(norms > 0.5, basis / norms.clamp(min=0.5), 0.0) * hop / n_fft
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64, device="cpu")
    return (basis * window)[:, None].float(), (inverse * window)[:, None].float()


class CausalSTFT(nn.Module):
    """Magnitude STFT as a strided conv with the stored bases; left-only padding, so no look-ahead."""

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.hop = hop
        self.left_pad = n_fft - hop
        n_freqs = n_fft // 2 + 1
        self.register_buffer("forward_basis", torch.zeros(2 * n_freqs, 1, n_fft))
        self.register_buffer("inverse_basis", torch.zeros(2 * n_freqs, 1, n_fft))

    def forward(self, waveform: Tensor) -> Tensor:
        """[N, samples] -> magnitude [N, n_freqs, samples / hop]."""
        spec = F.conv1d(F.pad(waveform[:, None], (self.left_pad, 0)), self.forward_basis.to(waveform.dtype), stride=self.hop)
        real, imag = spec.chunk(2, dim=1)
        return torch.sqrt(real**2 + imag**2)


class CausalLogMel(nn.Module):
    def __init__(self, n_fft: int, hop: int, n_mels: int):
        super().__init__()
        self.stft_fn = CausalSTFT(n_fft, hop)
        self.register_buffer("mel_basis", torch.zeros(n_mels, n_fft // 2 + 1))

    def forward(self, waveform: Tensor) -> Tensor:
        """[N, samples] -> log(max(mel magnitude, 1e-5)) [N, n_mels, frames]."""
        mel = self.mel_basis.to(waveform.dtype) @ self.stft_fn(waveform)
        return torch.log(mel.clamp(min=1e-5))


def hann_sinc_upsampler(ratio: int, lowpass_width: int = 6, rolloff: float = 0.99) -> Tensor:
    """Interpolation kernel [1, 1, 2·⌈width/rolloff⌉·ratio + 1] of torchaudio's sinc_interp_hann for ×ratio."""
    half = math.ceil(lowpass_width / rolloff)
    time = (torch.arange(2 * half * ratio + 1, dtype=torch.float64, device="cpu") / ratio - half) * rolloff
    window = torch.cos(time.clamp(-lowpass_width, lowpass_width) * math.pi / lowpass_width / 2) ** 2
    return (torch.sinc(time) * window * rolloff / ratio).float().view(1, 1, -1)


class SincUpsample(nn.Module):
    """×ratio Hann-windowed-sinc interpolation, edges replicated; the kernel is computed, not stored."""

    def __init__(self, ratio: int):
        super().__init__()
        self.ratio = ratio
        self.register_buffer("kernel", hann_sinc_upsampler(ratio), persistent=False)
        taps = self.kernel.shape[-1]
        self.pad = (taps - 1) // (2 * ratio)
        self.crop = (taps - 1, taps - ratio)

    def forward(self, x: Tensor) -> Tensor:
        return interpolate(x, self.kernel, self.ratio, self.pad, self.crop)


@dataclass(frozen=True)
class BandwidthConfig:
    input_rate: int = 16000
    output_rate: int = 48000
    hop: int = 80
    n_fft: int = 512
    n_mels: int = 64

    @classmethod
    def from_json(cls, cfg: dict) -> BandwidthConfig:
        return cls(
            input_rate=int(cfg.get("input_sampling_rate", 16000)),
            output_rate=int(cfg.get("output_sampling_rate", 48000)),
            hop=int(cfg.get("hop_length", 80)),
            n_fft=int(cfg.get("n_fft", 512)),
            n_mels=int(cfg.get("num_mels", 64)),
        )

    def to_json(self) -> dict:
        return {
            "input_sampling_rate": self.input_rate,
            "output_sampling_rate": self.output_rate,
            "hop_length": self.hop,
            "n_fft": self.n_fft,
            "win_size": self.n_fft,
            "num_mels": self.n_mels,
        }


class HiFiGANVocoder(Generator):
    """The LTX-2.0 vocoder: one HiFi-GAN generator, its keys directly under `vocoder.`."""

    def __init__(self, config: GeneratorConfig, sample_rate: int = 24000, operations=nn, device=None):
        super().__init__(config, operations=operations, device=device, dtype=torch.float32)
        self.sample_rate = sample_rate

    def forward(self, mel: Tensor) -> Tensor:
        return super().forward(mel.float())


class VocoderWithBWE(nn.Module):
    """The LTX-2.3 vocoder: BigVGAN-v2 at the input rate, then bandwidth extension to the output rate."""

    def __init__(self, vocoder: GeneratorConfig, bwe: GeneratorConfig, bandwidth: BandwidthConfig, operations=nn, device=None):
        super().__init__()
        self.bandwidth = bandwidth
        self.sample_rate = bandwidth.output_rate
        self.vocoder = Generator(vocoder, operations=operations, device=device, dtype=torch.float32)
        self.bwe_generator = Generator(bwe, operations=operations, device=device, dtype=torch.float32)
        self.mel_stft = CausalLogMel(bandwidth.n_fft, bandwidth.hop, bandwidth.n_mels)
        self.resampler = SincUpsample(bandwidth.output_rate // bandwidth.input_rate)
        self._fill_fixed_buffers()

    def forward(self, mel: Tensor) -> Tensor:
        low = self.vocoder(mel.float())
        batch, channels, length = low.shape
        low = F.pad(low, (0, -length % self.bandwidth.hop))  # whole mel frames
        low_mel = self.mel_stft(low.flatten(0, 1)).unflatten(0, (batch, channels))
        residual = self.bwe_generator(low_mel.transpose(2, 3))
        high = (residual + self.resampler(low)).clamp(-1, 1)
        return high[..., : length * self.bandwidth.output_rate // self.bandwidth.input_rate]

    def _fill_fixed_buffers(self) -> None:
        """The real STFT bases and mel filterbank (a checkpoint's stored values replace them on loading)."""
        bw = self.bandwidth
        forward, inverse = causal_stft_bases(bw.n_fft, bw.hop)
        with torch.device("cpu"):  # real values even when the model is built on the meta device
            filterbank = dsp.mel_filterbank(
                bw.n_fft // 2 + 1, 0.0, bw.input_rate / 2, bw.n_mels, bw.input_rate, norm="slaney", mel_scale="slaney"
            )
        with torch.no_grad():
            self.mel_stft.stft_fn.forward_basis.copy_(forward)
            self.mel_stft.stft_fn.inverse_basis.copy_(inverse)
            self.mel_stft.mel_basis.copy_(filterbank.T)
