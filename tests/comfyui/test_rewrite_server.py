"""The rewrite template and nodes on a real ComfyUI that has Generate Text (0.33+; skipped without COMFYUI_PATH).

No LLM file can be downloaded here, so the template's API copy is checked as far as it can go: POST /prompt
validates it (an empty file stands in for qwen_3_4b.safetensors) and the run then stops at Core's CLIP
loader, which cannot load that file. The NAVA half then runs with the LLM's answer given as text.
"""

from __future__ import annotations

import copy
import json
import urllib.error
import uuid

import pytest
from comfyui_server import COMFYUI_PATH, REPO, SKIP_REASON, saved_files, start_server

pytestmark = [pytest.mark.comfyui, pytest.mark.skipif(not COMFYUI_PATH, reason=SKIP_REASON)]

TEMPLATE = json.loads((REPO / "workflows" / "api" / "nava_rewrite_text_to_av.json").read_text())
SMALL = {"steps": 2, "aspect": "custom", "width": 64, "height": 64, "seconds": 1.0, "frames": 0}
ANSWER = (
    "<think>The idea has one span.</think>画面呈现雾气弥漫的清晨码头，一位老渔夫望着空荡荡的海面，叹气说道："
    "<S>The boats are late again.<E>海浪轻拍木桩，远处传来海鸥的叫声。"
)


def small(prompt: dict) -> dict:
    prompt = copy.deepcopy(prompt)
    for node in prompt.values():
        if node["class_type"] == "NAVASampler":
            node["inputs"].update(SMALL)
    return prompt


def ids(prompt: dict, class_type: str) -> str:
    (node_id,) = [node_id for node_id, node in prompt.items() if node["class_type"] == class_type]
    return node_id


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("comfyui"))
    (server.base / "models" / "text_encoders" / "qwen_3_4b.safetensors").write_bytes(b"")
    try:
        if "TextGenerate" not in server.get("/object_info"):
            pytest.skip("this ComfyUI has no Generate Text (TextGenerate, ComfyUI 0.33 or newer)")
        yield server
    finally:
        server.process.terminate()
        server.process.wait(30)


def test_rewrite_nodes_are_listed_with_linkable_text_inputs(server):
    info = server.get("/object_info")
    rewritten = info["NAVARewrittenPrompt"]
    assert rewritten["output"] == ["STRING", "STRING"] and rewritten["category"] == "NAVA/prompt"
    assert rewritten["input"]["required"]["original"][1].get("forceInput") is True
    assert info["NAVARewriteInstructions"]["output"] == ["STRING", "STRING", "STRING"]
    assert "words_4" in info["NAVAStructuredCaption"]["input"]["required"]


def test_template_validates_on_prompt_and_the_run_stops_at_the_missing_llm(server):
    try:
        answer = server.post("/prompt", {"prompt": small(TEMPLATE), "client_id": str(uuid.uuid4())})
    except urllib.error.HTTPError as exc:
        pytest.fail(f"/prompt rejected the template: {exc.read().decode()[:3000]}")
    assert answer["node_errors"] == {}
    history = server.wait(answer["prompt_id"])
    (error,) = [data for event, data in history["status"]["messages"] if event == "execution_error"]
    # expected: only a real LLM file lets Generate Text run; validation is as far as this test can go
    assert error["node_type"] == "CLIPLoader", error


def test_nava_half_of_the_template_runs_with_the_llm_answer_given_as_text(server):
    prompt = small(TEMPLATE)
    for class_type in ("CLIPLoader", "TextGenerate"):
        del prompt[ids(prompt, class_type)]
    rewritten = ids(prompt, "NAVARewrittenPrompt")
    prompt[rewritten]["inputs"]["llm_output"] = ANSWER
    history = server.wait(server.queue(prompt, str(uuid.uuid4())))
    assert history["status"]["status_str"] == "success", history["status"]
    outputs = history["outputs"]
    assert outputs[rewritten]["text"][0].startswith("Rewritten by the LLM") and "1 speech span(s)" in outputs[rewritten]["text"][0]
    assert '1. "The boats are late again."' in outputs[ids(prompt, "NAVASpeakerSpanPrompt")]["text"][0]
    assert [f["filename"][-4:] for f in saved_files(history)] == [".mp4"]
