"""Speech spans, their validation, and the speaker placeholder."""

import pytest

from nava_model.prompt import (
    SPEAKER_PLACEHOLDER,
    PromptError,
    SpeechSpan,
    parse_speech_spans,
    prepare_prompt,
    speaker_positions,
)

VOICE = object()  # prompt checks only count the voices


def test_spans_are_found_in_order_with_their_offsets():
    prompt = "A man says <S>Hello.<E> and a woman answers <S>你好！<E>"
    spans = parse_speech_spans(prompt)
    assert spans == [
        SpeechSpan(index=0, start=14, end=20, text="Hello."),
        SpeechSpan(index=1, start=47, end=50, text="你好！"),
    ]
    assert [prompt[s.start : s.end] for s in spans] == ["Hello.", "你好！"]


def test_prompt_without_spans_has_none():
    assert parse_speech_spans("waves crash on a beach") == []


def test_opening_tag_without_closing_tag_is_an_error_naming_the_fix():
    with pytest.raises(PromptError, match=r"'<S>' at character 4 is never closed; end the spoken words with '<E>'"):
        parse_speech_spans("Bob <S>hello")


def test_closing_tag_without_opening_tag_is_an_error_naming_the_fix():
    with pytest.raises(PromptError, match=r"'<E>' at character 9 closes no speech span; put '<S>' before"):
        parse_speech_spans("Bob hello<E>")


def test_closing_tag_after_a_complete_span_is_an_error():
    with pytest.raises(PromptError, match="closes no speech span"):
        parse_speech_spans("<S>hi<E> there<E>")


def test_nested_spans_are_an_error_naming_the_fix():
    with pytest.raises(PromptError, match=r"inside the one opened at character 0; spans cannot nest: close the first"):
        parse_speech_spans("<S>one <S>two<E><E>")


@pytest.mark.parametrize("prompt", ["<S><E>", "<S>   <E>", f"<S>{SPEAKER_PLACEHOLDER} <E>"])
def test_empty_span_is_an_error_naming_the_fix(prompt):
    with pytest.raises(PromptError, match="is empty; write the words to be spoken between '<S>' and '<E>'"):
        parse_speech_spans(prompt)


def test_more_voices_than_spans_is_an_error_naming_the_fix():
    with pytest.raises(PromptError, match=r"2 reference voice\(s\) but 1 speech span\(s\).*add a span per voice"):
        prepare_prompt("<S>Hi<E>", [VOICE] * 2)


def test_voices_without_any_span_are_an_error():
    with pytest.raises(PromptError, match="0 speech span"):
        prepare_prompt("a quiet forest", [VOICE])


def test_prompt_errors_are_value_errors():
    assert issubclass(PromptError, ValueError)


def test_placeholder_follows_every_opening_tag():
    prepared = prepare_prompt("He says <S>one<E>, she says <S>two<E>.", [VOICE] * 2).text
    assert prepared == "He says <S><extra_id_2>one<E>, she says <S><extra_id_2>two<E>."


def test_fewer_voices_than_spans_is_allowed_and_every_span_still_gets_a_placeholder():
    assert prepare_prompt("<S>one<E> <S>two<E>", [VOICE]).text.count(SPEAKER_PLACEHOLDER) == 2


def test_existing_placeholders_are_stripped_before_inserting():
    once = prepare_prompt("<S>one<E> <extra_id_2>", [VOICE]).text
    assert once == "<S><extra_id_2>one<E> "
    assert prepare_prompt(once, [VOICE]).text == once


def test_prepare_validates_the_spans():
    with pytest.raises(PromptError, match="never closed"):
        prepare_prompt("<S>oops")


def test_speaker_positions_are_the_placeholder_indices_in_order():
    assert speaker_positions([5, 9, 32097, 4, 32097, 1], placeholder_id=32097) == [2, 4]
    assert speaker_positions([5, 9, 1], placeholder_id=32097) == []


def test_empty_voice_slots_after_the_last_voice_do_not_count():
    prepared = prepare_prompt("<S>one<E>", [VOICE, None, None])
    assert prepared.voices == [VOICE] and prepared.has_voices


def test_an_empty_slot_before_a_voice_leaves_its_span_to_the_model():
    prepared = prepare_prompt("<S>one<E> <S>two<E>", [None, VOICE])
    assert prepared.voices == [None, VOICE] and [span.text for span in prepared.spans] == ["one", "two"]


def test_voices_without_a_speaker_encoder_are_refused_naming_the_file_and_folder():
    with pytest.raises(PromptError, match="ReDimNet speaker encoder .*in models/audio_encoders"):
        prepare_prompt("<S>one<E>", [VOICE], speaker_encoder_loaded=False)
    assert not prepare_prompt("<S>one<E>", [None], speaker_encoder_loaded=False).has_voices
