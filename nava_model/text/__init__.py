"""umT5-XXL text encoder: loader for its file layouts, tokenizer, prompt cleaning, tiny test file."""

from .cleaning import clean_prompt
from .tokenizer import TokenizerError, UMT5Tokenizer
from .umt5 import EncodedText, UMT5TextEncoder, load_umt5, write_tiny_umt5

__all__ = [
    "EncodedText",
    "TokenizerError",
    "UMT5TextEncoder",
    "UMT5Tokenizer",
    "clean_prompt",
    "load_umt5",
    "write_tiny_umt5",
]
