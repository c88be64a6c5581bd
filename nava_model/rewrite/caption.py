"""A NAVA caption assembled from fields, in the order of the template NAVA was trained on (paper §6.3):
the look of the video, what happens over time, camera and composition, then the sound in time order.

Each utterance becomes one `<S>…<E>` span, in turn order, so the i-th reference voice speaks the i-th
turn. The connecting phrases are English or Chinese (NAVA's captions were mostly Chinese).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ..prompt import SPAN_CLOSE, SPAN_OPEN, PromptError, parse_speech_spans

MAX_TURNS = 4


class AudioKind(str, Enum):
    NO_SPEECH = "no speech"
    ONE_SPEAKER = "one speaker"
    DIALOGUE = "dialogue"


class Language(str, Enum):
    ENGLISH = "English"
    CHINESE = "Chinese"


@dataclass(frozen=True)
class Turn:
    speaker: str  # who speaks and how: action, expression, position, timbre, emotion, rate
    words: str  # what they say (becomes the span)


@dataclass(frozen=True)
class CaptionFields:
    style_and_mood: str = ""
    subjects_and_scene: str = ""
    temporal_dynamics: str = ""
    camera_movement: str = "unspecified"  # one of CAMERA_MOVEMENTS
    camera: str = ""  # angle, shot scale, cuts, in the user's words
    audio: AudioKind = AudioKind.NO_SPEECH
    ambience_and_music: str = ""
    turns: tuple[Turn, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class _Phrases:
    stop: str  # sentence end added where the user left none
    comma: str
    join: str  # between sentences
    speaker: str  # when the only turn has no description
    numbered_speaker: str  # when one of several turns has none
    capitalize: bool  # a turn starts a sentence
    temporal: str
    camera: dict[str, str]
    no_speech: str
    one_speaker: str
    dialogue: str
    turn: str
    turn_taking: str
    ambience_after_speech: str
    ambience_alone: str


CAMERA_MOVEMENTS = ["unspecified", "fixed", "handheld", "tracking", "panning", "tilting", "zooming", "push-in"]

PHRASES = {
    Language.ENGLISH: _Phrases(
        stop=".",
        comma=", ",
        join=" ",
        speaker="the speaker",
        numbered_speaker="speaker {}",
        capitalize=True,
        temporal="As the video unfolds, {}",
        camera={
            "fixed": "The camera stays fixed",
            "handheld": "The camera is handheld",
            "tracking": "The camera tracks the subject",
            "panning": "The camera pans",
            "tilting": "The camera tilts",
            "zooming": "The camera zooms",
            "push-in": "The camera slowly pushes in",
        },
        no_speech="There is no dialogue and no narration.",
        one_speaker="In the audio, {speaker} says: {span}",
        dialogue="In the audio, a dialogue of {count} turns in this order:",
        turn="{speaker}: {span}",
        turn_taking="The speakers take turns without talking over each other.",
        ambience_after_speech="In the background, {}",
        ambience_alone="In the audio, {}",
    ),
    Language.CHINESE: _Phrases(
        stop="。",
        comma="，",
        join="",
        speaker="说话人",
        numbered_speaker="说话人{}",
        capitalize=False,
        temporal="随着视频推进，{}",
        camera={
            "fixed": "镜头固定不动",
            "handheld": "手持镜头拍摄",
            "tracking": "镜头跟随主体移动",
            "panning": "镜头水平摇动",
            "tilting": "镜头上下摇动",
            "zooming": "镜头变焦",
            "push-in": "镜头缓缓推近",
        },
        no_speech="画面中没有人物对白，也没有任何旁白。",
        one_speaker="音频方面，{speaker}说道：{span}",
        dialogue="音频方面，这是一段{count}轮的对话，依次为：",
        turn="{speaker}：{span}",
        turn_taking="说话人依次轮流发言，没有重叠。",
        ambience_after_speech="背景中，{}",
        ambience_alone="音频方面，{}",
    ),
}
_ENDINGS = tuple(".!?。！？…\"'”」")


class CaptionError(PromptError):
    """Fields that do not make a caption; the message names the field and the fix."""


def build_caption(fields: CaptionFields, language: Language | str = Language.ENGLISH) -> str:
    """The caption for `fields` with `language`'s connecting phrases; its spans are the turns' words, in order."""
    phrases = PHRASES[Language(language)]
    turns = _spoken_turns(fields)
    if not (fields.subjects_and_scene.strip() or fields.style_and_mood.strip()):
        raise CaptionError("describe at least the subjects and scene (or the style and mood) of the video")
    if fields.camera_movement not in CAMERA_MOVEMENTS:
        raise CaptionError(f"camera movement {fields.camera_movement!r} is not one of {', '.join(CAMERA_MOVEMENTS)}")

    def sentence(text: str, template: str = "{}") -> list[str]:
        text = " ".join(text.split())
        if not text:
            return []
        text = template.format(text)
        return [text if text.endswith(_ENDINGS) else text + phrases.stop]

    camera = phrases.camera.get(fields.camera_movement, "")
    camera_text = " ".join(fields.camera.split())
    if camera and camera_text:
        camera_text = f"{camera}{phrases.comma}{camera_text}"
    parts = [
        *sentence(fields.style_and_mood),
        *sentence(fields.subjects_and_scene),
        *sentence(fields.temporal_dynamics, phrases.temporal),
        *sentence(camera_text or camera),
        *_audio(fields, turns, phrases, sentence),
    ]
    caption = phrases.join.join(parts)
    if len(parse_speech_spans(caption)) != len(turns):  # a field held its own span markup
        raise CaptionError(f"only the turns' words may hold speech: remove '{SPAN_OPEN}'/'{SPAN_CLOSE}' from the other fields")
    return caption


def _spoken_turns(fields: CaptionFields) -> list[Turn]:
    """The turns with words, checked against the audio kind: filled in order, no markup, the right count."""
    if len(fields.turns) > MAX_TURNS:
        raise CaptionError(f"at most {MAX_TURNS} speaker turns, got {len(fields.turns)}")
    turns = []
    for number, turn in enumerate(fields.turns, 1):
        words, speaker = turn.words.strip(), turn.speaker.strip()
        if SPAN_OPEN in turn.words or SPAN_CLOSE in turn.words:
            raise CaptionError(f"turn {number}: write the words without '{SPAN_OPEN}'/'{SPAN_CLOSE}'; they are added for you")
        if speaker and not words:
            raise CaptionError(f"turn {number} describes a speaker but has no words: write what they say, or clear it")
        if words and len(turns) < number - 1:
            raise CaptionError(f"turn {number} has words but turn {len(turns) + 1} is empty: fill the turns in order")
        if words:
            turns.append(Turn(speaker, words))
    kind = AudioKind(fields.audio)
    if kind is AudioKind.NO_SPEECH and turns:
        raise CaptionError("audio is 'no speech' but a turn has words: choose 'one speaker' or 'dialogue', or clear the words")
    if kind is AudioKind.ONE_SPEAKER and len(turns) != 1:
        raise CaptionError(
            f"audio is 'one speaker' but {len(turns)} turns have words: fill only turn 1"
            + (", or choose 'dialogue'" if turns else "")
        )
    if kind is AudioKind.DIALOGUE and len(turns) < 2:
        raise CaptionError(f"audio is 'dialogue' but {len(turns)} turn(s) have words: fill at least turns 1 and 2")
    return turns


def _audio(fields: CaptionFields, turns: list[Turn], phrases: _Phrases, sentence) -> list[str]:
    def span(turn: Turn) -> str:
        return f"{SPAN_OPEN}{turn.words}{SPAN_CLOSE}"

    def speaker(turn: Turn, number: int) -> str:
        described = " ".join(turn.speaker.split())
        return described or (phrases.speaker if len(turns) == 1 else phrases.numbered_speaker.format(number))

    ambience = fields.ambience_and_music
    kind = AudioKind(fields.audio)
    if kind is AudioKind.NO_SPEECH:
        return [*sentence(ambience, phrases.ambience_alone), phrases.no_speech]
    if kind is AudioKind.ONE_SPEAKER:
        (turn,) = turns
        said = phrases.one_speaker.format(speaker=speaker(turn, 1), span=span(turn))
        return [said, *sentence(ambience, phrases.ambience_after_speech)]
    lines = [phrases.dialogue.format(count=len(turns))]
    for number, turn in enumerate(turns, 1):
        line = phrases.turn.format(speaker=speaker(turn, number), span=span(turn))
        lines.append(line[0].upper() + line[1:] if phrases.capitalize else line)
    return [*lines, phrases.turn_taking, *sentence(ambience, phrases.ambience_after_speech)]
