"""NAVASpeakerSpanPrompt: the prompt with `<S>…<E>` speech spans, reference voices bound to them in order."""

from __future__ import annotations

import logging

from comfy_api.latest import io

from nava_model import pipeline
from nava_model.prompt import prepare_prompt
from nava_model.sampling.guidance import NEGATIVE_PROMPT_VIDEO
from nava_model.speaker import short_voice_warning

from .memory import expect, load
from .sockets import COMPONENT_NODES, SAMPLING_CATEGORY, NavaConditioning

logger = logging.getLogger("nava")

MAX_VOICES = 4
EXAMPLE_PROMPT = (
    "A woman in a red coat stands on a windy pier and says <S>The boats are late again today.<E> "
    "Waves crash behind her."
)


def voice_inputs(voices: list[dict | None]) -> list[tuple | None]:
    """AUDIO inputs -> (waveform [C, N], sample rate) per voice slot."""
    return [None if v is None else (v["waveform"][0], int(v["sample_rate"])) for v in voices]


def voice_warnings(voices: list[tuple | None]) -> list[str]:
    """Voices too short for the speaker encoder: used anyway, with a warning."""
    found = [short_voice_warning(v[0].shape[-1], v[1], f"voice_{i}") for i, v in enumerate(voices, 1) if v is not None]
    return [w for w in found if w]


def describe(conditioning: pipeline.Conditioning, warnings: list[str] = ()) -> str:
    """What the node shows: each span and the voice it speaks with, then any warning."""
    if not conditioning.spans:
        lines = ["No speech spans: plain text-to-audio-video (write <S>words<E> to make someone speak)."]
    else:
        lines = [f"{len(conditioning.spans)} speech span(s):"]
        for span, bound in zip(conditioning.spans, conditioning.voices_bound):
            voice = f"voice_{span.index + 1}" if bound else "no reference voice (the model picks one)"
            lines.append(f'{span.index + 1}. "{span.text.strip()}" -> {voice}')
    return "\n".join(lines + [f"⚠ {w}" for w in warnings])


class NAVASpeakerSpanPrompt(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NAVASpeakerSpanPrompt",
            display_name="NAVA Speaker Span Prompt",
            category=SAMPLING_CATEGORY,
            description="Encodes the prompt. Words between <S> and <E> are spoken; voice_1 speaks the first span, "
            "voice_2 the second, and so on. Spans without a voice get a voice the model picks.",
            inputs=[
                COMPONENT_NODES["text_encoder"].input(),
                COMPONENT_NODES["speaker_encoder"].input(optional=True, needed="needed only with reference voices"),
                io.String.Input(
                    "prompt",
                    multiline=True,
                    default=EXAMPLE_PROMPT,
                    tooltip="Describe the scene and the sound. Put spoken words between <S> and <E>; "
                    "spans cannot nest.",
                ),
                io.String.Input(
                    "negative_prompt",
                    multiline=True,
                    default=NEGATIVE_PROMPT_VIDEO,
                    tooltip="What to steer away from (NAVA's default, in Chinese as upstream). The audio-only negative "
                    "prompt stays NAVA's default.",
                ),
                *(
                    io.Audio.Input(
                        f"voice_{i}",
                        optional=True,
                        tooltip=f"Reference voice for speech span {i} "
                        "(a few seconds of clean speech; the first 30 s are used).",
                    )
                    for i in range(1, MAX_VOICES + 1)
                ),
            ],
            outputs=[NavaConditioning.Output(display_name="conditioning")],
        )

    @classmethod
    def execute(
        cls,
        text_encoder,
        prompt: str,
        negative_prompt: str,
        speaker_encoder=None,
        voice_1=None,
        voice_2=None,
        voice_3=None,
        voice_4=None,
    ) -> io.NodeOutput:
        voices = voice_inputs([voice_1, voice_2, voice_3, voice_4])
        prepared = prepare_prompt(prompt, voices)  # span and voice errors before any load
        warnings = voice_warnings(voices)
        for warning in warnings:
            logger.warning("NAVA Speaker Span Prompt: %s", warning)
        text = expect(text_encoder, "text_encoder")
        speaker = None
        if prepared.has_voices:
            speaker = expect(speaker_encoder, "speaker_encoder")
        encoder, speaker_model = load(text, speaker)
        conditioning = pipeline.encode_conditioning(encoder, speaker_model, prepared, negative_video=negative_prompt)
        return io.NodeOutput(conditioning, ui={"text": [describe(conditioning, warnings)]})
