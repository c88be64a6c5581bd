"""Span-safe rewriting: check an LLM's caption against the user's prompt before NAVA sees it.

Reference voices bind to the `<S>…<E>` spans in order, so a rewrite may change every word of the
description but none of the speech: the spans must come back with the same words, the same count and
the same order. LLMs break this in a few typical ways (a span translated, dropped, duplicated or
invented, markup left unbalanced, nothing but reasoning returned). `check_rewrite` finds those and,
as the policy says, repairs the rewrite, keeps the user's prompt, or raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from ..prompt import SPAN_CLOSE, SPAN_OPEN, SPEAKER_PLACEHOLDER, PromptError, SpeechSpan, parse_speech_spans


class SpanPolicy(str, Enum):
    """What to do when the LLM's spans do not match the user's."""

    REPAIR = "repair"  # put the user's words back where possible, else keep the original prompt
    KEEP_ORIGINAL = "keep original"
    FAIL = "fail"


class Outcome(str, Enum):
    REWRITTEN = "rewritten"
    REPAIRED = "repaired"
    ORIGINAL = "original"


class RewriteError(ValueError):
    """The LLM's output cannot be used and the policy says to stop; the message says what to change."""


@dataclass(frozen=True)
class CheckedRewrite:
    prompt: str  # what to generate with
    outcome: Outcome
    problem: str = ""  # what was wrong with the LLM's output ("" when nothing was)
    action: str = ""  # what was done about it

    @property
    def warning(self) -> str | None:
        """One line for a log or stderr when the LLM's output was not used as it came."""
        if self.outcome is Outcome.REWRITTEN:
            return None
        return f"{self.problem}; {self.action}"

    def summary(self, original: str) -> str:
        """What changed, for the node's UI text."""
        spans = len(parse_speech_spans(self.prompt))
        kept = f"{spans} speech span(s) kept word for word" if spans else "no speech spans"
        if self.outcome is Outcome.ORIGINAL:
            return f"Kept your original prompt: {self.problem}."
        head = "Rewritten by the LLM" if self.outcome is Outcome.REWRITTEN else "Rewritten, spans repaired"
        lines = [f"{head} ({len(original)} -> {len(self.prompt)} characters, {kept})."]
        if self.warning:
            lines.append(f"{self.problem[0].upper()}{self.problem[1:]}; {self.action}.")
        return "\n".join(lines)


_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
# chat-template tokens and role headers that some runners leave in the decoded text
_CHAT_DEBRIS = re.compile(
    r"<\|(?:im_start|im_end|endoftext|eot_id|start_header_id|end_header_id)\|>(?:\s*(?:assistant|user|system)\b)?"
    r"|<(?:start_of_turn|end_of_turn|eos|bos)>(?:\s*model\b)?|</s>",
    re.IGNORECASE,
)
_FENCE = re.compile(r"^\s*```[\w-]*\s*$", re.MULTILINE)
_LABEL = re.compile(
    r"^\s*(?:\*\*)?(?:rewritten (?:prompt|caption)|caption|prompt|output|final (?:prompt|caption|output)"
    r"|改写后的?(?:prompt|提示词|描述)?|最终(?:输出|prompt|提示词)?|提示词)(?:\*\*)?\s*[:：]\s*",
    re.IGNORECASE,
)
_QUOTES = {'"': '"', "“": "”", "「": "」", "'": "'"}
# spellings of the span tags LLMs produce instead of ours (the closing-tag habit, full-width brackets)
_TAG_VARIANTS = {"</E>": SPAN_CLOSE, "</S>": SPAN_CLOSE, "＜S＞": SPAN_OPEN, "＜E＞": SPAN_CLOSE}
_TAGS = re.compile(re.escape(SPAN_OPEN) + "|" + re.escape(SPAN_CLOSE))


def clean_llm_output(text: str) -> str:
    """The caption inside an LLM's raw output: reasoning, chat tokens, fences, labels and quotes removed,
    span tag variants normalised, one paragraph."""
    if "</think>" in text.lower() and "<think>" not in text.lower():
        text = re.split(r"</think>", text, flags=re.IGNORECASE)[-1]  # the template opened the block in the prompt
    text = _THINK_BLOCK.sub(" ", text)
    text = _CHAT_DEBRIS.sub(" ", text)
    text = _FENCE.sub(" ", text)
    text = _LABEL.sub("", text.strip())
    for variant, tag in _TAG_VARIANTS.items():
        text = text.replace(variant, tag)
    text = " ".join(text.split())
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1] and text[0] not in text[1:-1]:
        text = text[1:-1].strip()
    return text


