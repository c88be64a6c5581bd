"""The rewrite template file itself (no ComfyUI needed): the chain from Core's LLM to NAVA's sampler, NAVA
upstream's rewriter sampling, and the LLM file listed with its download address."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from templates import api_file, ui_file  # noqa: E402

UI = json.loads(ui_file("nava_rewrite_text_to_av").read_text())
API = json.loads(api_file("nava_rewrite_text_to_av").read_text())


def node(class_type: str) -> tuple[str, dict]:
    (found,) = [(node_id, n["inputs"]) for node_id, n in API.items() if n["class_type"] == class_type]
    return found


def test_the_prompt_flows_from_the_llm_through_the_span_check_to_the_sampler():
    loader, _ = node("CLIPLoader")
    instructions, _ = node("NAVARewriteInstructions")
    generate, generate_inputs = node("TextGenerate")
    rewritten, rewritten_inputs = node("NAVARewrittenPrompt")
    prompt, prompt_inputs = node("NAVASpeakerSpanPrompt")
    _, sampler_inputs = node("NAVASampler")
    assert generate_inputs["clip"] == [loader, 0] and generate_inputs["prompt"] == [instructions, 0]  # llm_prompt
    assert rewritten_inputs["original"] == [instructions, 2] and rewritten_inputs["llm_output"] == [generate, 0]
    assert prompt_inputs["prompt"] == [rewritten, 0] and sampler_inputs["conditioning"] == [prompt, 0]
    _, preview_inputs = node("PreviewAny")
    assert preview_inputs["source"] == [rewritten, 1]  # what changed, on screen
    assert rewritten_inputs["on_broken_spans"] == "repair"


def test_generate_text_samples_like_navas_rewriter_without_thinking():
    _, inputs = node("TextGenerate")
    sampling = {k.removeprefix("sampling_mode."): v for k, v in inputs.items() if k.startswith("sampling_mode.")}
    assert inputs["sampling_mode"] == "on" and not inputs["thinking"] and inputs["max_length"] >= 1024
    assert (sampling["temperature"], sampling["top_p"], sampling["top_k"], sampling["repetition_penalty"]) == (
        0.3, 0.75, 20, 1.05
    )


def test_the_llm_file_is_listed_with_its_folder_and_download_address():
    (loader,) = [n for n in UI["nodes"] if n["type"] == "CLIPLoader"]
    (model,) = loader["properties"]["models"]
    assert model["name"] == loader["widgets_values"][0] == "qwen_3_4b.safetensors"
    assert model["directory"] == "text_encoders" and model["url"].startswith("https://huggingface.co/")
    assert model["url"].endswith("/qwen_3_4b.safetensors")
    (note,) = [n for n in UI["nodes"] if n["type"] == "MarkdownNote"]
    assert model["url"] in note["widgets_values"][0] and "0.33" in note["widgets_values"][0]


def test_the_example_idea_is_short_and_has_a_speech_span():
    from nava_model.prompt import parse_speech_spans

    _, inputs = node("NAVARewriteInstructions")
    assert len(parse_speech_spans(inputs["prompt"])) == 1 and inputs["mode"] == "text to audio+video"
