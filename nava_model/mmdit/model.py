"""The NAVA Align-then-Fuse MMDiT (upstream `WanAVModel`).

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
from ..fp8 import compute_dtype_for
from ..parallel.ulysses import SequenceParallel, UlyssesSequence
from ..random_init import state_dict_shapes
from .attention import RowMask, check_backend, check_math_fits, resolve_backend
from .blocks import AUDIO, VIDEO, Block, Streams, modulate
from .compile import CompiledBlocks, check_compile_choice
from .rope import Rope, joint_rope


@dataclass
class SpeakerCondition:
    """Voice embeddings written into the text context at the speaker-placeholder rows."""

    embeddings: Tensor  # [B, N, 192]; an all-zero row selects the learned null token
    positions: Tensor  # [B, N] long: context row of each speaker, -1 = unused slot


class TimeEmbedding(NamedTuple):
    e: Tensor  # [B, G, dim] fp32: modulates the heads
    e0: Tensor  # [B, G, 6, dim] fp32: modulates the blocks

    def first_group_replaced(self, first: TimeEmbedding, groups: int) -> TimeEmbedding:
        """G = `groups` token groups: the first takes `first`'s embedding, the others this one's."""
        return TimeEmbedding(*(torch.cat([a, b.expand(-1, groups - 1, *b.shape[2:])], dim=1) for a, b in zip(first, self)))


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

    `compute_dtype` is what the layers run in (default: `fp8.compute_dtype_for` the construction dtype);
    `attention_backend` is one of "auto" | "sdpa" | "flash" | "math" (see attention.py); `compile_blocks`
    one of "auto" | "on" | "off" (see compile.py).
    """

    def __init__(self, config: NavaConfig, operations=nn, device=None, dtype=None, compute_dtype=None):
        super().__init__()
        self.config = config
        self.compute_dtype = compute_dtype or compute_dtype_for(dtype)
        self.attention_backend = "auto"
        self._rope_tables: dict[tuple, Rope] = {}  # per (video grid, audio length, device), reused every step
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
        self.compile_blocks = "auto"
        self._blocks = CompiledBlocks([*self.double_blocks, *self.single_blocks])

    @property
    def compile_blocks(self) -> str:
        """Regional torch.compile of the blocks: "auto" (on CUDA), "on" (any device) or "off" (compile.py)."""
        return self._compile_blocks

    @compile_blocks.setter
    def compile_blocks(self, choice: str) -> None:
        check_compile_choice(choice)
        self._compile_blocks = choice

    @property
    def attention_backend(self) -> str:
        """The user's choice ("auto" | "sdpa" | "flash" | "math"); the kernel kind is resolved once per device."""
        return self._attention_backend

    @attention_backend.setter
    def attention_backend(self, backend: str) -> None:
        check_backend(backend)
        self._attention_backend = backend
        self._attention_kinds: dict[torch.device, str] = {}

    def attention_kind(self, device: torch.device) -> str:
        if device not in self._attention_kinds:
            self._attention_kinds[device] = resolve_backend(self._attention_backend, device)
        return self._attention_kinds[device]

    def rope_table(self, grid: tuple[int, int, int] | None, audio_len: int, device: torch.device) -> Rope:
        """The RoPE table of this clip size, computed once and held by the model (dropped when it moves)."""
        key = (grid, audio_len, device)
        if key not in self._rope_tables:
            if len(self._rope_tables) >= 4:
                self._rope_tables.clear()
            self._rope_tables[key] = joint_rope(grid, audio_len, self.config, device=device)
        return self._rope_tables[key]

    def _apply(self, fn, recurse=True):
        self._rope_tables.clear()
        return super()._apply(fn, recurse)

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
            # a data-dependent check: eager calls make it, a compiled forward (no host sync) relies on the caller
            if not torch.compiler.is_compiling() and bool((pos >= cfg.text_len).any()):
                raise ValueError(f"speaker positions must be context rows < {cfg.text_len} (or -1 for unused)")
        return batch

    @staticmethod
    def _masked_rows(cross_modal_masked: bool | tuple[bool, ...], batch: int) -> RowMask:
        """One static Python bool per row (the pass order is known when the batch is built)."""
        flags = (cross_modal_masked,) if isinstance(cross_modal_masked, bool) else cross_modal_masked
        if not isinstance(flags, (tuple, list)) or len(flags) not in (1, batch) or not all(
            isinstance(f, bool) for f in flags
        ):
            raise ValueError(
                f"cross_modal_masked must be a Python bool or a tuple of {batch} Python bools (one per row), "
                f"got {cross_modal_masked!r}"
            )
        return tuple(flags) * batch if len(flags) == 1 else tuple(flags)

    def embed_context(self, context: Tensor, speaker: SpeakerCondition | None) -> Tensor:
        """Text rows zero-padded to text_len, embedded, with speaker rows written over their placeholders."""
        pad = self.config.text_len - context.shape[1]
        context = nn.functional.pad(context.to(self.compute_dtype), (0, 0, 0, pad))
        context = self.text_embedding(context)
        if speaker is None:
            return context
        # Each used slot overwrites its row; unused slots (-1) write to a scratch row past the end, then dropped.
        positions = speaker.positions.to(context.device, torch.long)
        rows = torch.where(positions >= 0, positions, context.shape[1])
        voices = self.speaker_embedding(speaker.embeddings.to(context.device, self.compute_dtype)).to(context.dtype)
        padded = nn.functional.pad(context, (0, 0, 0, 1))
        return padded.scatter(1, rows[..., None].expand_as(voices), voices)[:, :-1]

    def embed_time(self, t: Tensor) -> TimeEmbedding:
        """Timesteps [B] -> e [B, 1, dim] and e0 [B, 1, 6, dim] (fp32): one token group."""
        freq = timestep_sinusoid(t.float(), self.config.freq_dim).to(self.compute_dtype)
        e = self.time_embedding(freq)
        e0 = self.time_projection(e).float().unflatten(-1, (6, self.config.dim))
        return TimeEmbedding(e.float()[:, None], e0[:, None])

    def _stream_times(self, timestep: Tensor, video: Tensor | None, audio: Tensor | None, clean_first_frame: bool):
        """Time embeddings per present stream, for G equal token groups: one group, or one per latent frame when
        the video's first frame is clean (t = 0 there)."""
        at_t = self.embed_time(timestep)
        times = {}
        if video is not None:
            times[VIDEO] = at_t
            if clean_first_frame:
                times[VIDEO] = at_t.first_group_replaced(self.embed_time(torch.zeros_like(timestep)), video.shape[2])
        if audio is not None:
            times[AUDIO] = at_t
        return times

    # -- forward -----------------------------------------------------------------------------------
    def forward(
        self,
        video: Tensor | None,
        audio: Tensor | None,
        timestep: Tensor,
        context: Tensor,
        speaker: SpeakerCondition | None = None,
        clean_first_frame: bool = False,
        cross_modal_masked: bool | tuple[bool, ...] = False,
        sequence_parallel: SequenceParallel | None = None,
    ) -> tuple[Tensor | None, Tensor | None]:
        """Velocities (video, audio). `cross_modal_masked`: a Python bool, or one per batch row, for the rows
        whose video attends only to video and audio only to audio. `sequence_parallel`: this rank's Ulysses
        group; every rank of it calls forward with the same inputs and gets the same whole outputs."""
        batch = self._check_inputs(video, audio, timestep, context, speaker)
        masked = self._masked_rows(cross_modal_masked, batch)
        cdt = self.compute_dtype

        x: Streams = {}
        grid = None
        if video is not None:
            patches = self.patch_embedding(video.to(cdt))
            grid = tuple(patches.shape[2:])
            x[VIDEO] = patches.flatten(2).transpose(1, 2).float()
        if audio is not None:
            x[AUDIO] = self.patch_embedding_audio(audio.to(cdt)).float()

        times = self._stream_times(timestep, video, audio, clean_first_frame)
        e0 = {stream: time.e0 for stream, time in times.items()}
        context = self.embed_context(context, speaker)
        rope = self.rope_table(grid, 0 if audio is None else audio.shape[1], context.device)
        kind = self.attention_kind(context.device)
        if kind == "math":
            check_math_fits(batch, self.config.num_heads, len(rope.cos), len(rope.cos), cdt)

        sequence = None
        if sequence_parallel is not None:  # from here on each rank holds a chunk of every stream
            sequence = UlyssesSequence(sequence_parallel, *(x[s].shape[1] if s in x else 0 for s in (VIDEO, AUDIO)))
            x = sequence.shard_streams(x)
            times = {s: TimeEmbedding(*(sequence.shard_groups(t, s) for t in time)) for s, time in times.items()}
            e0 = {stream: time.e0 for stream, time in times.items()}
            rope = Rope(*sequence.shard_rope(*rope))

        x = self._blocks.run(self._compile_blocks, context.device, x, e0, context, rope, masked, kind, sequence)

        # the heads are per token: each rank runs them on its chunk, then the (narrow) outputs are gathered
        out = {VIDEO: self.head, AUDIO: self.head_audio}
        out = {s: out[s](x[s], times[s].e, cdt) for s in x}
        if sequence is not None:
            out = {s: sequence.gather_stream(y, s) for s, y in out.items()}
        video_out = None if video is None else self.unpatchify(out[VIDEO], grid).to(video.dtype)
        audio_out = None if audio is None else out[AUDIO].to(audio.dtype)
        return video_out, audio_out

    def unpatchify(self, x: Tensor, grid: tuple[int, int, int]) -> Tensor:
        """[B, F·H·W, pt·ph·pw·C] (C fastest) -> [B, C, F·pt, H·ph, W·pw]."""
        pt, ph, pw = self.config.patch_size
        frames, height, width = grid
        x = x.reshape(x.shape[0], frames, height, width, pt, ph, pw, -1)
        x = torch.einsum("bfhwpqrc->bcfphqwr", x)
        return x.reshape(x.shape[0], x.shape[1], frames * pt, height * ph, width * pw)


def build_meta(config: NavaConfig, operations=nn, dtype=torch.float32, compute_dtype=None) -> NavaMMDiT:
    """The model on the meta device: layout and shapes without memory."""
    return NavaMMDiT(config, operations=operations, device="meta", dtype=dtype, compute_dtype=compute_dtype)


def parameter_summary(config: NavaConfig) -> tuple[int, int]:
    """(number of tensors, number of parameters) of the state dict, built on the meta device."""
    shapes = state_dict_shapes(build_meta(config))
    return len(shapes), sum(torch.Size(s).numel() for s in shapes.values())
