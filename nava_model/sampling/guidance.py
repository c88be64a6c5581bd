"""NAVA's factorized classifier-free guidance.

Each step runs the MMDiT on up to four conditions and combines the velocities per modality:

    v_video = c + s_v·(c − u) + s_va·(c − m)
    v_audio = c + s_a·(c − u) + s_aa·(c − m) + s_t·(c − tu)

  c   positive prompt, with the reference voices written into the context
  u   negative prompt, no voices
  m   positive prompt, no voices, cross-modal attention removed (video sees only video, audio only audio)
  tu  positive prompt, no voices (the `<extra_id_2>` placeholder rows keep their text embedding)

This matches upstream `pipeline_nava.py::sample` with `align_3d_cfg` and `timbre_cfg` on (its
defaults). Upstream calls the m pass without speaker positions, so no voice reaches its context;
we do the same. A pass whose terms all have scale 0 is not run, and neither is one whose
difference is zero by construction: m when only one modality is generated (masking changes
nothing then) and tu without voices. With `align_3d_cfg` off upstream switches to u + s·(c − u)
= c + (s − 1)·(c − u); `GuidanceScales.from_upstream` maps such settings onto ours.

The passes are stacked along the batch, as many per forward as a `PassSchedule` picks (pass_schedule.py);
contexts of different lengths are zero-padded to a common length, which the model does anyway (to 512 rows).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from .pass_schedule import PassSchedule, is_out_of_memory, joint_tokens

if TYPE_CHECKING:
    from nava_model.mmdit.model import SpeakerCondition

# Upstream defaults (`pipeline_nava.py`, MMDiT branch): the video one also lists audio defects.
NEGATIVE_PROMPT_VIDEO = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，"
    "残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，"
    "三条腿，背景人很多，倒着走, 音频带有机械音、闷糊、回音、失真、电流声、爆音、杂音"
)
NEGATIVE_PROMPT_AUDIO = "机械音、闷糊、回音、失真、电流声、爆音、杂音"

logger = logging.getLogger("nava")


@dataclass(frozen=True)
class GuidanceScales:
    """Guidance strengths; 0 turns a term off (and skips its pass). Defaults are NAVA's."""

    video: float = 3.0  # s_v: video, positive vs negative prompt
    audio: float = 2.0  # s_a: audio, positive vs negative prompt
    video_align: float = 3.0  # s_va: video, joint vs modality-isolated attention
    audio_align: float = 2.0  # s_aa: audio, joint vs modality-isolated attention
    timbre: float = 3.0  # s_t: audio, with vs without the reference voices

    @classmethod
    def from_upstream(
        cls,
        video: float,
        audio: float,
        video_align: float,
        audio_align: float,
        timbre: float,
        align_3d_cfg: bool = True,
        timbre_cfg: bool = True,
        has_voices: bool = True,
    ) -> GuidanceScales:
        """Scales that reproduce upstream `sample(...)` called with these arguments.

        Upstream's fallback u + s·(c − u) (video: align off; audio: align and timbre off) is our
        form with s − 1.
        """
        timbre_on = timbre_cfg and has_voices
        return cls(
            video=video if align_3d_cfg else video - 1,
            audio=audio if align_3d_cfg or timbre_on else audio - 1,
            video_align=video_align if align_3d_cfg else 0.0,
            audio_align=audio_align if align_3d_cfg else 0.0,
            timbre=timbre if timbre_on else 0.0,
        )


@dataclass
class GuidanceInputs:
    """Everything the passes need besides the latents and the timestep."""

    positive: Tensor  # [B, L, text_dim] positive context (speaker placeholders in it)
    negative: Tensor  # [B, L', text_dim] negative context
    speaker: SpeakerCondition | None  # None = no voices -> no timbre pass


@dataclass(frozen=True)
class Pass:
    """One model evaluation: which context, whether the voices are written in, whether masked."""

    name: str
    negative: bool = False
    voices: bool = False
    masked: bool = False


COND = Pass("c", voices=True)
UNCOND = Pass("u", negative=True)
MASKED = Pass("m", masked=True)
TIMBRE_UNCOND = Pass("tu")


def guidance_terms(
    scales: GuidanceScales, has_video: bool, has_audio: bool, has_voices: bool
) -> dict[str, list[tuple[float, Pass]]]:
    """Per modality, the (scale, pass) pairs of its sum c + Σ s·(c − pass), zero terms left out."""
    cross_modal = has_video and has_audio
    terms = {}
    if has_video:
        terms["video"] = [(scales.video, UNCOND), (scales.video_align if cross_modal else 0.0, MASKED)]
    if has_audio:
        terms["audio"] = [
            (scales.audio, UNCOND),
            (scales.audio_align if cross_modal else 0.0, MASKED),
            (scales.timbre if has_voices else 0.0, TIMBRE_UNCOND),
        ]
    return {modality: [(s, p) for s, p in pairs if s != 0] for modality, pairs in terms.items()}


def needed_passes(terms: dict[str, list[tuple[float, Pass]]]) -> list[Pass]:
    """c, then every pass some term uses, in the order c, u, m, tu."""
    used = {p for pairs in terms.values() for _, p in pairs}
    return [p for p in (COND, UNCOND, MASKED, TIMBRE_UNCOND) if p is COND or p in used]


def _pad_rows(context: Tensor, length: int) -> Tensor:
    return F.pad(context, (0, 0, 0, length - context.shape[1]))


