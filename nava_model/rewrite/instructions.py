"""What an LLM is told when it rewrites a short idea into a NAVA caption.

NAVA was trained on long, structured, mostly Chinese audio-visual captions (paper §6.3): the look of the
whole video, then what happens over time, then camera and composition, then the sound in time order,
with spoken words as `<S>…<E>` spans. Short or English prompts work much worse, so the rewriter writes
that kind of caption. The wording below is ours; the structure and the sampling settings follow NAVA.
"""

from __future__ import annotations

from enum import Enum


class RewriteMode(str, Enum):
    """What the caption describes: a video made from text alone, or one that starts from a given first frame."""

    TEXT = "text to audio+video"
    IMAGE = "image to audio+video"


# NAVA upstream's rewriter sampling (Qwen3-4B): used by the CLI backends and the shipped template.
TEMPERATURE = 0.3
TOP_P = 0.75
TOP_K = 20
REPETITION_PENALTY = 1.05
MAX_NEW_TOKENS = 2048

_ROLE = (
    "You turn a short idea into a caption for NAVA, a model that generates a video together with its sound "
    "from one caption. NAVA learned from long, structured Chinese captions, so write the caption in Simplified "
    "Chinese whatever the language of the idea, as one paragraph of plain prose. Output only the caption: no "
    "title, no list, no Markdown, no quotes around it, no explanation before or after it."
)

_LOOK_TEXT = (
    "1. The look of the whole video: visual style and mood; the subjects and the scene; their appearance, the "
    "lighting and the colours. With two or more subjects, say where each one is and how they face and relate to "
    "each other before describing what they do."
)

_LOOK_IMAGE = (
    "1. The given image is the video's first frame. Begin with that frame exactly as it is: visual style and "
    "mood, the subjects with their appearance and positions, the scene, the lighting, the colours and the "
    "framing. Everything after it must stay consistent with the image: the same subjects, clothes, place and "
    "light; never contradict it or replace what it shows."
)

_REST = """2. What happens over time, in order: how the video begins, what happens then and next, and how it ends. \
Actions are continuous and physically plausible, with their visible results; no jumps.
3. Camera and composition: the camera angle, the shot scale (close-up, medium shot, wide shot, ...), whether \
the camera is fixed, handheld, tracking, panning, tilting, zooming or pushing in, and whether there are cuts. \
Prefer a steady camera and no cuts unless the idea asks for more.
4. The sound, in time order:
   - No speech: the sounds of actions and contact, of objects and of the environment, music only if the idea \
asks for it, and how the space sounds (reverberation, distance). Then say that there is no dialogue and no \
narration.
   - One speaker: what the speaker does and how they look while speaking, where they are, their timbre, \
emotion and speaking rate, where the voice sits in the sound field, then the spoken words as a span.
   - Dialogue: one entry per turn in the order the turns are spoken, each written as "speaker description: \
<S>words<E>", with that speaker's action and expression at the same moment; then how the speakers take turns \
and the ambience around them.
   Finish with one sentence on the overall sound and atmosphere.

Speech rules (the most important part):
- Spoken words are written between <S> and <E>. Every <S>...<E> span of the idea appears in your caption \
exactly as given: the same words, language and punctuation, never translated, shortened or corrected, each \
exactly once, in the same order.
- Never add a <S>...<E> span the idea does not have, and never put anything else between <S> and <E>. If the \
idea has no span, nobody speaks in the caption.
- Keep every subject, action, place, camera request and restriction of the idea. Add only details that make it \
visible and audible; never add ones that contradict it.

Length: about 180 to 280 Chinese characters for a single subject; up to about 500 for dialogue or complex \
action."""

_STRUCTURE_INTRO = "Cover, in this order:"


def instructions(mode: RewriteMode | str = RewriteMode.TEXT) -> str:
    """The system prompt for `mode` (a RewriteMode or its value)."""
    look = _LOOK_IMAGE if RewriteMode(mode) is RewriteMode.IMAGE else _LOOK_TEXT
    return f"{_ROLE}\n\n{_STRUCTURE_INTRO}\n{look}\n{_REST}"


def single_turn_prompt(idea: str, mode: RewriteMode | str = RewriteMode.TEXT) -> str:
    """The instructions and the idea as one user message, for LLM runners without a system prompt slot.

    ComfyUI's Generate Text takes a single prompt and wraps it in the model's chat template itself. The
    trailing `/no_think` is Qwen3's switch that skips the reasoning block (other models ignore it; any
    reasoning that still comes back is stripped by the span check).
    """
    return f"{instructions(mode)}\n\nThe idea to rewrite:\n{idea.strip()}\n\nWrite the caption now. /no_think"
