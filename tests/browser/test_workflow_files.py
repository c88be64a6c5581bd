"""The shipped workflow files themselves (no ComfyUI needed): models listed with download links, NAVA's
defaults, inputs present and reproducible, and web/spans.js agreeing with the server's span rules."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(Path(__file__).resolve().parent)]

from templates import TITLES, WORKFLOWS, api_file, thumbnail_file, ui_file  # noqa: E402

INPUTS = WORKFLOWS / "inputs"
UI = {key: json.loads(ui_file(key).read_text()) for key in TITLES}
API = {key: json.loads(api_file(key).read_text()) for key in TITLES}
LOADER_FOLDERS = {
    "NAVAModelLoader": "nava", "NAVAWanVAELoader": "vae", "NAVAAudioVAELoader": "vae",
    "NAVAUMT5Loader": "text_encoders", "NAVAReDimNetLoader": "audio_encoders",
}


def test_every_ui_template_has_an_api_copy_and_a_thumbnail_and_nothing_else_is_shipped():
    for folder, named in ((WORKFLOWS, ui_file), (WORKFLOWS / "api", api_file)):
        assert sorted(path.name for path in folder.glob("*.json")) == sorted(named(key).name for key in TITLES)
    for name in UI:
        thumbnail = thumbnail_file(name)
        assert thumbnail.read_bytes()[:3] == b"\xff\xd8\xff" and thumbnail.stat().st_size < 64 * 1024


def test_titles_fit_on_a_template_card():
    # the template browser shows a pack's template by its file name; a card cuts it after about 36 characters
    assert all(len(title) <= 32 for title in TITLES.values()), TITLES


def test_thumbnails_tell_the_templates_apart():
    import numpy as np
    from PIL import Image

    pictures = {name: np.asarray(Image.open(thumbnail_file(name)).convert("L"), dtype=np.float32) for name in UI}
    top = {name: picture[: picture.shape[0] * 28 // 100] for name, picture in pictures.items()}  # the caption band
    for a in UI:
        for b in UI:
            if a < b:  # mean grey-level difference; bare graph screenshots differed there by 1 to 4
                assert np.abs(top[a] - top[b]).mean() > 10, (a, b)


def row_of(node: dict, groups: list[dict]) -> int:
    """The row a node sits in: the index of the group (top to bottom) framing it, or 0 in a graph without groups."""
    y = node["pos"][1]
    tops = sorted(groups, key=lambda g: g["bounding"][1])
    inside = [i for i, g in enumerate(tops) if g["bounding"][1] <= y <= g["bounding"][1] + g["bounding"][3]]
    assert len(inside) == (1 if groups else 0), (node["type"], inside)
    return inside[0] if inside else 0


@pytest.mark.parametrize("name", sorted(UI))
def test_graph_reads_left_to_right(name):
    """Like text: within a row every link leaves a node's right edge for a node that starts further right; a link
    between rows runs down to the next row (the rewrite template's two rows)."""
    nodes = {n["id"]: n for n in UI[name]["nodes"]}
    groups = UI[name].get("groups", [])
    for _, source, _, target, _, _ in UI[name]["links"]:
        src, dst = nodes[source], nodes[target]
        rows = row_of(src, groups), row_of(dst, groups)
        if rows[0] == rows[1]:
            assert src["pos"][0] + src["size"][0] < dst["pos"][0], (src["type"], dst["type"])
        else:
            assert rows[1] == rows[0] + 1, (src["type"], dst["type"], rows)


@pytest.mark.parametrize("name", sorted(UI))
def test_template_opens_fitted_and_draws_a_new_seed_after_each_run(name):
    assert "ds" not in UI[name].get("extra", {})  # no saved view: both front-ends fit the graph to the window
    (sampler,) = [n for n in UI[name]["nodes"] if n["type"] == "NAVASampler"]
    values = sampler["widgets_values"]
    assert values[values.index(42) + 1] == "randomize"  # seed 42, then "control after generate"


@pytest.mark.parametrize("name", sorted(UI))
def test_note_uses_no_code_spans(name):
    # the Vue node renderer draws `code` on a note in a colour that can hardly be read (contrast 1.8)
    (note,) = [n for n in UI[name]["nodes"] if n["type"] == "MarkdownNote"]
    assert "`" not in note["widgets_values"][0]


def test_readme_tells_headless_users_what_the_api_files_cost_and_how_to_shrink_them():
    import re

    readme = (REPO / "README.md").read_text()
    note = readme[readme.index("**Headless runs get NAVA's real settings.**"):]
    for api in API.values():
        (sampler,) = [n["inputs"] for n in api.values() if n["class_type"] == "NAVASampler"]
        assert f"{sampler['width']}×{sampler['height']}, {sampler['seconds']:g} s, {sampler['steps']} steps" in note
    assert re.search(r"about \d+ min \(\d+ s a step,\s+\d+ s to decode", note)  # measured, with its command
    overrides = re.search(r'sampler\["inputs"\]\.update\((.*)\)', note).group(1)
    keys = dict(item.split("=") for item in overrides.replace(" ", "").split(","))
    assert all(set(keys) <= set(n["inputs"]) for api in API.values() for n in api.values() if n["class_type"] == "NAVASampler")


def test_api_copies_hold_only_what_the_server_reads():
    # 1.35's LoadAudio sent a display-only "audioUI" value; 1.49 does not: neither is kept
    assert all("audioUI" not in node["inputs"] for api in API.values() for node in api.values())


@pytest.mark.parametrize("name", sorted(UI))
def test_each_loader_lists_its_model_file_with_folder_and_download_url(name):
    loaders = [n for n in UI[name]["nodes"] if n["type"] in LOADER_FOLDERS]
    assert loaders
    for node in loaders:
        (model,) = node["properties"]["models"]
        assert model["name"] == node["widgets_values"][0]  # the front-end matches models to widget values
        assert model["directory"] == LOADER_FOLDERS[node["type"]]
        assert model["url"].startswith("https://") and model["url"].rsplit("/", 1)[-1] == model["name"]  # no renaming


# ComfyUI's missing-models panel (frontend 1.49) offers its Download button only for these hosts and file types
DOWNLOADABLE_HOSTS = ("https://huggingface.co/", "https://civitai.com/")
DOWNLOADABLE_TYPES = (".safetensors", ".sft", ".ckpt", ".pth", ".pt")


@pytest.mark.parametrize("name", sorted(UI))
def test_every_model_but_redimnet_gets_the_missing_models_download_button(name):
    """ReDimNet is published on GitHub only, which the panel does not download from; the note links it instead."""
    models = [m for n in UI[name]["nodes"] for m in n.get("properties", {}).get("models", [])]
    refused = [
        m["name"] for m in models if not (m["url"].startswith(DOWNLOADABLE_HOSTS) and m["name"].endswith(DOWNLOADABLE_TYPES))
    ]
    assert refused == (["M-vb2+vox2+cnc-ft_mix.pt"] if name == "nava_dialogue_three_voices" else [])
    (note,) = [n for n in UI[name]["nodes"] if n["type"] == "MarkdownNote"]
    assert all(f"[{m['name']}]({m['url']})" in note["widgets_values"][0] for m in models)


@pytest.mark.parametrize("name", sorted(API))
def test_templates_ship_navas_defaults(name):
    (sampler,) = [n["inputs"] for n in API[name].values() if n["class_type"] == "NAVASampler"]
    assert (sampler["steps"], sampler["width"], sampler["height"], sampler["seconds"], sampler["seed"]) == (50, 1280, 704, 6, 42)
    assert sampler["aspect"] == "1280x704" and sampler["sampler"] == "unipc" and sampler["shift"] == 5


def test_templates_cover_text_image_dialogue_and_audio_only():
    modes = {name: next(n["inputs"]["mode"] for n in api.values() if n["class_type"] == "NAVASampler") for name, api in API.items()}
    assert modes["nava_audio_only"] == "audio only" and {modes[n] for n in API if n != "nava_audio_only"} == {"audio+video"}
    image = API["nava_image_to_av"]
    assert any(n["class_type"] == "LoadImage" for n in image.values())
    prompt = next(n["inputs"] for n in API["nava_dialogue_three_voices"].values() if n["class_type"] == "NAVASpeakerSpanPrompt")
    assert {"voice_1", "voice_2", "voice_3", "speaker_encoder"} <= set(prompt) and prompt["prompt"].count("<S>") == 3


@pytest.mark.parametrize("name", sorted(API))
def test_input_files_named_by_the_workflows_are_shipped(name):
    for node in API[name].values():
        if node["class_type"] in ("LoadImage", "LoadAudio"):
            assert (INPUTS / node["inputs"].get("image", node["inputs"].get("audio"))).is_file()


def test_example_inputs_are_small_16khz_voices_and_a_png():
    assert (INPUTS / "nava_first_frame.png").stat().st_size <= 64 * 1024
    for i in (1, 2, 3):
        with wave.open(str(INPUTS / f"nava_voice_{i}.wav")) as voice:
            assert (voice.getframerate(), voice.getnchannels()) == (16000, 1)
            assert 2.0 <= voice.getnframes() / 16000 <= 5.0


def test_make_inputs_reproduces_the_committed_files(tmp_path):
    subprocess.run([sys.executable, str(INPUTS / "make_inputs.py"), str(tmp_path)], check=True)
    for path in tmp_path.iterdir():
        assert path.read_bytes() == (INPUTS / path.name).read_bytes(), path.name


SPAN_CASES = [
    "no speech at all",
    "A man says <S>hello<E> and <S>bye<E>.",
    "<S>first<E><S>second<E><S>third<E>",
    "nested <S>a <S>b<E> c<E>",
    "empty <S>  <E> span",
    "placeholder only <S><extra_id_2><E>",
    "never <S>closed",
    "stray <E> close",
    "中文 <S>你好，世界<E> 结束",
]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_web_span_parser_agrees_with_the_server_parser():
    from nava_model.prompt import PromptError, parse_speech_spans

    script = (
        f"import('{(REPO / 'web' / 'spans.js').as_uri()}').then((m) => console.log(JSON.stringify("
        f"{json.dumps(SPAN_CASES)}.map((p) => m.parseSpeechSpans(p)))))"
    )
    results = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout)
    for prompt, web in zip(SPAN_CASES, results):
        try:
            server, message = [(s.start, s.end, s.text) for s in parse_speech_spans(prompt)], None
        except PromptError as error:
            server, message = None, str(error)
        if message is None:
            assert web["error"] is None and [(s["start"], s["end"], s["text"]) for s in web["spans"]] == server, prompt
        else:
            assert web["error"]["message"] == message, prompt


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_web_check_of_a_linked_prompt_keeps_the_wiring_check_only():
    # its text arrives at run time: no span count to hold voices against, but a voice still needs the speaker encoder
    script = (
        f"import('{(REPO / 'web' / 'spans.js').as_uri()}').then((m) => console.log(JSON.stringify("
        "[m.checkPromptNode(null, [1, 2], false), m.checkPromptNode(null, [1], true)])))"
    )
    unwired, wired = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout)
    assert unwired["linked"] and unwired["spans"] == [] and len(unwired["problems"]) == 1
    assert "no speaker encoder" in unwired["problems"][0]
    assert wired["linked"] and wired["problems"] == []
