"""umT5 tokenization: ours vs transformers' T5 tokenizer on the same SentencePiece models, plus cleaning.

Reference: transformers `T5Tokenizer.from_pretrained(<folder with spiece.model>)`, the HF tokenizer
upstream's `AutoTokenizer("google/umt5-xxl")` resolves to, built on SentencePiece models trained here.
"""

import io
import re

import pytest
import sentencepiece
from transformers import T5Tokenizer

from nava_model.text import TokenizerError, clean_prompt
from nava_model.text.tiny_tokenizer import _corpus, train_tiny_spiece
from nava_model.text.tokenizer import UMT5_SENTINELS, find_tokenizer, sentencepiece_tokenizer, tokenizer_from_path

PROMPTS = [
    "A man says <S><extra_id_2>Hello, how are you?<E> and smiles.",
    "两个人在雨中交谈。<S><extra_id_2>你好，世界<E> 然后 <S><extra_id_2>再见<E>",
    "<S><extra_id_2> spaced  out <E>",
    "Mixed 中文 and English, digits 2024 and ﬁ ligatures ｆｕｌｌ width",
    "specials in text: </s> <pad> <unk> <extra_id_0><extra_id_99>",
    "",
]


@pytest.fixture(scope="module")
def tiny_spiece():
    return train_tiny_spiece()


@pytest.fixture(scope="module")
def umt5_style_spiece():
    """Like umT5's model: no sentinels and no user-defined pieces inside (HF appends the sentinels)."""
    buffer = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_corpus()), model_writer=buffer, model_type="unigram", vocab_size=2000,
        hard_vocab_limit=False, character_coverage=1.0, pad_id=0, eos_id=1, unk_id=2, bos_id=-1, num_threads=1,
        minloglevel=2,
    )
    return buffer.getvalue()


def hf_tokenizer(tmp_path, spiece: bytes, extra_ids: int) -> T5Tokenizer:
    (tmp_path / "spiece.model").write_bytes(spiece)
    return T5Tokenizer.from_pretrained(str(tmp_path), extra_ids=extra_ids, legacy=True)


@pytest.mark.parametrize("prompt", PROMPTS)
def test_tiny_tokenizer_matches_transformers(tmp_path, tiny_spiece, prompt):
    ours = sentencepiece_tokenizer(tiny_spiece)
    assert ours(prompt) == hf_tokenizer(tmp_path, tiny_spiece, extra_ids=0)(prompt).input_ids


@pytest.mark.parametrize("prompt", PROMPTS)
def test_umt5_style_model_matches_transformers_with_300_sentinels(tmp_path, umt5_style_spiece, prompt):
    ours = sentencepiece_tokenizer(umt5_style_spiece)
    assert ours(prompt) == hf_tokenizer(tmp_path, umt5_style_spiece, extra_ids=UMT5_SENTINELS)(prompt).input_ids


def test_placeholder_is_one_token_where_raw_sentencepiece_splits_it(tmp_path, umt5_style_spiece):
    ours = sentencepiece_tokenizer(umt5_style_spiece)
    hf = hf_tokenizer(tmp_path, umt5_style_spiece, extra_ids=UMT5_SENTINELS)
    raw = sentencepiece.SentencePieceProcessor(model_proto=umt5_style_spiece)
    assert len(raw.encode("<extra_id_2>")) > 1
    assert ours.placeholder_token_id == hf.convert_tokens_to_ids("<extra_id_2>")
    # umT5 numbering: the sentinels follow the pieces, <extra_id_0> last
    assert ours.placeholder_token_id == raw.get_piece_size() + UMT5_SENTINELS - 3


def test_tiny_tokenizer_keeps_sentinels_and_span_markers_whole(tiny_spiece):
    raw = sentencepiece.SentencePieceProcessor(model_proto=tiny_spiece)
    for token in ("<extra_id_0>", "<extra_id_2>", "<extra_id_99>", "<S>", "<E>"):
        assert raw.encode(token, out_type=str)[-1] == token
    assert (raw.pad_id(), raw.eos_id(), raw.unk_id()) == (0, 1, 2)


def test_tiny_tokenizer_covers_chinese(tiny_spiece):
    raw = sentencepiece.SentencePieceProcessor(model_proto=tiny_spiece)
    assert raw.unk_id() not in raw.encode("我们在城市里说话，天气很好。")


def test_tokenizer_json_gives_the_same_ids(tmp_path, tiny_spiece):
    hf_tokenizer(tmp_path, tiny_spiece, extra_ids=0).backend_tokenizer.save(str(tmp_path / "tokenizer.json"))
    from_json = tokenizer_from_path(tmp_path / "tokenizer.json")
    ours = sentencepiece_tokenizer(tiny_spiece)
    assert from_json.placeholder_token_id == ours.placeholder_token_id
    for prompt in PROMPTS:
        assert from_json(prompt) == ours(prompt)


def test_long_text_is_cut_to_512_tokens_ending_with_eos(tiny_spiece):
    ids = sentencepiece_tokenizer(tiny_spiece)("word " * 2000)
    assert len(ids) == 512 and ids[-1] == 1 and 1 not in ids[:-1]


def test_cleaning_unescapes_html_twice_and_collapses_whitespace():
    assert clean_prompt("  Tom &amp;amp; Jerry\n\n\tsay &lt;hi&gt;  ") == "Tom & Jerry say <hi>"


def test_missing_tokenizer_names_what_to_put_where(tmp_path):
    model = tmp_path / "models_t5_umt5-xxl-enc-bf16.pth"
    with pytest.raises(TokenizerError, match=r"spiece\.model.*" + re.escape(str(tmp_path))):
        find_tokenizer(model, embedded=None)


def test_tokenizer_in_wan_google_umt5_folder_is_found(tmp_path, tiny_spiece):
    folder = tmp_path / "google" / "umt5-xxl"
    folder.mkdir(parents=True)
    (folder / "spiece.model").write_bytes(tiny_spiece)
    tokenizer = find_tokenizer(tmp_path / "models_t5_umt5-xxl-enc-bf16.pth", embedded=None)
    assert tokenizer.placeholder_token_id == sentencepiece_tokenizer(tiny_spiece).placeholder_token_id


def test_unreadable_sentencepiece_model_is_a_clear_error():
    with pytest.raises(TokenizerError, match="SentencePiece"):
        sentencepiece_tokenizer(b"not a model")