def _stack_speakers(speaker: SpeakerCondition, passes: list[Pass], batch: int) -> SpeakerCondition | None:
    """The voices for the rows that take them; the other rows get no slot (-1) and a zero embedding."""
    if not any(p.voices for p in passes):
        return None
    embeddings = speaker.embeddings.expand(batch, -1, -1)
    positions = speaker.positions.expand(batch, -1)
    return dataclasses.replace(
        speaker,
        embeddings=torch.cat([embeddings if p.voices else torch.zeros_like(embeddings) for p in passes]),
        positions=torch.cat([positions if p.voices else torch.full_like(positions, -1) for p in passes]),
    )


def _repeat(x: Tensor | None, times: int) -> Tensor | None:
    return None if x is None else x.repeat(times, *([1] * (x.ndim - 1)))


def stack_passes(
    passes: list[Pass], video: Tensor | None, audio: Tensor | None, timestep: Tensor, inputs: GuidanceInputs
) -> dict:
    """Model arguments that run `passes` in one forward: row block k (of the latents' batch size) is passes[k]."""
    batch = (video if video is not None else audio).shape[0]
    length = max(inputs.positive.shape[1], inputs.negative.shape[1])
    contexts = [_pad_rows(inputs.negative if p.negative else inputs.positive, length) for p in passes]
    return dict(
        video=_repeat(video, len(passes)),
        audio=_repeat(audio, len(passes)),
        timestep=timestep.expand(batch).repeat(len(passes)),
        context=torch.cat([c.expand(batch, -1, -1) for c in contexts]),
        speaker=None if inputs.speaker is None else _stack_speakers(inputs.speaker, passes, batch),
        cross_modal_masked=tuple(p.masked for p in passes for _ in range(batch)),
    )


class PassSharing(Protocol):
    """Spreads a step's passes over processes (CFG parallel, see nava_model/parallel/runtime.py)."""

    def assigned(self, passes: list[Pass]) -> list[Pass]:
        """The passes this process computes."""

    def gather(
        self, velocities: dict[Pass, dict[str, Tensor | None]], passes: list[Pass], video: Tensor | None,
        audio: Tensor | None,
    ) -> dict[Pass, dict[str, Tensor | None]]:
        """The velocities of every pass, given this process's own."""


def combine(cond: Tensor, terms: list[tuple[float, Tensor]]) -> Tensor:
    """c + Σ s·(c − x)."""
    guided = cond
    for scale, other in terms:
        guided = guided + scale * (cond - other)
    return guided


def run_passes(
    model: Callable[..., tuple[Tensor | None, Tensor | None]],
    passes: list[Pass],
    video: Tensor | None,
    audio: Tensor | None,
    timestep: Tensor,
    inputs: GuidanceInputs,
    schedule: PassSchedule,
    clean_first_frame: bool = False,
) -> dict[Pass, dict[str, Tensor | None]]:
    """Velocities {"video", "audio"} of each of `passes`, stacked `schedule` passes per forward.

    A forward that runs out of memory is retried with half as many passes (and so are the later ones).
    """
    batch = (video if video is not None else audio).shape[0]
    tokens = joint_tokens(video, audio)
    velocities: dict[Pass, dict[str, Tensor | None]] = {}
    remaining = list(passes)
    while remaining:
        count = schedule.passes_per_forward(len(remaining), batch, tokens, schedule.free_bytes())
        group = remaining[:count]
        try:
            outputs = model(**stack_passes(group, video, audio, timestep, inputs), clean_first_frame=clean_first_frame)
        except RuntimeError as error:  # torch's OutOfMemoryError is one
            if not is_out_of_memory(error) or not schedule.shrink_after_oom(count):
                raise
            logger.warning("out of memory with %d guidance passes per forward; retrying with %d", count,
                           schedule.after_oom)
            continue
        for k, p in enumerate(group):
            rows = slice(k * batch, (k + 1) * batch)
            velocities[p] = {name: None if out is None else out[rows] for name, out in zip(("video", "audio"), outputs)}
        remaining = remaining[count:]
    return velocities


def guided_velocity(
    model: Callable[..., tuple[Tensor | None, Tensor | None]],
    video: Tensor | None,
    audio: Tensor | None,
    timestep: Tensor,
    inputs: GuidanceInputs,
    scales: GuidanceScales,
    clean_first_frame: bool = False,
    max_batch: int = 4,
    schedule: PassSchedule | None = None,
    cfg_parallel: PassSharing | None = None,
) -> tuple[Tensor | None, Tensor | None]:
    """Guided velocities (video, audio) for one step; a modality passed as None stays None.

    `model` is called like `NavaMMDiT.forward`. `schedule` decides how many passes go in one forward (the
    pipeline's picks them by token count and free memory); without one, `max_batch` rows per forward. With
    `cfg_parallel` this process runs only its share of the passes and receives the others' velocities before
    the combination.
    """
    if video is None and audio is None:
        raise ValueError("guided_velocity needs a video latent, an audio latent, or both")
    schedule = schedule or PassSchedule(max_rows=max_batch)
    terms = guidance_terms(scales, video is not None, audio is not None, inputs.speaker is not None)
    passes = needed_passes(terms)
    local = passes if cfg_parallel is None else cfg_parallel.assigned(passes)
    velocities = run_passes(model, local, video, audio, timestep, inputs, schedule, clean_first_frame)
    if cfg_parallel is not None:
        velocities = cfg_parallel.gather(velocities, passes, video, audio)
    cond = velocities[COND]
    guided = {
        modality: combine(cond[modality], [(s, velocities[p][modality]) for s, p in pairs])
        for modality, pairs in terms.items()
    }
    return guided.get("video"), guided.get("audio")
