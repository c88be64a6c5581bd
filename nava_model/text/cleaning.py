"""Prompt cleaning applied before tokenisation, as Wan2.2 / NAVA do for umT5 ("whitespace" mode).

Upstream runs `ftfy.fix_text`, unescapes HTML entities twice and collapses whitespace. ftfy is not a
dependency of this pack: when it is installed it is used; without it, mojibake (text decoded with
the wrong codec, e.g. "cafÃ©") is left as is, which only matters for prompts pasted from broken
sources. Everything else matches upstream exactly.
"""

from __future__ import annotations

import html
import re

try:
    import ftfy
except ImportError:  # optional: see the module docstring
    ftfy = None

_WHITESPACE = re.compile(r"\s+")


def clean_prompt(text: str) -> str:
    if ftfy is not None:
        text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return _WHITESPACE.sub(" ", text).strip()
