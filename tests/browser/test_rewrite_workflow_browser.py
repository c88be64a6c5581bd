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

from browser import API, WORKFLOWS, canonical, console_errors, missing_tools, run_frontend, start_ui_server  # noqa: E402
from make_rewrite_workflow import NAME, add_llm_placeholder  # noqa: E402

REASON = missing_tools()
TEMPLATE = json.loads((WORKFLOWS / f"{NAME}.json").read_text())
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
        yield run_frontend(server, {"load": {NAME: TEMPLATE}}, base)
    finally:
        server.process.terminate()
        server.process.wait(30)


def test_rewrite_template_loads_without_console_errors(loaded):
    assert NAME in loaded["loaded"]
    assert console_errors(loaded["console"]) == [], loaded["console"]
    # every model the template lists is found on the server: the front-end looks none of them up online
    assert [entry for entry in loaded["console"] if any(url in entry["text"] for url in TEMPLATE_URLS)] == []


def test_rewrite_template_converts_to_the_committed_api_copy(loaded):
    committed = json.loads((API / f"{NAME}.json").read_text())
    assert canonical(loaded["loaded"][NAME]["api"]) == canonical(committed)
