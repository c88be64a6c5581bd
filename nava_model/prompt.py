"""Speech spans in NAVA prompts and the speaker placeholder they carry.

Spoken words are written between `<S>` and `<E>`. Before text encoding every `<S>` gets the
placeholder `<extra_id_2>` right after it (`<S>`/`<E>` stay literal text). The context rows at
the placeholder's token positions are later overwritten with the reference voices' embeddings:
the i-th voice goes to the i-th span; a span without a voice gets the null speaker.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .components import SPEAKER_ENCODER

SPAN_OPEN = "<S>"
SPAN_CLOSE = "<E>"
SPEAKER_PLACEHOLDER = "<extra_id_2>"
_TAG = re.compile(re.escape(SPAN_OPEN) + "|" + re.escape(SPAN_CLOSE))
EXAMPLE = "<S>Hello there.<E>"


class PromptError(ValueError):
    """A prompt (or its voices) that cannot be used as written; the message says how to fix it."""


@dataclass(frozen=True)
class SpeechSpan:
    index: int  # 0-based, in order of appearance
    start: int  # character offset of the spoken text (just after `<S>`)
    end: int  # character offset just before `<E>`
    text: str  # prompt[start:end]


def parse_speech_spans(prompt: str) -> list[SpeechSpan]:
    """The `<S>…<E>` spans of `prompt`; unbalanced, nested or empty spans raise PromptError."""
    spans: list[SpeechSpan] = []
    open_at: int | None = None
    for tag in _TAG.finditer(prompt):
        if tag.group() == SPAN_OPEN:
            if open_at is not None:
                raise PromptError(
                    f"'{SPAN_OPEN}' at character {tag.start()} starts a speech span inside the one opened at character "
                    f"{open_at - len(SPAN_OPEN)}; spans cannot nest: close the first with '{SPAN_CLOSE}' before "
                    f"opening the next, e.g. '{EXAMPLE} <S>Hi!<E>'"
                )
            open_at = tag.end()
            continue
        if open_at is None:
            raise PromptError(
                f"'{SPAN_CLOSE}' at character {tag.start()} closes no speech span; put '{SPAN_OPEN}' before the spoken "
                f"words, e.g. '{EXAMPLE}'"
            )
        text = prompt[open_at : tag.start()]
        if not text.replace(SPEAKER_PLACEHOLDER, "").strip():
            raise PromptError(
                f"speech span {len(spans) + 1} (character {open_at - len(SPAN_OPEN)}) is empty; write the words to be "
                f"spoken between '{SPAN_OPEN}' and '{SPAN_CLOSE}', e.g. '{EXAMPLE}', or remove the pair"
            )
        spans.append(SpeechSpan(index=len(spans), start=open_at, end=tag.start(), text=text))
        open_at = None
    if open_at is not None:
        raise PromptError(
            f"'{SPAN_OPEN}' at character {open_at - len(SPAN_OPEN)} is never closed; end the spoken words with "
            f"'{SPAN_CLOSE}', e.g. '{EXAMPLE}'"
        )
    return spans


@dataclass(frozen=True)
class PreparedPrompt:
    """A prompt checked against its reference voices: what the text encoder and the speaker encoder get."""

    text: str  # the prompt with the speaker placeholder after every `<S>`
    spans: list[SpeechSpan]
    voices: list[Any]  # voices[i] speaks span i; None leaves a span to a voice the model picks

    @property
    def has_voices(self) -> bool:
        return any(voice is not None for voice in self.voices)


def prepare_prompt(prompt: str, voices: Sequence[Any] = (), speaker_encoder_loaded: bool = True) -> PreparedPrompt:
    """Parse the spans, bind the voices to them in order and insert the speaker placeholders.

    Every prompt and voice error is raised here, before any model runs. Empty voice slots after
    the last voice do not count. Placeholders already in the prompt are removed first, so a
    prepared text can be prepared again.
    """
    voices = list(voices)
    while voices and voices[-1] is None:
        voices.pop()
    prompt = prompt.replace(SPEAKER_PLACEHOLDER, "")
    spans = parse_speech_spans(prompt)
    if len(voices) > len(spans):
        raise PromptError(
            f"{len(voices)} reference voice(s) but {len(spans)} speech span(s) in the prompt; voices bind to the "
            f"'{SPAN_OPEN}…{SPAN_CLOSE}' spans in order, so add a span per voice (e.g. '{EXAMPLE}') or remove voices"
        )
    prepared = PreparedPrompt(prompt.replace(SPAN_OPEN, SPAN_OPEN + SPEAKER_PLACEHOLDER), spans, voices)
    if prepared.has_voices and not speaker_encoder_loaded:
        raise PromptError(
            f"reference voices need {SPEAKER_ENCODER.name} ({SPEAKER_ENCODER.where}), and none was loaded"
        )
    return prepared


def speaker_positions(token_ids: Sequence[int], placeholder_id: int) -> list[int]:
    """Token positions of the speaker placeholder (its id comes from the tokenizer), in order."""
    return [i for i, token in enumerate(token_ids) if token == placeholder_id]
