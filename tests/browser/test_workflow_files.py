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
WORKFLOWS = REPO / "workflows"
INPUTS = WORKFLOWS / "inputs"
sys.path.insert(0, str(REPO))

UI = {path.stem: json.loads(path.read_text()) for path in sorted(WORKFLOWS.glob("*.json"))}
API = {path.stem: json.loads(path.read_text()) for path in sorted((WORKFLOWS / "api").glob("*.json"))}
LOADER_FOLDERS = {
    "NAVAModelLoader": "nava", "NAVAWanVAELoader": "vae", "NAVAAudioVAELoader": "vae",
    "NAVAUMT5Loader": "text_encoders", "NAVAReDimNetLoader": "audio_encoders",
}


def test_every_ui_template_has_an_api_copy_and_a_thumbnail():
    assert set(UI) == set(API) and len(UI) == 5
    for name in UI:
        thumbnail = WORKFLOWS / f"{name}.jpg"
        assert thumbnail.read_bytes()[:3] == b"\xff\xd8\xff" and thumbnail.stat().st_size < 64 * 1024


@pytest.mark.parametrize("name", sorted(UI))
def test_each_loader_lists_its_model_file_with_folder_and_download_url(name):
    loaders = [n for n in UI[name]["nodes"] if n["type"] in LOADER_FOLDERS]
    assert loaders
    for node in loaders:
        (model,) = node["properties"]["models"]
        assert model["name"] == node["widgets_values"][0]  # the front-end matches models to widget values
        assert model["directory"] == LOADER_FOLDERS[node["type"]]
        assert model["url"].startswith("https://") and model["url"].rsplit("/", 1)[-1].endswith(model["name"].removeprefix("ReDimNet-"))


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
