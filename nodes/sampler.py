"""NAVASampler: NAVA's factorized-CFG sampling of video and audio latents."""

from __future__ import annotations

from comfy_api.latest import io

from nava_model import pipeline
from nava_model.latent_space import MODES, VIDEO_FPS, frames_for_duration
from nava_model.options import DEFAULT_SECONDS, DEFAULTS, SAMPLERS, SamplingOptions
from nava_model.sampling.guidance import GuidanceScales

from .latents import to_comfy_latent
from .memory import expect, load
from .progress import SamplingProgress
from .sockets import COMPONENT_NODES, SAMPLING_CATEGORY, NavaConditioning

MODE_BY_LABEL = {label: mode for mode, label in MODES.items()}
ASPECTS = {"1280x704": (1280, 704), "704x1280": (704, 1280), "960x960": (960, 960), "custom": None}
SEED_MAX = 2**64 - 1

# (input id, default, what it weighs): NAVA's guidance scales, upstream defaults; 0 skips that pass
GUIDANCE = (
    ("video_guidance", GuidanceScales.video, "text guidance for the video (prompt vs negative prompt)"),
    ("audio_guidance", GuidanceScales.audio, "text guidance for the audio"),
    (
        "video_align_guidance",
        GuidanceScales.video_align,
        "audio-visual alignment of the video (joint pass vs one without cross-modal attention)",
    ),
    ("audio_align_guidance", GuidanceScales.audio_align, "audio-visual alignment of the audio"),
    ("timbre_guidance", GuidanceScales.timbre, "how closely speech follows the reference voices (needs a voice)"),
)


def sampling_options(
    mode: str,
    aspect: str,
    width: int,
    height: int,
    seconds: float,
    frames: int,
    steps: int,
    seed: int,
    sampler: str,
    shift: float,
    **scales: float,
) -> SamplingOptions:
    """Widget values -> validated SamplingOptions (errors before any model is loaded)."""
    width, height = ASPECTS[aspect] or (width, height)
    return SamplingOptions(
        width=width,
        height=height,
        frames=frames or frames_for_duration(seconds),
        steps=steps,
        seed=seed,
        shift=shift,
        sampler=sampler,
        mode=MODE_BY_LABEL[mode],
        scales=GuidanceScales(**{name.removesuffix("_guidance"): scales[name] for name, _, _ in GUIDANCE}),
    )


class NAVASampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NAVASampler",
            display_name="NAVA Sampler (Factorized CFG)",
            category=SAMPLING_CATEGORY,
            description="Generates video and speech/sound together. With a first-frame image and the video VAE it "
            "animates the image (TI2AV).",
            inputs=[
                COMPONENT_NODES["mmdit"].input(),
                NavaConditioning.Input("conditioning", tooltip="From NAVA Speaker Span Prompt."),
                io.Image.Input(
                    "first_frame",
                    optional=True,
                    tooltip="Optional start image (TI2AV); scaled and centre-cropped to the size.",
                ),
                COMPONENT_NODES["video_vae"].input(optional=True, needed="needed with a first frame"),
                io.Combo.Input(
                    "mode", options=list(MODE_BY_LABEL), default=MODES[DEFAULTS.mode], tooltip="What to generate."
                ),
                io.Combo.Input(
                    "aspect",
                    options=list(ASPECTS),
                    default="1280x704",
                    tooltip="Width x height; custom uses the two fields below.",
                ),
                io.Int.Input(
                    "width",
                    default=DEFAULTS.width,
                    min=32,
                    max=2048,
                    step=32,
                    tooltip="Used when aspect is custom; a multiple of 32.",
                ),
                io.Int.Input(
                    "height",
                    default=DEFAULTS.height,
                    min=32,
                    max=2048,
                    step=32,
                    tooltip="Used when aspect is custom; a multiple of 32.",
                ),
                io.Float.Input(
                    "seconds",
                    default=DEFAULT_SECONDS,
                    min=0.25,
                    max=40.0,
                    step=0.25,
                    tooltip=f"Duration at {VIDEO_FPS} fps ({DEFAULT_SECONDS:g} s = {DEFAULTS.frames} frames). "
                    "Ignored when frames is set.",
                ),
                io.Int.Input(
                    "frames",
                    default=0,
                    min=0,
                    max=961,
                    tooltip="0: from seconds. Otherwise the frame count, 4k+1 (49, 97, 145, ...).",
                ),
                io.Int.Input(
                    "steps", default=DEFAULTS.steps, min=1, max=200, tooltip=f"Denoising steps; NAVA uses {DEFAULTS.steps}."
                ),
                io.Int.Input(
                    "seed",
                    default=DEFAULTS.seed,
                    min=0,
                    max=SEED_MAX,
                    control_after_generate=True,
                    tooltip="Noise seed; the same seed and settings give the same result.",
                ),
                io.Combo.Input(
                    "sampler",
                    options=list(SAMPLERS),
                    default=DEFAULTS.sampler,
                    tooltip="unipc (NAVA's, 2nd order) or euler.",
                ),
                io.Float.Input(
                    "shift",
                    default=DEFAULTS.shift,
                    min=0.5,
                    max=20.0,
                    step=0.1,
                    tooltip="Flow-matching schedule shift; higher spends more steps at high noise.",
                ),
                *(
                    io.Float.Input(
                        name,
                        default=default,
                        min=0.0,
                        max=20.0,
                        step=0.1,
                        tooltip=f"Scale of the {what}; 0 skips its model pass.",
                    )
                    for name, default, what in GUIDANCE
                ),
            ],
            outputs=[io.Latent.Output(display_name="latent"), io.Float.Output(display_name="fps")],
        )

    @classmethod
    def execute(
        cls,
        model,
        conditioning,
        mode: str,
        aspect: str,
        width: int,
        height: int,
        seconds: float,
        frames: int,
        steps: int,
        seed: int,
        sampler: str,
        shift: float,
        first_frame=None,
        video_vae=None,
        **scales: float,
    ) -> io.NodeOutput:
        options = sampling_options(mode, aspect, width, height, seconds, frames, steps, seed, sampler, shift, **scales)
        if not isinstance(conditioning, pipeline.Conditioning):
            raise TypeError(
                "conditioning expects NAVA_CONDITIONING from NAVA Speaker Span Prompt, "
                f"got {type(conditioning).__name__}"
            )
        mmdit = expect(model, "mmdit")
        start = None
        if first_frame is not None:
            (vae,) = load(expect(video_vae, "video_vae"))
            start = pipeline.encode_first_frame(vae, first_frame, options.width, options.height)
        wanted, minimum = pipeline.sampling_memory_bytes(
            mmdit.runner, options, mmdit.patcher.load_device, has_voices=conditioning.speaker is not None
        )
        (network,) = load(mmdit, memory_required=wanted, minimum_memory_required=minimum)
        run = pipeline.sample if mmdit.pool is None else mmdit.pool.sample  # the pool: rank 0 runs here
        latent = run(network, conditioning, options, first_frame=start, callback=SamplingProgress(options.steps))
        return io.NodeOutput(to_comfy_latent(latent), latent.fps)
