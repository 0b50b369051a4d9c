"""Word tokenizer: Unicode-aware words, punctuation runs and whitespace, as GPT-2 pre-tokenises.

A word or punctuation run carries its one leading space (``" the"``), and other whitespace runs are
tokens of their own, so decoding is plain concatenation and is lossless on known text. Rare pieces
can be cut off (``min_frequency``, ``vocab_size``); they then encode as ``<unk>``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from genlab.tokenizers.base import (
    SPECIAL_TOKENS,
    UNK_ID,
    UNK_TEXT,
    Tokenizer,
    check_added_specials,
    check_kind,
    header,
    iter_texts,
    merge_specials,
    select_symbols,
)

WORD_PATTERN = re.compile(r" ?[^\W_]+| ?[^\s\w]+| ?_+|\s+(?!\S)|\s+")


def split_words(text: str) -> list[str]:
    return WORD_PATTERN.findall(text)


class WordTokenizer(Tokenizer):
    kind = "word"

    def __init__(self, words: Sequence[str], lowercase: bool = False, added_specials: Sequence[str] = ()) -> None:
        self.words = list(words)
        self.lowercase = lowercase
        self.added_specials = check_added_specials(added_specials, self.words, self.kind)
        self.itos = list(SPECIAL_TOKENS) + self.words + list(self.added_specials)
        self.stoi = {w: i for i, w in enumerate(self.words, start=len(SPECIAL_TOKENS))}
        self._bytes = [b"", UNK_TEXT.encode(), b"", b""] + [w.encode("utf-8", "surrogatepass") for w in self.words] \
            + [b""] * len(self.added_specials)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int | None = None, min_frequency: int = 1,
              lowercase: bool = False, **_: Any) -> WordTokenizer:
        counts: Counter[str] = Counter()
        for text in iter_texts(texts):
            counts.update(split_words(text.lower() if lowercase else text))
        limit = None if vocab_size is None else vocab_size - len(SPECIAL_TOKENS)
        return cls(select_symbols(counts, min_frequency, limit, "word"), lowercase=lowercase)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        get = self.stoi.get
        return [get(w, UNK_ID) for w in split_words(text.lower() if self.lowercase else text)]

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        table = self._bytes
        return b"".join(table[i] if 0 <= i < len(table) else table[UNK_ID] for i in ids)

    def id_to_token(self, token_id: int) -> str:
        return self.itos[token_id]

    def missing_symbols(self, texts: Iterable[str]) -> list[str]:
        seen: Counter[str] = Counter()
        for text in iter_texts(texts):
            seen.update(split_words(text.lower() if self.lowercase else text))
        return sorted(w for w in seen if w not in self.stoi)

    def extended(self, symbols: Sequence[str] = (), specials: Sequence[str] = ()) -> WordTokenizer:
        new = [w for w in dict.fromkeys(symbols) if w not in self.stoi]
        return WordTokenizer(self.words + new, self.lowercase, merge_specials(self.added_specials, specials))

    def to_dict(self) -> dict[str, Any]:
        return {**header(self.kind, self.added_specials), "lowercase": self.lowercase, "words": self.words}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordTokenizer:
        check_kind(data, cls.kind)
        return cls(data["words"], lowercase=bool(data.get("lowercase", False)),
                   added_specials=data.get("added_specials", ()))
