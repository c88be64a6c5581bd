"""The rewrite template in ComfyUI's real front-end (headless Chromium; needs a ComfyUI with Generate Text, 0.33+).

Skipped unless COMFYUI_PATH, Node.js, Chromium and playwright-core are found (see browser.py), and on a ComfyUI
without Generate Text. An empty file stands in for the LLM (qwen_3_4b.safetensors), so the front-end finds every
model the template lists.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser import canonical, console_errors, legibility_problems, missing_tools, run_frontend, start_ui_server  # noqa
from make_rewrite_workflow import NAME, add_llm_placeholder  # noqa: E402
from templates import TITLES, api_file, ui_file  # noqa: E402

REASON = missing_tools()
TEMPLATE = json.loads(ui_file(NAME).read_text())
TEMPLATE_URLS = {model["url"] for node in TEMPLATE["nodes"] for model in node.get("properties", {}).get("models", [])}

pytestmark = [pytest.mark.browser, pytest.mark.comfyui, pytest.mark.skipif(REASON is not None, reason=REASON or "")]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    base = tmp_path_factory.mktemp("rewrite-browser")
    server = start_ui_server(base / "comfyui")
    add_llm_placeholder(server)
    try:
        if "TextGenerate" not in server.get("/object_info"):
            pytest.skip("this ComfyUI has no Generate Text (TextGenerate, ComfyUI 0.33 or newer)")
        opened = {}
        for renderer, vue in (("classic", False), ("vue", True)):
            (base / renderer).mkdir()
            screenshot = str(base / renderer / f"{NAME}.png")
            job = {"settings": {"Comfy.VueNodes.Enabled": vue},
                   "open": {NAME: {"workflow": TEMPLATE, "title": TITLES[NAME], "screenshot": screenshot}}}
            opened[renderer] = run_frontend(server, job, base / renderer)["opened"][NAME]
        yield run_frontend(server, {"load": {NAME: TEMPLATE}}, base) | {"opened": opened}
    finally:
        server.process.terminate()
        server.process.wait(30)


def test_rewrite_template_loads_without_console_errors(loaded):
    assert NAME in loaded["loaded"]
    assert console_errors(loaded["console"]) == [], loaded["console"]
    # every model the template lists is found on the server: the front-end looks none of them up online
    assert [entry for entry in loaded["console"] if any(url in entry["text"] for url in TEMPLATE_URLS)] == []


def test_rewrite_template_converts_to_the_committed_api_copy(loaded):
    committed = json.loads(api_file(NAME).read_text())
    assert canonical(loaded["loaded"][NAME]["api"]) == canonical(committed)


@pytest.mark.parametrize("renderer", ["classic", "vue"])
def test_rewrite_template_opens_legibly_in_a_1600_px_window(loaded, renderer):
    """Seven stages in two rows (rewrite, then NAVA): fitted at a zoom where titles are drawn, nothing cut or hidden."""
    assert legibility_problems(loaded["opened"][renderer]) == []


def test_span_view_says_the_prompt_comes_from_the_rewrite(loaded):
    # the prompt widget's own text is unused once its input is linked: the view must not show spans from it
    (view,) = loaded["loaded"][NAME]["views"]
    assert view["problems"] == [] and view["text"].startswith("prompt from its input"), view
