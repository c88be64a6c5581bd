"""The shipped templates: each one's key (its API copy, `workflows/api/<key>.json`) and its title.

ComfyUI's template browser shows a pack's template by its file name alone (title and description both), so the
UI file, `workflows/<title>.json`, and its thumbnail `workflows/<title>.jpg` are named for people; the API copies
keep short names for scripts. A card shows about 36 characters of a title (frontend 1.49, 1600 px window).
"""

from __future__ import annotations

from pathlib import Path

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
API = WORKFLOWS / "api"

TITLES = {
    "nava_text_to_av": "NAVA text to video with sound",
    "nava_image_to_av": "NAVA image to video with sound",
    "nava_dialogue_three_voices": "NAVA three-voice dialogue",
    "nava_audio_only": "NAVA text to sound only",
    "nava_rewrite_text_to_av": "NAVA rewrite an idea, then video",
}


def ui_file(key: str) -> Path:
    return WORKFLOWS / f"{TITLES[key]}.json"


def thumbnail_file(key: str) -> Path:
    return WORKFLOWS / f"{TITLES[key]}.jpg"


def api_file(key: str) -> Path:
    return API / f"{key}.json"