def check_rewrite(original: str, llm_output: str, policy: SpanPolicy | str = SpanPolicy.REPAIR) -> CheckedRewrite:
    """The prompt to generate with, given the user's `original` prompt and the LLM's rewrite of it.

    A broken `original` raises PromptError (the user's prompt must be fixed first). When the LLM's spans do
    not match, `policy` decides: REPAIR puts the user's words back if they can be placed unambiguously and
    otherwise keeps `original`; KEEP_ORIGINAL keeps it; FAIL raises RewriteError.
    """
    policy = SpanPolicy(policy)
    wanted = [span.text for span in parse_speech_spans(original.replace(SPEAKER_PLACEHOLDER, ""))]
    text = clean_llm_output(llm_output)
    spans, problem = _spans_or_problem(text, wanted, llm_output)
    if not problem:
        return CheckedRewrite(_with_words(text, spans, wanted), Outcome.REWRITTEN)
    if policy is SpanPolicy.FAIL:
        raise RewriteError(
            f"rewrite rejected: {problem}. Rewrite again (another seed), or set on_broken_spans (CLI: "
            "--on-broken-spans) to repair or keep original to go on with the repaired or the original prompt"
        )
    repaired = _repair(text, spans, wanted) if policy is SpanPolicy.REPAIR and text else None
    if repaired is not None:
        return CheckedRewrite(repaired[0], Outcome.REPAIRED, problem, repaired[1])
    return CheckedRewrite(original, Outcome.ORIGINAL, problem, "the original prompt is used unchanged")


def _spans_or_problem(text: str, wanted: list[str], raw: str) -> tuple[list[SpeechSpan] | None, str]:
    if not text:
        only_reasoning = "<think>" in raw.lower() or "</think>" in raw.lower()
        return None, "the LLM returned only its reasoning, no caption" if only_reasoning else "the LLM returned no text"
    try:
        spans = parse_speech_spans(text)
    except PromptError as exc:
        return None, f"the LLM's speech markup is broken ({exc})"
    got = [span.text for span in spans]
    if [_key(t) for t in got] == [_key(t) for t in wanted]:
        return spans, ""
    return spans, _mismatch(wanted, got)


def _mismatch(wanted: list[str], got: list[str]) -> str:
    wanted_keys, got_keys = [_key(t) for t in wanted], [_key(t) for t in got]
    if len(got) < len(wanted):
        missing = [f'"{_short(t)}"' for t in wanted if _key(t) not in got_keys]
        detail = f" (lost: {', '.join(missing)})" if missing else ""
        return f"the LLM returned {len(got)} of the {len(wanted)} speech span(s){detail}"
    if len(got) > len(wanted):
        extra = [f'"{_short(t)}"' for t in got if _key(t) not in wanted_keys]
        kind = f"invented speech {', '.join(extra)}" if extra else "repeated a span"
        return f"the LLM returned {len(got)} speech span(s) for {len(wanted)} ({kind})"
    changed = [
        f'span {i} "{_short(w)}" came back as "{_short(g)}"'
        for i, (w, g) in enumerate(zip(wanted, got), 1)
        if _key(w) != _key(g)
    ]
    return "the LLM changed the spoken words: " + "; ".join(changed)


def _repair(text: str, spans: list[SpeechSpan] | None, wanted: list[str]) -> tuple[str, str] | None:
    """(repaired prompt, what was done), or None when the user's words cannot be placed unambiguously."""
    if spans is not None and len(spans) == len(wanted):
        return _with_words(text, spans, wanted), "the original words were put back into the LLM's spans"
    if spans is not None:
        keep = _matching_in_order(wanted, [span.text for span in spans])
        if keep is not None:
            dropped = _without_spans(text, [span for span in spans if span.index not in keep])
            return _with_words(dropped, parse_speech_spans(dropped), wanted), "the extra span(s) were removed"
    return _remark(text, wanted)


def _remark(text: str, wanted: list[str]) -> tuple[str, str] | None:
    """Mark the user's spoken words again where they appear, in order, in the LLM's text stripped of tags."""
    plain = " ".join(_TAGS.sub("", text).split())
    pieces, position = [], 0
    for words in wanted:
        found = plain.find(words.strip(), position)
        if found < 0:
            return None
        pieces += [plain[position:found], SPAN_OPEN, words, SPAN_CLOSE]
        position = found + len(words.strip())
    pieces.append(plain[position:])
    how = "the span tags were placed again around the original words" if wanted else "stray span tags were removed"
    return "".join(pieces), how


def _with_words(text: str, spans: list[SpeechSpan], words: list[str]) -> str:
    """`text` with each span's content replaced by the user's words (verbatim, whitespace included)."""
    pieces, position = [], 0
    for span, replacement in zip(spans, words):
        pieces += [text[position : span.start], replacement]
        position = span.end
    return "".join(pieces) + text[position:]


def _without_spans(text: str, spans: list[SpeechSpan]) -> str:
    pieces, position = [], 0
    for span in spans:
        pieces.append(text[position : span.start - len(SPAN_OPEN)])
        position = span.end + len(SPAN_CLOSE)
    return " ".join("".join(pieces + [text[position:]]).split())


def _matching_in_order(wanted: list[str], got: list[str]) -> set[int] | None:
    """Indices of `got` that match `wanted` one by one in order (first match each), or None if some is missing."""
    matched, position = set(), 0
    for words in wanted:
        while position < len(got) and _key(got[position]) != _key(words):
            position += 1
        if position == len(got):
            return None
        matched.add(position)
        position += 1
    return matched


def _key(words: str) -> str:
    return " ".join(words.replace(SPEAKER_PLACEHOLDER, "").split())


def _short(words: str, limit: int = 40) -> str:
    words = _key(words)
    return words if len(words) <= limit else words[: limit - 1] + "…"
