"""NAVAStructuredCaption: a caption in NAVA's training template, assembled from fields."""

from __future__ import annotations

from comfy_api.latest import io

from nava_model.prompt import parse_speech_spans
from nava_model.rewrite import MAX_TURNS, AudioKind, CaptionFields, Language, Turn, build_caption
from nava_model.rewrite.caption import CAMERA_MOVEMENTS

from .sockets import PROMPT_CATEGORY


def _text(name: str, tooltip: str, multiline: bool = True) -> io.String.Input:
    return io.String.Input(name, multiline=multiline, default="", tooltip=tooltip)


class NAVAStructuredCaption(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        turns = []
        for i in range(1, MAX_TURNS + 1):
            turns += [
                _text(f"speaker_{i}", f"Who speaks turn {i} and how: action, expression, position, timbre, emotion, "
                      "speaking rate.", multiline=False),
                _text(f"words_{i}", f"What is said in turn {i} (becomes speech span {i}; voice_{i} speaks it).",
                      multiline=False),
            ]
        return io.Schema(
            node_id="NAVAStructuredCaption",
            display_name="NAVA Structured Caption",
            category=PROMPT_CATEGORY,
            description="Builds a caption in the order NAVA was trained on: look, what happens, camera, sound. Each "
            "turn's words become a <S>…<E> span in turn order. Use it as the prompt, or as the idea to rewrite.",
            inputs=[
                io.Combo.Input("language", options=[lang.value for lang in Language], default=Language.ENGLISH.value,
                               tooltip="Language of the connecting phrases (NAVA's captions were mostly Chinese)."),
                _text("style_and_mood", "Visual style and mood, e.g. 'warm cinematic realism, calm evening'."),
                _text("subjects_and_scene", "Subjects and scene: who and what, appearance, place, lighting, colour."),
                _text("temporal_dynamics", "What happens in order: at the beginning, then, next, at the end."),
                io.Combo.Input("camera_movement", options=CAMERA_MOVEMENTS, default="unspecified",
                               tooltip="How the camera moves ('unspecified' leaves it out)."),
                _text("camera", "Angle, shot scale and cuts, e.g. 'medium shot at eye level, no cuts'.", multiline=False),
                io.Combo.Input("audio", options=[kind.value for kind in AudioKind], default=AudioKind.NO_SPEECH.value,
                               tooltip="No speech, one speaker (turn 1), or a dialogue (turns 1 to 4 in order)."),
                _text("ambience_and_music", "Other sounds: actions and contact, objects, environment, music, "
                      "reverberation."),
                *turns,
            ],
            outputs=[io.String.Output(display_name="prompt")],
        )

    @classmethod
    def execute(cls, language: str, camera_movement: str, audio: str, **text: str) -> io.NodeOutput:
        fields = CaptionFields(
            style_and_mood=text["style_and_mood"],
            subjects_and_scene=text["subjects_and_scene"],
            temporal_dynamics=text["temporal_dynamics"],
            camera_movement=camera_movement,
            camera=text["camera"],
            audio=AudioKind(audio),
            ambience_and_music=text["ambience_and_music"],
            turns=tuple(Turn(text[f"speaker_{i}"], text[f"words_{i}"]) for i in range(1, MAX_TURNS + 1)),
        )
        caption = build_caption(fields, language)
        spans = len(parse_speech_spans(caption))
        return io.NodeOutput(caption, ui={"text": [f"{spans} speech span(s)\n\n{caption}"]})
