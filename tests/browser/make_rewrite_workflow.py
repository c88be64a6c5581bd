"""Regenerates the rewrite template with ComfyUI's real front-end (needs a ComfyUI that has Generate Text, 0.33+):

    COMFYUI_PATH=... COMFYUI_PYTHON=... NODE_PATH=.../node_modules python tests/browser/make_rewrite_workflow.py

Writes the UI file, the API copy `workflows/api/nava_rewrite_text_to_av.json` and the thumbnail (names in
templates.py) with make_workflows.py's machinery: the text-to-AV graph, with the prompt coming
from Core's CLIP loader (Qwen3-4B) -> NAVA Rewrite Instructions -> Generate Text -> NAVA Rewritten Prompt.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_workflows  # noqa: E402
from make_workflows import AV, COLUMN, PROMPT, graph  # noqa: E402

from nava_model.rewrite.instructions import MAX_NEW_TOKENS, REPETITION_PENALTY, TEMPERATURE, TOP_K, TOP_P  # noqa: E402

NAME = "nava_rewrite_text_to_av"
LLM = {
    "name": "qwen_3_4b.safetensors", "directory": "text_encoders",
    "url": "https://huggingface.co/Comfy-Org/z_image_turbo/resolve/main/split_files/text_encoders/qwen_3_4b.safetensors",
}
CLIP_LOADER, INSTRUCTIONS, GENERATE, REWRITTEN, PREVIEW = 40, 41, 42, 43, 44
IDEA = "A fisherman on a foggy pier at dawn looks at the empty sea and sighs <S>The boats are late again.<E>"
SAMPLING = {  # NAVA upstream's rewriter sampling
    "sampling_mode": "on", "sampling_mode.temperature": TEMPERATURE, "sampling_mode.top_k": TOP_K,
    "sampling_mode.top_p": TOP_P, "sampling_mode.min_p": 0.0, "sampling_mode.repetition_penalty": REPETITION_PENALTY,
    "sampling_mode.seed": 42,
}


def rewrite_graph() -> dict:
    spec = graph(
        "rewrite a short idea, then text to audio+video",
        "NAVA was trained on long, structured, mostly Chinese captions: short prompts work much worse. Here "
        "Generate Text (ComfyUI 0.33 or newer) runs Qwen3-4B on NAVA's rewrite instructions, and NAVA Rewritten "
        "Prompt checks that the **&lt;S&gt;…&lt;E&gt;** spans came back word for word (Preview Any shows what changed). Write "
        "your idea in NAVA Rewrite Instructions.",
        prompt="", models=AV, prefix="NAVA/rewrite_text_to_av",
    )
    (note,) = [node for node in spec["nodes"] if node["type"] == "MarkdownNote"]
    rows = note["widgets"]["text"].split("\n\n")
    rows[2] += f"\n| [{LLM['name']}]({LLM['url']}) | **models/{LLM['directory']}/** |"
    note["widgets"]["text"] = "\n\n".join(rows)
    # Two rows, each read left to right. Top: the idea through the LLM to the checked prompt, what changed, the
    # note. Bottom: NAVA's models (the VAEs under the loaders), the prompt, sampler, decode, save.
    spec["rows"] = {0: "1  Rewrite the idea (Qwen3-4B in Generate Text)", 1: "2  Make the clip (NAVA)"}
    spec["nodes"] = [node for node in spec["nodes"] if node["id"] != PROMPT]
    for node in spec["nodes"]:
        node["row"] = 1
        if node["col"] == COLUMN["vaes"]:
            node["col"] = COLUMN["loaders"]
    note |= {"row": 0, "col": 4, "minSize": [440, 440]}
    spec["nodes"] += [
        {"id": CLIP_LOADER, "type": "CLIPLoader", "row": 0, "col": 0,
         "widgets": {"clip_name": LLM["name"]}, "models": [LLM]},
        {"id": INSTRUCTIONS, "type": "NAVARewriteInstructions", "row": 0, "col": 0, "minSize": [380, 240],
         "widgets": {"prompt": IDEA}},
        {"id": GENERATE, "type": "TextGenerate", "row": 0, "col": 1,
         "widgets": {"max_length": MAX_NEW_TOKENS, **SAMPLING, "thinking": False}},
        {"id": REWRITTEN, "type": "NAVARewrittenPrompt", "row": 0, "col": 2},
        {"id": PREVIEW, "type": "PreviewAny", "row": 0, "col": 3, "minSize": [360, 300]},
        {"id": PROMPT, "type": "NAVASpeakerSpanPrompt", "row": 1, "col": 1, "minSize": [360, 240]},
    ]
    spec["links"] += [
        [CLIP_LOADER, "CLIP", GENERATE, "clip"],
        [INSTRUCTIONS, "llm_prompt", GENERATE, "prompt"],
        [INSTRUCTIONS, "prompt", REWRITTEN, "original"],
        [GENERATE, "generated_text", REWRITTEN, "llm_output"],
        [REWRITTEN, "changes", PREVIEW, "source"],
        [REWRITTEN, "prompt", PROMPT, "prompt"],
    ]
    return spec


def add_llm_placeholder(server) -> None:
    """An empty file under the LLM's name, so the front-end and /prompt validation find it listed (it cannot run)."""
    (server.base / "models" / LLM["directory"] / LLM["name"]).write_bytes(b"")


if __name__ == "__main__":
    make_workflows.main({NAME: rewrite_graph()}, prepare=add_llm_placeholder)
