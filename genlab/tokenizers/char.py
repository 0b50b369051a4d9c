"""Character tokenizer: one token per Unicode code point (a Hangul syllable is one token).

Encoding is vectorised: the text becomes an array of code points (via UTF-32) and a dense lookup
table maps them to ids, so encoding runs at hundreds of MB/s instead of a dict lookup per character.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from genlab.tokenizers.base import (
    SPECIAL_TOKENS,
    UNK_ID,
    UNK_TEXT,
    Tokenizer,
    check_kind,
    header,
    iter_texts,
)

MAX_CODE_POINT = 0x110000


def code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)


class SymbolTable:
    """Maps code points to ids through a dense table built on first use."""

    def __init__(self, symbols: Sequence[str], first_id: int) -> None:
        self.symbols = list(symbols)
        self.first_id = first_id
        self._lut: np.ndarray | None = None

    @property
    def lut(self) -> np.ndarray:
        if self._lut is None:
            lut = np.full(MAX_CODE_POINT, UNK_ID, dtype=np.int32)
            for offset, sym in enumerate(self.symbols):
                lut[ord(sym)] = self.first_id + offset
            self._lut = lut
        return self._lut


class CharTokenizer(Tokenizer):
    kind = "char"

    def __init__(self, chars: Sequence[str]) -> None:
        self.chars = list(chars)
        self.itos: list[str] = list(SPECIAL_TOKENS) + self.chars
        self.table = SymbolTable(self.chars, len(SPECIAL_TOKENS))
        self._bytes = [b"", UNK_TEXT.encode(), b"", b""] + [c.encode("utf-8", "surrogatepass") for c in self.chars]

    @classmethod
    def train(cls, texts: Iterable[str], min_frequency: int = 1, **_: Any) -> CharTokenizer:
        counts: Counter[str] = Counter()
        for text in iter_texts(texts):
            counts.update(text)
        return cls(sorted(c for c, n in counts.items() if n >= min_frequency))

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode_array(self, text: str) -> np.ndarray:
        return self.table.lut[code_points(text)].astype(np.int64)

    def encode(self, text: str) -> list[int]:
        return self.encode_array(text).tolist()

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        table = self._bytes
        return b"".join(table[i] if 0 <= i < len(table) else table[UNK_ID] for i in ids)

    def id_to_token(self, token_id: int) -> str:
        return self.itos[token_id]

    def to_dict(self) -> dict[str, Any]:
        return {**header(self.kind), "chars": self.chars}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharTokenizer:
        check_kind(data, cls.kind)
        return cls(data["chars"])
