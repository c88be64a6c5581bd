"""The NAVA pipeline: conditioning -> one denoising loop -> decoding.

The same three functions serve the CLI, the ComfyUI nodes, the tests and (later) the multi-GPU
workers. Models are passed in explicitly; nothing here loads files or keeps global state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .components import AUDIO_VAE, VIDEO_VAE
from .config import SPEAKER_EMBED_DIM, TEXT_LEN
from .latent_space import AUDIO_TOKEN_FEATURES, VIDEO_FPS, VIDEO_LATENT_CHANNELS, VIDEO_STRIDE_HW
from .mmdit.model import SpeakerCondition
from .options import SamplingOptions
from .prompt import PreparedPrompt, PromptError, SpeechSpan, prepare_prompt, speaker_positions
from .sampling.guidance import (
    NEGATIVE_PROMPT_AUDIO,
    NEGATIVE_PROMPT_VIDEO,
    GuidanceInputs,
    guidance_terms,
    guided_velocity,
    needed_passes,
)
from .sampling.pass_schedule import PassSchedule
from .sampling.schedules import flow_sigmas
from .sampling.solvers import make_solver

if TYPE_CHECKING:
    from .parallel.runtime import ParallelRuntime

logger = logging.getLogger("nava")


@dataclass
class Conditioning:
    """Encoded prompts and voices: what the sampler needs besides the model."""

    positive: torch.Tensor
    negative_video: torch.Tensor
    negative_audio: torch.Tensor
    speaker: SpeakerCondition | None
    spans: list[SpeechSpan] = field(default_factory=list)
    voices_bound: list[bool] = field(default_factory=list)


def encode_conditioning(
    text_encoder,
    speaker_encoder,
    prompt: str | PreparedPrompt,
    voices: Sequence[tuple[torch.Tensor, int] | None] = (),
    negative_video: str = NEGATIVE_PROMPT_VIDEO,
    negative_audio: str = NEGATIVE_PROMPT_AUDIO,
) -> Conditioning:
    """Encode the prompts and the reference voices (a text prompt is checked with its voices first).

    Spans with no voice get the null speaker token (a zero embedding). With no voice at all the
    prompt is encoded as plain text and no speaker rows are written, as upstream does.
    """
    if not isinstance(prompt, PreparedPrompt):
        prompt = prepare_prompt(prompt, voices, speaker_encoder_loaded=speaker_encoder is not None)
    _warn_beyond_window(text_encoder, prompt.text)
    spans = prompt.spans
    positive, neg_video, neg_audio = text_encoder.encode([prompt.text, negative_video, negative_audio])
    speaker = None
    if prompt.has_voices:
        positions = speaker_positions(positive.token_ids, text_encoder.placeholder_token_id)
        if len(positions) != len(spans):
            raise PromptError(
                f"only {len(positions)} of {len(spans)} speech spans fit in the {TEXT_LEN}-token text window: "
                "shorten the prompt"
            )
        rows = [
            speaker_encoder.embed(*voice).float().reshape(-1) if voice is not None else torch.zeros(SPEAKER_EMBED_DIM)
            for voice in prompt.voices + [None] * (len(spans) - len(prompt.voices))
        ]
        speaker = SpeakerCondition(
            embeddings=torch.stack([r.cpu() for r in rows])[None], positions=torch.tensor([positions], dtype=torch.long)
        )
    return Conditioning(
        positive=positive.embeddings[None],
        negative_video=neg_video.embeddings[None],
        negative_audio=neg_audio.embeddings[None],
        speaker=speaker,
        spans=spans,
        voices_bound=[i < len(prompt.voices) and prompt.voices[i] is not None for i in range(len(spans))],
    )


def _warn_beyond_window(text_encoder, prepared: str) -> None:
    count = getattr(text_encoder, "tokens_beyond_window", None)
    dropped = count(prepared) if count is not None else 0
    if dropped:
        logger.warning(
            "the prompt is %d tokens longer than umT5's %d-token window; the model does not see its end: shorten it",
            dropped, text_encoder.tokenizer.max_length,
        )


@dataclass
class AVLatent:
    video: torch.Tensor | None
    audio: torch.Tensor | None
    fps: float = float(VIDEO_FPS)


StepCallback = Callable[[int, int, AVLatent], None]


def initial_noise(options: SamplingOptions, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """NAVA's draw order: video noise token-major and channel-last, then audio noise."""
    f, h, w = options.latent_frames, options.height // VIDEO_STRIDE_HW, options.width // VIDEO_STRIDE_HW
    video = torch.randn(f, h, w, VIDEO_LATENT_CHANNELS, generator=generator).permute(3, 0, 1, 2)[None]
    audio = torch.randn(options.audio_tokens, AUDIO_TOKEN_FEATURES, generator=generator)[None]
    return video.contiguous(), audio


