"""Regenerates the rewrite template with ComfyUI's real front-end (needs a ComfyUI that has Generate Text, 0.33+):

    COMFYUI_PATH=... COMFYUI_PYTHON=... NODE_PATH=.../node_modules python tests/browser/make_rewrite_workflow.py

Writes `workflows/nava_rewrite_text_to_av.json` (UI), `workflows/api/nava_rewrite_text_to_av.json` (API) and the
thumbnail, the same way make_workflows.py writes the other templates: the text-to-AV graph, with the prompt coming
from Core's CLIP loader (Qwen3-4B) -> NAVA Rewrite Instructions -> Generate Text -> NAVA Rewritten Prompt.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser import API, WORKFLOWS, console_errors, missing_tools, run_frontend, start_ui_server  # noqa: E402
from make_workflows import AV, COLUMN, MODELS, PROMPT, finish, graph, save_thumbnail  # noqa: E402

NAME = "nava_rewrite_text_to_av"
LLM = {
    "name": "qwen_3_4b.safetensors", "directory": "text_encoders",
    "url": "https://huggingface.co/Comfy-Org/z_image_turbo/resolve/main/split_files/text_encoders/qwen_3_4b.safetensors",
}
CLIP_LOADER, INSTRUCTIONS, GENERATE, REWRITTEN, PREVIEW = 40, 41, 42, 43, 44
IDEA = "A fisherman on a foggy pier at dawn looks at the empty sea and sighs <S>The boats are late again.<E>"
# NAVA upstream's rewriter sampling (nava_model/rewrite/instructions.py)
SAMPLING = {
    "sampling_mode": "on", "sampling_mode.temperature": 0.3, "sampling_mode.top_k": 20, "sampling_mode.top_p": 0.75,
    "sampling_mode.min_p": 0.0, "sampling_mode.repetition_penalty": 1.05, "sampling_mode.seed": 42,
}


def rewrite_graph() -> dict:
    spec = graph(
        "rewrite a short idea, then text to audio+video",
        "NAVA was trained on long, structured, mostly Chinese captions: short prompts work much worse. Here "
        "Generate Text (ComfyUI 0.33 or newer) runs Qwen3-4B on NAVA's rewrite instructions, and NAVA Rewritten "
        "Prompt checks that the `<S>…<E>` spans came back word for word (Preview Any shows what changed). Write "
        "your idea in NAVA Rewrite Instructions.",
        prompt="", models=AV, prefix="NAVA/rewrite_text_to_av",
    )
    note = spec["nodes"][0]
    rows = note["widgets"]["text"].split("\n\n")
    rows[2] += f"\n| [{LLM['name']}]({LLM['url']}) | `models/{LLM['directory']}/` |"
    note["widgets"]["text"] = "\n\n".join(rows)
    below = 4 * 160 + 20
    spec["nodes"] = [node for node in spec["nodes"] if node["id"] != PROMPT]
    spec["nodes"] += [
        {"id": CLIP_LOADER, "type": "CLIPLoader", "pos": [COLUMN["loaders"], below],
         "widgets": {"clip_name": LLM["name"]}, "models": [LLM]},
        {"id": INSTRUCTIONS, "type": "NAVARewriteInstructions", "pos": [COLUMN["loaders"], below + 160],
         "size": [380, 240], "widgets": {"prompt": IDEA}},
        {"id": GENERATE, "type": "TextGenerate", "pos": [COLUMN["prompt"], below],
         "widgets": {"max_length": 2048, **SAMPLING, "thinking": False}},
        {"id": REWRITTEN, "type": "NAVARewrittenPrompt", "pos": [COLUMN["prompt"], 0]},
        {"id": PREVIEW, "type": "PreviewAny", "pos": [COLUMN["prompt"], 160], "size": [460, 300]},
        {"id": PROMPT, "type": "NAVASpeakerSpanPrompt", "pos": [COLUMN["sampler"], 520], "size": [360, 240]},
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


def main() -> None:
    reason = missing_tools()
    if reason:
        sys.exit(reason)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        server = start_ui_server(base / "comfyui")
        add_llm_placeholder(server)
        try:
            thumbnail = base / f"{NAME}.png"
            result = run_frontend(server, {"build": {NAME: rewrite_graph()}, "thumbnails": {NAME: str(thumbnail)}}, base)
            save_thumbnail(thumbnail, WORKFLOWS / f"{NAME}.jpg")
        finally:
            server.process.terminate()
            server.process.wait(30)
    built = result["built"][NAME]
    (WORKFLOWS / f"{NAME}.json").write_text(json.dumps(finish(NAME, built["ui"]), indent=2, ensure_ascii=False) + "\n")
    (API / f"{NAME}.json").write_text(json.dumps(built["api"], indent=2, ensure_ascii=False) + "\n")
    print(f"wrote workflows/{NAME}.json and workflows/api/{NAME}.json")
    errors = console_errors(result["console"])
    if errors:
        sys.exit("console errors in the front-end:\n" + "\n".join(map(str, errors)))


if __name__ == "__main__":
    main()
