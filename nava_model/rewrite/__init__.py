"""Prompt authoring for NAVA: rewriting instructions for an LLM, the span-safe check of its answer,
a structured caption builder, and the local / HTTP LLM runners the CLI uses."""

from .caption import MAX_TURNS, AudioKind, CaptionError, CaptionFields, Language, Turn, build_caption
from .check import CheckedRewrite, Outcome, RewriteError, SpanPolicy, check_rewrite, clean_llm_output
from .instructions import RewriteMode, instructions, single_turn_prompt

__all__ = [
    "MAX_TURNS",
    "AudioKind",
    "CaptionError",
    "CaptionFields",
    "CheckedRewrite",
    "Language",
    "Outcome",
    "RewriteError",
    "RewriteMode",
    "SpanPolicy",
    "Turn",
    "build_caption",
    "check_rewrite",
    "clean_llm_output",
    "instructions",
    "single_turn_prompt",
]
