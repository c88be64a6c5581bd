"""The prompt-authoring nodes on the stand-ins: Structured Caption -> Rewrite Instructions -> (an LLM's answer)
-> Rewritten Prompt -> Speaker-Span Prompt, as the rewrite template wires them."""

import pytest
from comfy_stand_in.fixtures import comfy, comfy_tiny, node_class  # noqa: F401  (pytest fixtures + helper)

from nava_model.rewrite import RewriteError, instructions

IDEA = "A fisherman on a pier says <S>The boats are late again.<E>"
ANSWER = "<think>Plan: keep the span.</think>画面呈现清晨的码头，一位渔夫望向海面说道：<S>The boats are late again.<E>海浪拍打木桩。"

CAPTION_FIELDS = dict(
    language="English", style_and_mood="Cinematic realism, grey morning", subjects_and_scene="Two fishermen on a pier",
    temporal_dynamics="at first they look at the sea, then one turns to the other", camera_movement="fixed",
    camera="medium shot", audio="dialogue", ambience_and_music="waves and gulls",
    speaker_1="an old man, tired, slow", words_1="The boats are late again.",
    speaker_2="a young man, laughing", words_2="They always are!",
    speaker_3="", words_3="", speaker_4="", words_4="",
)


def test_instructions_node_gives_generate_text_one_message_and_passes_the_idea_on(comfy):
    from nodes import NAVARewriteInstructions

    llm_prompt, system, idea = NAVARewriteInstructions.execute(prompt=IDEA, mode="text to audio+video").args
    assert idea == IDEA and system == instructions("text to audio+video")
    assert llm_prompt.startswith(system) and IDEA in llm_prompt
    _, image_system, _ = NAVARewriteInstructions.execute(prompt=IDEA, mode="image to audio+video").args
    assert "first frame" in image_system and image_system != system


def test_rewritten_prompt_node_returns_the_checked_caption_and_says_what_changed(comfy):
    from nodes import NAVARewrittenPrompt

    out = NAVARewrittenPrompt.execute(original=IDEA, llm_output=ANSWER, on_broken_spans="repair")
    assert out[0] == ANSWER.split("</think>")[1]
    assert out[1] == out.ui["text"][0] and out[1].startswith("Rewritten by the LLM")
    broken = NAVARewrittenPrompt.execute(original=IDEA, llm_output="渔夫说：<S>船又晚了。<E>", on_broken_spans="repair")
    assert broken[0] == "渔夫说：<S>The boats are late again.<E>" and "came back as" in broken[1]
    kept = NAVARewrittenPrompt.execute(original=IDEA, llm_output="", on_broken_spans="keep original")
    assert kept[0] == IDEA and kept[1].startswith("Kept your original prompt")
    with pytest.raises(RewriteError, match="no text"):
        NAVARewrittenPrompt.execute(original=IDEA, llm_output="", on_broken_spans="fail")


def test_structured_caption_node_builds_the_prompt_with_turns_as_spans(comfy):
    from nodes import NAVAStructuredCaption

    out = NAVAStructuredCaption.execute(**CAPTION_FIELDS)
    assert "<S>The boats are late again.<E>" in out[0] and out[0].index("The boats") < out[0].index("They always")
    assert out.ui["text"][0].startswith("2 speech span(s)")


def test_caption_rewritten_and_checked_feeds_the_speaker_span_prompt(comfy_tiny):
    import nodes

    caption = nodes.NAVAStructuredCaption.execute(**CAPTION_FIELDS)[0]
    llm_prompt, _, original = nodes.NAVARewriteInstructions.execute(prompt=caption, mode="text to audio+video").args
    answer = "两位渔夫站在码头上。老人说：<S>The boats are late again.<E>年轻人笑着说：<S>They always are!<E>"
    prompt = nodes.NAVARewrittenPrompt.execute(original=original, llm_output=answer, on_broken_spans="fail")[0]
    text_encoder = node_class("NAVAUMT5Loader").execute(text_encoder_name="umt5_xxl_fp16.safetensors")[0]
    encoded = nodes.NAVASpeakerSpanPrompt.execute(text_encoder=text_encoder, prompt=prompt, negative_prompt="")
    assert encoded.ui["text"][0].splitlines()[1:] == [
        '1. "The boats are late again." -> no reference voice (the model picks one)',
        '2. "They always are!" -> no reference voice (the model picks one)',
    ]
