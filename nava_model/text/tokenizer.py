"""umT5 tokenizer: text -> token ids, exactly as upstream's `AutoTokenizer("google/umt5-xxl")` call.

Upstream tokenises with `padding="max_length", truncation=True, max_length=512` and
`add_special_tokens=True`, then keeps the valid (unpadded) tokens: the text's pieces, cut to 511,
followed by `</s>`. That is what `UMT5Tokenizer.__call__` returns.

Two sources give the same ids:
- a SentencePiece model (`spiece.model`, or the `spiece_model` tensor inside ComfyUI's umT5 files).
  The HF tokenizer matches its special pieces and T5's sentinels (`<extra_id_N>`) as whole tokens
  before running SentencePiece on the text between them; raw SentencePiece would split
  `<extra_id_2>` into `<`, `extra`, ... . `SentencePieceTokenizer` does the same matching.
  umT5's SentencePiece model has no sentinels of its own: like its HF tokenizer config (300
  extra ids) they are appended after the pieces, `<extra_id_0>` last.
- a HF `tokenizer.json`, run by the `tokenizers` library that backs HF's fast tokenizers.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import sentencepiece
from tokenizers import Tokenizer

from ..checkpoints import CheckpointError
from ..config import TEXT_LEN
from ..prompt import SPEAKER_PLACEHOLDER

UMT5_SENTINELS = 300  # umT5's tokenizer config: extra_ids = 300
TOKENIZER_FILES = ("tokenizer.json", "spiece.model")

logger = logging.getLogger("nava")


class TokenizerError(CheckpointError):
    """No usable tokenizer for a text-encoder file."""


class UMT5Tokenizer:
    """Text -> valid token ids: the text's pieces cut to `max_length - 1`, then `</s>`."""

    def __init__(self, pieces: Callable[[str], list[int]], eos_id: int, vocab_size: int, max_length: int = TEXT_LEN):
        self._pieces = pieces
        self.eos_id = eos_id
        self.vocab_size = vocab_size
        self.max_length = max_length
        placeholder = pieces(SPEAKER_PLACEHOLDER)
        if len(placeholder) != 1:
            raise TokenizerError(
                f"this tokenizer splits the speaker placeholder {SPEAKER_PLACEHOLDER} into {len(placeholder)} tokens; "
                "it is not a umT5 tokenizer (use google/umt5-xxl's spiece.model or tokenizer.json)"
            )
        self.placeholder_token_id = placeholder[0]

    def __call__(self, text: str) -> list[int]:
        return self._pieces(text)[: self.max_length - 1] + [self.eos_id]

    def tokens_beyond_window(self, text: str) -> int:
        """How many of the text's tokens fall past the window (and are dropped)."""
        return max(0, len(self._pieces(text)) - (self.max_length - 1))


class SentencePieceTokenizer:
    """SentencePiece with HF's whole-token matching of special pieces and sentinels."""

    def __init__(self, model_proto: bytes):
        self.processor = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
        self.whole_tokens = self._whole_tokens()
        self.vocab_size = max(self.processor.get_piece_size(), max(self.whole_tokens.values()) + 1)
        alternatives = sorted(self.whole_tokens, key=len, reverse=True)  # longest match first
        self._splitter = re.compile("(" + "|".join(map(re.escape, alternatives)) + ")")

    def _whole_tokens(self) -> dict[str, int]:
        """Pieces HF adds as tokens of their own: control and unknown pieces, user-defined pieces
        (SentencePiece scores them 0; learned pieces have log-probabilities < 0), and the sentinels."""
        sp = self.processor

        def whole(i: int) -> bool:
            if sp.is_control(i) or sp.is_unknown(i):
                return True
            return sp.get_score(i) == 0.0 and not (sp.is_unused(i) or sp.is_byte(i))

        size = sp.get_piece_size()
        tokens = {sp.id_to_piece(i): i for i in range(size) if whole(i)}
        if "<extra_id_0>" not in tokens:
            tokens.update({f"<extra_id_{n}>": size + UMT5_SENTINELS - 1 - n for n in range(UMT5_SENTINELS)})
        return tokens

    @property
    def eos_id(self) -> int:
        return self.whole_tokens["</s>"]

    def __call__(self, text: str) -> list[int]:
        ids = []
        for i, segment in enumerate(self._splitter.split(text)):
            if i % 2:  # the splitter's capture group: a whole token
                ids.append(self.whole_tokens[segment])
            elif segment:
                ids.extend(self.processor.encode(segment))
        return ids


def sentencepiece_tokenizer(model_proto: bytes) -> UMT5Tokenizer:
    try:
        pieces = SentencePieceTokenizer(model_proto)
    except RuntimeError as exc:  # sentencepiece reports a bad model as RuntimeError
        raise TokenizerError(f"the SentencePiece model could not be read ({exc})") from exc
    if "</s>" not in pieces.whole_tokens:
        raise TokenizerError("the SentencePiece model has no </s> piece: it is not a T5 tokenizer")
    return UMT5Tokenizer(pieces, pieces.eos_id, pieces.vocab_size)


def tokenizer_json_tokenizer(path: Path) -> UMT5Tokenizer:
    try:
        backend = Tokenizer.from_file(str(path))
    except Exception as exc:  # the tokenizers library raises its own exception type
        raise TokenizerError(f"{path} is not a readable tokenizer.json ({exc})") from exc
    eos_id = backend.token_to_id("</s>")
    if eos_id is None:
        raise TokenizerError(f"{path} has no </s> token: it is not a T5 tokenizer")

    def pieces(text: str) -> list[int]:
        return backend.encode(text, add_special_tokens=False).ids

    return UMT5Tokenizer(pieces, eos_id, backend.get_vocab_size(with_added_tokens=True))


def tokenizer_from_path(path: str | os.PathLike) -> UMT5Tokenizer:
    """A `tokenizer.json`, a SentencePiece model file, or a folder holding one of them."""
    path = Path(path)
    if path.is_dir():
        found = [path / name for name in TOKENIZER_FILES if (path / name).is_file()]
        if not found:
            raise TokenizerError(f"{path} holds neither of {', '.join(TOKENIZER_FILES)}")
        path = found[0]
    if not path.is_file():
        raise TokenizerError(f"tokenizer file not found: {path}")
    if path.suffix == ".json":
        return tokenizer_json_tokenizer(path)
    return sentencepiece_tokenizer(path.read_bytes())


def find_tokenizer(model_path: Path, embedded: bytes | None, tokenizer_path=None) -> UMT5Tokenizer:
    """The tokenizer for a umT5 file: an explicit path, else the one inside the file, else one beside it.

    "Beside" means `tokenizer.json` or `spiece.model` in the file's folder or in its `google/umt5-xxl/`
    subfolder (the layout of Wan's release, next to `models_t5_umt5-xxl-enc-bf16.pth`).
    """
    if tokenizer_path is not None:
        return tokenizer_from_path(tokenizer_path)
    if embedded is not None:
        return sentencepiece_tokenizer(embedded)
    for folder in (model_path.parent, model_path.parent / "google" / "umt5-xxl"):
        if any((folder / name).is_file() for name in TOKENIZER_FILES):
            logger.info("umT5 tokenizer: using the one in %s", folder)
            return tokenizer_from_path(folder)
    raise TokenizerError(
        f"{model_path.name} carries no tokenizer and none lies beside it. Put google/umt5-xxl's spiece.model "
        f"(or tokenizer.json) into {model_path.parent}, or use ComfyUI's umt5_xxl_fp16.safetensors, which has its "
        "tokenizer inside."
    )
