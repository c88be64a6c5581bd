"""The NAVA Align-then-Fuse MMDiT (upstream `WanAVModel`; components.md §1).

video latent ─ Conv3d patches ─┐                                          ┌─ head ─ unpatchify ─ v_video
                               ├─ 10 double-stream ─ 20 single-stream ────┤
audio latent ─ ConvMLP embed ──┘   blocks (align)     blocks (fuse)       └─ head_audio ─ v_audio
text (+ speaker rows) ─ text_embedding ─ cross-attention context of every block
timestep ─ sinusoid ─ time_embedding (e, heads) ─ time_projection (e0, blocks)

Key names match `NAVA.safetensors` without its `backbone.` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..config import NavaConfig
from ..random_init import state_dict_shapes
from .blocks import Block, Streams, modulate, per_stream
from .rope import joint_rope


@dataclass
class SpeakerCondition:
    """Voice embeddings written into the text context at the speaker-placeholder rows."""

    embeddings: Tensor  # [B, N, 192]; an all-zero row selects the learned null token
    positions: Tensor  # [B, N] long: context row of each speaker, -1 = unused slot


class TimeEmbedding(NamedTuple):
    e: Tensor  # [B, G, dim] fp32: modulates the heads
    e0: Tensor  # [B, G, 6, dim] fp32: modulates the blocks


def timestep_sinusoid(t: Tensor, dim: int) -> Tensor:
    """[cos(t·ω_k), sin(t·ω_k)] with ω_k = 10000^(−k/(dim/2)), computed in float64."""
    half = dim // 2
    angles = t.double()[:, None] * 10000 ** (-torch.arange(half, dtype=torch.float64, device=t.device) / half)
    return torch.cat([angles.cos(), angles.sin()], dim=1)


class AudioEmbedder(nn.Sequential):
    """Conv1d(k7) → SiLU → SwiGLU ConvMLP(k7) over the sequence; [B, L, 128] → [B, L, dim] (keys `.0`, `.2.w*`)."""

    def __init__(self, config: NavaConfig, operations, device=None, dtype=None):
        kernel = config.audio_embed_kernel
        conv = dict(kernel_size=kernel, padding=kernel // 2, device=device, dtype=dtype)
        super().__init__(
            operations.Conv1d(config.audio_in_channels, config.dim, **conv),
            nn.SiLU(),
            ConvMLP(config.dim, config.audio_embed_hidden, operations, conv),
        )

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class ConvMLP(nn.Module):
    """w2(silu(w1 x) ⊙ w3 x) with bias-free convolutions over the sequence."""

    def __init__(self, dim: int, hidden: int, operations, conv: dict):
        super().__init__()
        self.w1 = operations.Conv1d(dim, hidden, bias=False, **conv)
        self.w2 = operations.Conv1d(hidden, dim, bias=False, **conv)
        self.w3 = operations.Conv1d(dim, hidden, bias=False, **conv)

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(nn.functional.silu(self.w1(x)) * self.w3(x))


class SpeakerEmbedder(nn.Module):
    """ReDimNet embedding [.., 192] → a context row [.., dim]; zero embeddings map to a learned null token."""

    NULL_THRESHOLD = 1e-6  # squared norm at or below which an embedding counts as "no speaker"

    def __init__(self, config: NavaConfig, operations, device=None, dtype=None):
        super().__init__()
        factory = dict(device=device, dtype=dtype)
        self.net = nn.Sequential(
            operations.LayerNorm(config.speaker_dim, **factory),
            operations.Linear(config.speaker_dim, config.dim, **factory),
            nn.SiLU(),
            operations.Linear(config.dim, config.dim, **factory),
        )
        self.out_norm = operations.LayerNorm(config.dim, **factory)
        self.null_token = nn.Parameter(torch.empty(1, config.dim, **factory))

    def forward(self, embeddings: Tensor) -> Tensor:
        rows = self.out_norm(self.net(embeddings))
        is_null = embeddings.float().pow(2).sum(dim=-1, keepdim=True) <= self.NULL_THRESHOLD
        return torch.where(is_null, self.null_token.to(rows), rows)


class Head(nn.Module):
    """Modulated LayerNorm and a Linear to the patch outputs."""

    def __init__(self, dim: int, out_features: int, eps: float, operations, device=None, dtype=None):
        super().__init__()
        self.norm = operations.LayerNorm(dim, eps=eps, elementwise_affine=False, device=device, dtype=dtype)
        self.head = operations.Linear(dim, out_features, device=device, dtype=dtype)
        self.modulation = nn.Parameter(torch.empty(1, 2, dim, device=device, dtype=dtype))

    def forward(self, x: Tensor, e: Tensor, dtype: torch.dtype) -> Tensor:
        """x [B, L, dim] fp32, e [B, G, dim] fp32 (G equal token groups)."""
        shift, scale = (self.modulation.float().to(e.device) + e[:, :, None]).unbind(2)
        return self.head(modulate(self.norm(x), shift, scale).to(dtype))


class NavaMMDiT(nn.Module):
    """Predicts the flow velocities of a video latent, an audio latent, or both, given text (+ voices) and t.

    `compute_dtype` is what the layers run in (default: the construction dtype); `attention_backend`
    is one of "auto" | "sdpa" | "flash" | "math" (see attention.py).
    """

    def __init__(self, config: NavaConfig, operations=nn, device=None, dtype=None):
        super().__init__()
        config.validate()
        self.config = config
        self.compute_dtype = dtype if dtype in (torch.float32, torch.float16, torch.bfloat16) else torch.float32
        self.attention_backend = "auto"
        factory = dict(device=device, dtype=dtype)
        dim = config.dim

        self.patch_embedding = operations.Conv3d(
            config.video_in_channels, dim, kernel_size=config.patch_size, stride=config.patch_size, **factory
        )
        self.patch_embedding_audio = AudioEmbedder(config, operations, **factory)
        self.speaker_embedding = SpeakerEmbedder(config, operations, **factory)
        self.text_embedding = nn.Sequential(
            operations.Linear(config.text_dim, dim, **factory),
            nn.GELU(approximate="tanh"),
            operations.Linear(dim, dim, **factory),
        )
        self.time_embedding = nn.Sequential(
            operations.Linear(config.freq_dim, dim, **factory), nn.SiLU(), operations.Linear(dim, dim, **factory)
        )
        self.time_projection = nn.Sequential(nn.SiLU(), operations.Linear(dim, 6 * dim, **factory))

        def blocks(count: int, twin_audio: bool) -> nn.ModuleList:
            return nn.ModuleList(
                Block(dim, config.ffn_dim, config.num_heads, config.eps, twin_audio, operations, **factory)
                for _ in range(count)
            )

        self.double_blocks = blocks(config.num_double_blocks, twin_audio=True)
        self.single_blocks = blocks(config.num_single_blocks, twin_audio=False)
        self.head = Head(dim, config.video_out_features, config.eps, operations, **factory)
        self.head_audio = Head(dim, config.audio_in_channels, config.eps, operations, **factory)

    # -- inputs ------------------------------------------------------------------------------------
    def _check_inputs(self, video, audio, timestep, context, speaker) -> int:
        cfg = self.config
        if video is None and audio is None:
            raise ValueError("NavaMMDiT needs a video latent, an audio latent or both")
        batch = (video if video is not None else audio).shape[0]
        if video is not None:
            if video.ndim != 5 or video.shape[1] != cfg.video_in_channels:
                raise ValueError(
                    f"video latent must be [B, {cfg.video_in_channels}, F, H, W], got {tuple(video.shape)}"
                )
            _, ph, pw = cfg.patch_size
            if video.shape[3] % ph or video.shape[4] % pw:
                raise ValueError(
                    f"video latent height and width must be multiples of {ph} and {pw} (pixels multiples of 32), "
                    f"got {tuple(video.shape[3:])}"
                )
        if audio is not None and (audio.ndim != 3 or audio.shape[2] != cfg.audio_in_channels):
            raise ValueError(f"audio latent must be [B, L, {cfg.audio_in_channels}], got {tuple(audio.shape)}")
        if audio is not None and audio.shape[0] != batch:
            raise ValueError(f"video and audio batch sizes differ: {batch} vs {audio.shape[0]}")
        if timestep.shape != (batch,):
            raise ValueError(f"timestep must have shape [{batch}], got {tuple(timestep.shape)}")
        if context.ndim != 3 or context.shape[0] != batch or context.shape[2] != cfg.text_dim:
            raise ValueError(
                f"context must be [{batch}, L <= {cfg.text_len}, {cfg.text_dim}], got {tuple(context.shape)}"
            )
        if context.shape[1] > cfg.text_len:
            raise ValueError(f"context has {context.shape[1]} rows; the model takes at most {cfg.text_len} text tokens")
        if speaker is not None:
            emb, pos = speaker.embeddings, speaker.positions
            if emb.ndim != 3 or emb.shape[0] != batch or emb.shape[2] != cfg.speaker_dim or pos.shape != emb.shape[:2]:
                raise ValueError(
                    f"speaker embeddings must be [{batch}, N, {cfg.speaker_dim}] with positions [{batch}, N], "
                    f"got {tuple(emb.shape)} and {tuple(pos.shape)}"
                )
            if bool((pos >= cfg.text_len).any()):
                raise ValueError(f"speaker positions must be context rows < {cfg.text_len} (or -1 for unused)")
        return batch

    @staticmethod
    def _masked_rows(cross_modal_masked: Tensor | bool, batch: int) -> Tensor:
        masked = torch.as_tensor(cross_modal_masked, dtype=torch.bool).cpu()
        if masked.ndim > 1 or masked.numel() not in (1, batch):
            raise ValueError(f"cross_modal_masked must be a bool or a [{batch}] bool tensor, got {tuple(masked.shape)}")
        return masked.reshape(-1).expand(batch)

    def embed_context(self, context: Tensor, speaker: SpeakerCondition | None) -> Tensor:
        """Text rows zero-padded to text_len, embedded, with speaker rows written over their placeholders."""
        pad = self.config.text_len - context.shape[1]
        context = nn.functional.pad(context.to(self.compute_dtype), (0, 0, 0, pad))
        context = self.text_embedding(context)
        if speaker is None:
            return context
        positions = speaker.positions.to(context.device, torch.long)
        used = positions >= 0
        rows = torch.arange(context.shape[0], device=context.device)[:, None].expand_as(used)
        speaker_rows = self.speaker_embedding(speaker.embeddings.to(context.device, self.compute_dtype)[used])
        context = context.clone()
        context[rows[used], positions[used]] = speaker_rows.to(context.dtype)
        return context

    def embed_time(self, t: Tensor) -> TimeEmbedding:
        """Timesteps of any shape -> e [..., dim] and e0 [..., 6, dim] (fp32), each distinct value embedded once."""
        values, inverse = torch.unique(t.float(), return_inverse=True)
        freq = timestep_sinusoid(values, self.config.freq_dim).to(self.compute_dtype)
        e = self.time_embedding(freq)
        e0 = self.time_projection(e).float().unflatten(-1, (6, self.config.dim))
        return TimeEmbedding(e.float()[inverse], e0[inverse])

    def _stream_times(
        self, timestep: Tensor, video: Tensor | None, audio: Tensor | None, clean_first_frame: bool
    ) -> Streams:
        """Timesteps [B, G] per present stream, for G equal token groups: one group, or one per latent frame
        when the video's first frame is clean (t = 0 there)."""
        t = timestep.float()[:, None]
        video_t = None
        if video is not None:
            video_t = t
            if clean_first_frame:
                video_t = t.repeat(1, video.shape[2])
                video_t[:, 0] = 0
        return video_t, (None if audio is None else t)

    # -- forward -----------------------------------------------------------------------------------
    def forward(
        self,
        video: Tensor | None,
        audio: Tensor | None,
        timestep: Tensor,
        context: Tensor,
        speaker: SpeakerCondition | None = None,
        clean_first_frame: bool = False,
        cross_modal_masked: Tensor | bool = False,
    ) -> tuple[Tensor | None, Tensor | None]:
        batch = self._check_inputs(video, audio, timestep, context, speaker)
        masked = self._masked_rows(cross_modal_masked, batch)
        cdt = self.compute_dtype

        grid = None
        xs = [None, None]
        if video is not None:
            patches = self.patch_embedding(video.to(cdt))
            grid = tuple(patches.shape[2:])
            xs[0] = patches.flatten(2).transpose(1, 2).float()
        if audio is not None:
            xs[1] = self.patch_embedding_audio(audio.to(cdt)).float()
        audio_len = 0 if audio is None else audio.shape[1]

        embedded = per_stream(self.embed_time, self._stream_times(timestep, video, audio, clean_first_frame))
        e = per_stream(lambda emb: emb.e, embedded)
        e0 = per_stream(lambda emb: emb.e0, embedded)
        ctx = self.embed_context(context, speaker)
        rope = joint_rope(grid, audio_len, self.config, device=ctx.device)

        xs = tuple(xs)
        for block in (*self.double_blocks, *self.single_blocks):
            xs = block(xs, e0, ctx, rope, masked, self.attention_backend)

        video_out = audio_out = None
        if video is not None:
            video_out = self.unpatchify(self.head(xs[0], e[0], cdt), grid).to(video.dtype)
        if audio is not None:
            audio_out = self.head_audio(xs[1], e[1], cdt).to(audio.dtype)
        return video_out, audio_out

    def unpatchify(self, x: Tensor, grid: tuple[int, int, int]) -> Tensor:
        """[B, F·H·W, pt·ph·pw·C] (C fastest) -> [B, C, F·pt, H·ph, W·pw]."""
        pt, ph, pw = self.config.patch_size
        frames, height, width = grid
        x = x.reshape(x.shape[0], frames, height, width, pt, ph, pw, -1)
        x = torch.einsum("bfhwpqrc->bcfphqwr", x)
        return x.reshape(x.shape[0], x.shape[1], frames * pt, height * ph, width * pw)


def build_meta(config: NavaConfig, operations=nn, dtype=torch.float32) -> NavaMMDiT:
    """The model on the meta device: layout and shapes without memory."""
    return NavaMMDiT(config, operations=operations, device="meta", dtype=dtype)


def parameter_summary(config: NavaConfig) -> tuple[int, int]:
    """(number of tensors, number of parameters) of the state dict, built on the meta device."""
    shapes = state_dict_shapes(build_meta(config))
    return len(shapes), sum(torch.Size(s).numel() for s in shapes.values())