def negative_context(conditioning: Conditioning, mode: str) -> torch.Tensor:
    """The negative prompt upstream ends up using: the video one whenever video is generated.

    The upstream backbone reads a single context and takes the video-side one unless speaker
    embeddings are passed, so the audio negative prompt only matters for audio-only generation.
    """
    return conditioning.negative_audio if mode == "audio" else conditioning.negative_video


def execution_device(module: torch.nn.Module) -> torch.device:
    """Where a model computes. A memory manager that streams weights (ComfyUI's ModelPatcher) records it
    as `module.device`, since the first parameter may stay offloaded; otherwise it is the parameters' device."""
    device = getattr(module, "device", None)
    return torch.device(device) if device is not None else next(module.parameters()).device


def _model_device_dtype(model) -> tuple[torch.device, torch.dtype]:
    """Where the MMDiT runs and in which dtype (its compute dtype, not its storage: fp8 runs in bf16)."""
    return execution_device(model), model.compute_dtype


def pass_schedule(mmdit, options: SamplingOptions, device: torch.device) -> PassSchedule:
    """How the guidance passes of each step are stacked into forwards (by token count and free memory)."""
    return PassSchedule.for_model(mmdit, device, options.joint_tokens, max_rows=options.max_batch)


def sampling_memory_bytes(
    mmdit, options: SamplingOptions, device: torch.device, has_voices: bool = True
) -> tuple[int, int]:
    """(wanted, minimum) activation memory of sampling beside the weights, for a memory manager to keep free:
    the largest forward the schedule stacks for this clip, and a forward of one pass."""
    schedule = pass_schedule(mmdit, options, device)
    terms = guidance_terms(options.scales, options.mode != "audio", options.mode != "video", has_voices)
    rows = schedule.passes_per_forward(len(needed_passes(terms)), 1, options.joint_tokens, free=None)
    return rows * schedule.row_bytes, schedule.row_bytes


def sample(
    mmdit,
    conditioning: Conditioning,
    options: SamplingOptions,
    first_frame: torch.Tensor | None = None,
    callback: StepCallback | None = None,
    parallel: ParallelRuntime | None = None,
) -> AVLatent:
    """Denoise from seeded noise with factorized CFG and one solver per modality.

    With `parallel` (several processes, nava_model/parallel) every rank of a replica calls this with the
    same arguments and gets the same latents; only the replica's leader runs `callback`, and an exception
    from it (Cancel) stops every rank within the step.
    """
    if first_frame is not None and options.mode == "audio":
        raise ValueError("a first-frame image needs a video mode (audio+video or video only)")
    device, dtype = _model_device_dtype(mmdit)
    video, audio = initial_noise(options, torch.Generator().manual_seed(options.seed))
    video = video.to(device) if options.mode != "audio" else None
    audio = audio.to(device) if options.mode != "video" else None
    if first_frame is not None:
        expected = (1, VIDEO_LATENT_CHANNELS, 1, *video.shape[-2:])
        if tuple(first_frame.shape) != expected:
            raise ValueError(f"first-frame latent has shape {tuple(first_frame.shape)}, expected {expected}")
        first_frame = first_frame.to(device, torch.float32)

    negative = negative_context(conditioning, options.mode)
    inputs = GuidanceInputs(
        positive=conditioning.positive.to(device, dtype),
        negative=negative.to(device, dtype),
        speaker=_speaker_to(conditioning.speaker, device, dtype),
    )
    schedule = pass_schedule(mmdit, options, device)
    sigmas, timesteps = flow_sigmas(options.steps, options.shift)
    video_solver = make_solver(options.sampler, sigmas) if video is not None else None
    audio_solver = make_solver(options.sampler, sigmas) if audio is not None else None
    model = mmdit if parallel is None else parallel.bind(mmdit)

    for index, t in enumerate(timesteps):
        if first_frame is not None:
            video[:, :, :1] = first_frame
        v_video, v_audio = guided_velocity(
            model,
            _cast(video, dtype),
            _cast(audio, dtype),
            t.reshape(1).to(device, torch.float32),
            inputs,
            options.scales,
            clean_first_frame=first_frame is not None,
            schedule=schedule,
            cfg_parallel=parallel,
        )
        sigma = float(sigmas[index])
        preview = AVLatent(
            video=None if video is None else video - sigma * v_video.float(),
            audio=None if audio is None else audio - sigma * v_audio.float(),
        )
        if video is not None:
            video = video_solver.step(v_video.float(), video)
        if audio is not None:
            audio = audio_solver.step(v_audio.float(), audio)
        if parallel is not None:
            parallel.report_step(callback, index, len(timesteps), preview)
        elif callback is not None:
            callback(index, len(timesteps), preview)
    if first_frame is not None:
        video[:, :, :1] = first_frame
    return AVLatent(video=video, audio=audio)


