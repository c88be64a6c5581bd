"""The span-safe check of an LLM's rewrite: what is accepted, repaired, kept or refused, on malformed answers."""

import pytest

from nava_model.prompt import PromptError, parse_speech_spans
from nava_model.rewrite import Outcome, RewriteError, SpanPolicy, check_rewrite, clean_llm_output

ORIGINAL = "A fisherman on a pier says <S>The boats are late again.<E> His friend answers <S>They always are!<E>"
SPANS = ["The boats are late again.", "They always are!"]
GOOD = "画面呈现清晨的码头。渔夫望向海面说道：<S>The boats are late again.<E>他的朋友笑着回答：<S>They always are!<E>海浪拍打木桩。"


def spans(prompt):
    return [span.text for span in parse_speech_spans(prompt)]


def test_a_rewrite_that_keeps_every_span_is_used_as_it_came():
    checked = check_rewrite(ORIGINAL, GOOD)
    assert checked.outcome is Outcome.REWRITTEN and checked.prompt == GOOD and checked.warning is None


@pytest.mark.parametrize(
    "debris",
    [
        "<think>The user wants a pier scene. I should keep the spans.</think>\n{}",
        "<|im_start|>assistant\n{}<|im_end|>",
        "```\n{}\n```",
        "Rewritten prompt: {}",
        "改写后的提示词：{}",
        "“{}”",
        "Okay, let me think.</think>{}",  # the chat template opened the reasoning block itself
    ],
)
def test_reasoning_and_chat_debris_around_a_good_rewrite_are_stripped(debris):
    checked = check_rewrite(ORIGINAL, debris.format(GOOD))
    assert checked.outcome is Outcome.REWRITTEN and checked.prompt == GOOD


def test_closing_tag_spellings_are_read_as_span_ends():
    checked = check_rewrite(ORIGINAL, GOOD.replace("<E>", "</E>"))
    assert checked.outcome is Outcome.REWRITTEN and spans(checked.prompt) == SPANS


def test_whitespace_changes_inside_a_span_are_undone_silently():
    checked = check_rewrite(ORIGINAL, GOOD.replace("late again.", "late\n  again."))
    assert checked.outcome is Outcome.REWRITTEN and spans(checked.prompt) == SPANS


def test_a_translated_span_gets_the_original_words_back():
    translated = GOOD.replace("The boats are late again.", "船又晚了。")
    checked = check_rewrite(ORIGINAL, translated)
    assert checked.outcome is Outcome.REPAIRED and spans(checked.prompt) == SPANS
    assert "渔夫望向海面说道" in checked.prompt  # the LLM's description is kept
    assert '"The boats are late again." came back as "船又晚了。"' in checked.warning


def test_a_duplicated_span_is_removed():
    duplicated = GOOD.replace("<E>他的", "<E><S>The boats are late again.<E>他的")
    checked = check_rewrite(ORIGINAL, duplicated)
    assert checked.outcome is Outcome.REPAIRED and spans(checked.prompt) == SPANS
    assert "repeated a span" in checked.warning


def test_speech_invented_for_a_silent_prompt_is_removed():
    checked = check_rewrite("Rain on a tin roof at night.", "夜晚，雨点打在铁皮屋顶上。一个男人说：<S>好大的雨。<E>雷声隆隆。")
    assert checked.outcome is Outcome.REPAIRED and spans(checked.prompt) == []
    assert 'invented speech "好大的雨。"' in checked.warning


def test_a_dropped_span_whose_words_are_gone_keeps_the_original_prompt():
    dropped = "画面呈现清晨的码头。渔夫望向海面说道：<S>The boats are late again.<E>他的朋友笑了。"
    checked = check_rewrite(ORIGINAL, dropped)
    assert checked.outcome is Outcome.ORIGINAL and checked.prompt == ORIGINAL
    assert 'returned 1 of the 2 speech span(s) (lost: "They always are!")' in checked.warning


def test_spans_whose_tags_were_dropped_are_marked_again_around_the_same_words():
    untagged = GOOD.replace("<S>", "").replace("<E>", "")
    checked = check_rewrite(ORIGINAL, untagged)
    assert checked.outcome is Outcome.REPAIRED and spans(checked.prompt) == SPANS
    assert checked.prompt.startswith("画面呈现清晨的码头。渔夫望向海面说道：<S>The boats")


def test_unbalanced_markup_is_repaired_when_the_words_are_all_there():
    unbalanced = GOOD.replace("They always are!<E>", "They always are!")
    checked = check_rewrite(ORIGINAL, unbalanced)
    assert checked.outcome is Outcome.REPAIRED and spans(checked.prompt) == SPANS
    assert "markup is broken" in checked.warning and "never closed" in checked.warning


def test_stray_tags_in_a_rewrite_of_a_silent_prompt_are_removed():
    checked = check_rewrite("Rain on a tin roof.", "雨点打在铁皮屋顶上<E>，雷声隆隆。")
    assert checked.outcome is Outcome.REPAIRED and checked.prompt == "雨点打在铁皮屋顶上，雷声隆隆。"


@pytest.mark.parametrize(
    "answer, problem",
    [
        ("", "returned no text"),
        ("   \n<|im_end|>", "returned no text"),
        ("<think>The user wants a pier. Let me plan the caption first", "only its reasoning"),
        ("<think>plan</think>", "only its reasoning"),
    ],
)
def test_empty_or_reasoning_only_answers_keep_the_original_prompt(answer, problem):
    checked = check_rewrite(ORIGINAL, answer)
    assert checked.outcome is Outcome.ORIGINAL and checked.prompt == ORIGINAL and problem in checked.warning


def test_keep_original_policy_never_repairs():
    translated = GOOD.replace("They always are!", "他们总是这样！")
    checked = check_rewrite(ORIGINAL, translated, SpanPolicy.KEEP_ORIGINAL)
    assert checked.outcome is Outcome.ORIGINAL and checked.prompt == ORIGINAL


def test_fail_policy_raises_with_the_problem_and_the_way_out():
    with pytest.raises(RewriteError, match="span 2 \"They always are!\" came back as .*set on_broken_spans .* to repair or keep original"):
        check_rewrite(ORIGINAL, GOOD.replace("They always are!", "他们总是这样！"), "fail")


def test_fail_policy_accepts_a_good_rewrite():
    assert check_rewrite(ORIGINAL, GOOD, "fail").prompt == GOOD


def test_a_broken_original_prompt_is_reported_as_the_users_to_fix():
    with pytest.raises(PromptError, match="never closed"):
        check_rewrite("He says <S>hello", GOOD)


def test_the_summary_says_what_changed():
    assert check_rewrite(ORIGINAL, GOOD).summary(ORIGINAL).startswith(
        f"Rewritten by the LLM ({len(ORIGINAL)} -> {len(GOOD)} characters, 2 speech span(s) kept word for word)."
    )
    repaired = check_rewrite(ORIGINAL, GOOD.replace("They always are!", "他们总是这样！")).summary(ORIGINAL)
    assert repaired.splitlines()[1].startswith("The LLM changed the spoken words")
    kept = check_rewrite(ORIGINAL, "").summary(ORIGINAL)
    assert kept == "Kept your original prompt: the LLM returned no text."


def test_cleaning_makes_one_paragraph():
    assert clean_llm_output("First line.\n\nSecond line.\n") == "First line. Second line."
