"""The structured caption builder: template order, English/Chinese phrases, turns as spans in order."""

import pytest

from nava_model.prompt import parse_speech_spans, prepare_prompt
from nava_model.rewrite import AudioKind, CaptionError, CaptionFields, Turn, build_caption

SCENE = dict(
    style_and_mood="Warm cinematic realism, a calm evening mood",
    subjects_and_scene="Three friends sit around a campfire in a pine forest at night",
    temporal_dynamics="at first they stare into the flames, then one leans in, and at the end all three laugh",
    camera_movement="push-in",
    camera="medium shot at eye level, no cuts",
    ambience_and_music="the fire crackles and crickets chirp",
)
TURNS = (
    Turn("A deep-voiced man on the left, whispering, slow", "Did you hear that noise?"),
    Turn("a young woman on the right, amused, quick", "It was just the wind."),
    Turn("", "The wind does not snap branches."),
)


def test_no_speech_caption_follows_the_template_order_and_says_there_is_no_dialogue():
    caption = build_caption(CaptionFields(**{**SCENE, "audio": AudioKind.NO_SPEECH}))
    assert parse_speech_spans(caption) == []
    order = [caption.index(piece) for piece in ("Warm cinematic", "Three friends", "As the video unfolds",
                                                 "The camera slowly pushes in, medium shot", "the fire crackles")]
    assert order == sorted(order)
    assert caption.endswith("There is no dialogue and no narration.")


def test_one_speaker_caption_has_one_span_after_the_speaker_description():
    fields = CaptionFields(**{**SCENE, "audio": AudioKind.ONE_SPEAKER}, turns=(TURNS[0],))
    caption = build_caption(fields)
    (span,) = parse_speech_spans(caption)
    assert span.text == "Did you hear that noise?"
    assert "In the audio, A deep-voiced man on the left, whispering, slow says: <S>Did you hear that noise?<E>" in caption
    assert caption.endswith("In the background, the fire crackles and crickets chirp.")


def test_three_turn_dialogue_has_the_spans_in_turn_order_so_voices_bind_to_turns():
    caption = build_caption(CaptionFields(**{**SCENE, "audio": AudioKind.DIALOGUE}, turns=TURNS))
    assert [span.text for span in parse_speech_spans(caption)] == [turn.words for turn in TURNS]
    assert prepare_prompt(caption, [object()] * 3).text.count("<extra_id_2>") == 3
    assert "a dialogue of 3 turns" in caption and "Speaker 3: <S>The wind does not snap branches.<E>" in caption
    assert "take turns without talking over each other" in caption


def test_chinese_connecting_phrases():
    caption = build_caption(CaptionFields(**{**SCENE, "audio": AudioKind.DIALOGUE}, turns=TURNS), "Chinese")
    assert len(parse_speech_spans(caption)) == 3
    assert "随着视频推进，" in caption and "镜头缓缓推近，" in caption and "这是一段3轮的对话" in caption
    assert "说话人3：<S>The wind does not snap branches.<E>" in caption
    silent = build_caption(CaptionFields(subjects_and_scene="雨夜的街道", ambience_and_music="雨声淅沥"), "Chinese")
    assert silent == "雨夜的街道。音频方面，雨声淅沥。画面中没有人物对白，也没有任何旁白。"


@pytest.mark.parametrize(
    "fields, message",
    [
        (CaptionFields(audio=AudioKind.NO_SPEECH), "describe at least the subjects"),
        (CaptionFields(subjects_and_scene="x", audio=AudioKind.NO_SPEECH, turns=TURNS[:1]), "choose 'one speaker'"),
        (CaptionFields(subjects_and_scene="x", audio=AudioKind.ONE_SPEAKER, turns=TURNS[:2]), "or choose 'dialogue'"),
        (CaptionFields(subjects_and_scene="x", audio=AudioKind.ONE_SPEAKER), "fill only turn 1"),
        (CaptionFields(subjects_and_scene="x", audio=AudioKind.DIALOGUE, turns=TURNS[:1]), "at least turns 1 and 2"),
        (CaptionFields(subjects_and_scene="x", audio=AudioKind.DIALOGUE, turns=(TURNS[0], Turn("", ""), TURNS[2])),
         "turn 2 is empty: fill the turns in order"),
        (CaptionFields(subjects_and_scene="x", audio=AudioKind.ONE_SPEAKER, turns=(Turn("a man", "<S>hi<E>"),)),
         "without '<S>'/'<E>'"),
        (CaptionFields(subjects_and_scene="x", audio=AudioKind.ONE_SPEAKER, turns=(Turn("a man", ""),)),
         "turn 1 describes a speaker but has no words"),
        (CaptionFields(subjects_and_scene="He says <S>hi<E>"), "only the turns' words may hold speech"),
        (CaptionFields(subjects_and_scene="x", camera_movement="orbit"), "is not one of"),
    ],
)
def test_fields_that_do_not_make_a_caption_say_which_field_to_fix(fields, message):
    with pytest.raises(CaptionError, match=message):
        build_caption(fields)