def _cast(x: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    return None if x is None else x.to(dtype)


def _speaker_to(speaker: SpeakerCondition | None, device, dtype) -> SpeakerCondition | None:
    if speaker is None:
        return None
    return SpeakerCondition(embeddings=speaker.embeddings.to(device, dtype), positions=speaker.positions.to(device))


def _vae_dtype(vae: torch.nn.Module) -> torch.dtype:
    return next(vae.parameters()).dtype


def encode_first_frame(video_vae, image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """IMAGE [H, W, 3] (or [1, H, W, 3]) in 0..1 -> normalised latent [1, 48, 1, h, w].

    The image is scaled to cover the target size, then centre-cropped.
    """
    if image.ndim == 4:
        image = image[0]
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"expected an RGB image [H, W, 3], got {tuple(image.shape)}")
    pixels = image[..., :3].permute(2, 0, 1)[None].float()
    scale = max(height / pixels.shape[-2], width / pixels.shape[-1])
    size = (max(height, round(pixels.shape[-2] * scale)), max(width, round(pixels.shape[-1] * scale)))
    pixels = F.interpolate(pixels, size=size, mode="bilinear", antialias=True, align_corners=False)
    top, left = (size[0] - height) // 2, (size[1] - width) // 2
    pixels = pixels[..., top : top + height, left : left + width]
    video = (pixels * 2 - 1).clamp(-1, 1)[:, :, None].to(execution_device(video_vae), _vae_dtype(video_vae))
    with torch.no_grad():
        return video_vae.encode(video).float()


@dataclass
class DecodedAV:
    frames: torch.Tensor | None  # [T, H, W, 3] in 0..1
    waveform: torch.Tensor | None  # [1, 2, N]
    sample_rate: int
    fps: float


def decode(
    video_vae,
    audio_vae,
    latent: AVLatent,
    tiled: bool = False,
    audio_rate: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    parallel: ParallelRuntime | None = None,
) -> DecodedAV:
    """Latents -> frames in 0..1 and a stereo waveform (vocoder rate, or `audio_rate`).

    With `parallel` and `tiled`, every rank of the replica calls this: the video tiles are shared among
    them and every rank gets the frames one process would.
    """
    frames = waveform = None
    sample_rate = audio_rate or 0
    with torch.no_grad():
        if latent.video is not None:
            if video_vae is None:
                raise ValueError(f"this latent has video: decoding it needs {VIDEO_VAE.name} ({VIDEO_VAE.where})")
            video = latent.video.to(execution_device(video_vae), _vae_dtype(video_vae))
            spread = None if parallel is None or not tiled else parallel.tiles
            shared = {} if spread is None else {"spread": spread}
            pixels = video_vae.decode(video, tiled=tiled, on_frame=on_progress, **shared)
            # one fp32 copy of the clip, mapped to 0..1 in place (not a new full-clip temporary per operation)
            frames = pixels[0].float().clamp_(-1, 1).add_(1).div_(2).permute(1, 2, 3, 0).cpu()
        if latent.audio is not None:
            if audio_vae is None:
                raise ValueError(f"this latent has audio: decoding it needs {AUDIO_VAE.name} ({AUDIO_VAE.where})")
            audio = latent.audio.to(execution_device(audio_vae), _vae_dtype(audio_vae))
            waveform = audio_vae.decode(audio, output_rate=audio_rate)
            waveform = waveform.float().cpu()
            sample_rate = audio_rate or audio_vae.sample_rate
    return DecodedAV(frames=frames, waveform=waveform, sample_rate=sample_rate, fps=latent.fps)
