"""BERT's uncased WordPiece tokenizer, read from a ``tokenizer.json`` (the text encoder's, see
:mod:`eglib.features.text_encoder`).

What it does, in order (the rules of the BERT tokenizer that all-MiniLM-L6-v2 was trained with):

1. *normalise*: drop NUL, U+FFFD and control characters, turn every whitespace character into a
   space, put spaces around CJK ideographs, lower-case, and strip accents (NFD, then drop the
   combining marks);
2. *pre-tokenise*: split on whitespace, and make every punctuation character a word of its own;
3. *WordPiece*: cut each word into the longest vocabulary pieces from its start, later pieces
   written with a ``##`` prefix; a word that cannot be cut so (or has over 100 characters) becomes
   ``[UNK]``;
4. wrap the pieces in ``[CLS] ... [SEP]``, keeping at most ``max_length`` ids in all.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass

MAX_WORD_CHARS = 100


def _is_control(char: str) -> bool:
    return char not in "\t\n\r" and unicodedata.category(char) in ("Cc", "Cf")


def _is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    # BERT counts every non-alphanumeric printable ASCII character as punctuation ($, ^, `, ...)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0x2A700 <= code <= 0x2B73F or 0x2B740 <= code <= 0x2B81F or 0x2B820 <= code <= 0x2CEAF
            or 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F)


def normalize(text: str) -> str:
    """Step 1: the BERT normaliser (clean, space out CJK, lower-case, strip accents)."""
    out = []
    for char in text:
        code = ord(char)
        if code == 0 or code == 0xFFFD or _is_control(char):
            continue
        if _is_whitespace(char):
            out.append(" ")
        elif _is_cjk(code):
            out.append(f" {char} ")
        else:
            out.append(char)
    lowered = "".join(out).lower()
    return "".join(c for c in unicodedata.normalize("NFD", lowered) if unicodedata.category(c) != "Mn")


def pre_tokenize(text: str) -> list[str]:
    """Step 2: whitespace-separated words, each punctuation character a word of its own."""
    words: list[str] = []
    for chunk in text.split():
        current = ""
        for char in chunk:
            if _is_punctuation(char):
                if current:
                    words.append(current)
                words.append(char)
                current = ""
            else:
                current += char
        if current:
            words.append(current)
    return words


@dataclass
class WordPieceTokenizer:
    """``vocab``: piece -> id (``##`` marks a piece that continues a word)."""

    vocab: dict[str, int]
    unk: str = "[UNK]"
    cls: str = "[CLS]"
    sep: str = "[SEP]"
    pad: str = "[PAD]"

    @classmethod
    def from_tokenizer_json(cls, raw: bytes | str) -> "WordPieceTokenizer":
        """Read a Hugging Face ``tokenizer.json`` whose model is a WordPiece with the BERT normaliser.

        Raises:
            ValueError: the file describes another kind of tokenizer (then this one would cut
                text otherwise than the encoder was trained on).
        """
        spec = json.loads(raw)
        model, normalizer = spec.get("model", {}), spec.get("normalizer") or {}
        if model.get("type") != "WordPiece" or model.get("continuing_subword_prefix") != "##" \
                or normalizer.get("type") != "BertNormalizer" or not normalizer.get("lowercase"):
            raise ValueError("tokenizer.json is not an uncased BERT WordPiece tokenizer "
                             f"(model {model.get('type')!r}, normaliser {normalizer.get('type')!r}); "
                             "eglib's tokenizer reads only those.")
        return cls(vocab=dict(model["vocab"]), unk=model.get("unk_token", "[UNK]"))

    def pieces(self, word: str) -> list[str]:
        """Step 3 for one pre-tokenised word: its longest-match pieces, or ``[unk]``."""
        if len(word) > MAX_WORD_CHARS:
            return [self.unk]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            if end == start:
                return [self.unk]
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """Steps 1-3: the pieces of ``text`` (no special tokens)."""
        return [piece for word in pre_tokenize(normalize(text)) for piece in self.pieces(word)]

    def encode(self, text: str, max_length: int = 256) -> list[int]:
        """Step 4: ``[CLS] pieces [SEP]`` as ids, the pieces cut to ``max_length - 2``."""
        if max_length < 3:
            raise ValueError(f"max_length must leave room for [CLS], [SEP] and one piece; got {max_length}.")
        ids = [self.vocab[piece] for piece in self.tokenize(text)[:max_length - 2]]
        return [self.vocab[self.cls], *ids, self.vocab[self.sep]]

    @property
    def pad_id(self) -> int:
        return self.vocab[self.pad]
