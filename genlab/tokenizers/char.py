"""Character tokenizer: one token per Unicode code point (a Hangul syllable is one token).

Encoding is vectorised: the text becomes an array of code points and a dense lookup table maps them
to ids, so encoding runs at hundreds of MB/s instead of a dict lookup per character. Text inside the
Basic Multilingual Plane (all of Korean, and nearly all text) is read as UTF-16 code units, which is
cheaper to produce than UTF-32 and keeps the table lookups within its first 128 KB.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from genlab.errors import GenlabError
from genlab.tokenizers.base import (
    EOS_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    UNK_TEXT,
    Tokenizer,
    check_added_specials,
    check_kind,
    header,
    id_dtype,
    iter_texts,
    merge_specials,
    select_symbols,
)

MAX_CODE_POINT = 0x110000
COUNT_BATCH_CHARS = 1 << 22
SEPARATOR = "\0"  # joins documents for one vectorised lookup; corpora never contain NUL (binary check)


def code_points(text: str) -> np.ndarray:
    """Every code point of ``text``: uint16 when all are in the BMP, else uint32."""
    units = text.encode("utf-16-le", errors="surrogatepass")
    if len(units) == 2 * len(text):  # no surrogate pairs, so one UTF-16 unit per code point
        return np.frombuffer(units, dtype=np.uint16)
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)


def count_chars(texts: Iterable[str]) -> dict[str, int]:
    """How often each character occurs, counted with ``np.bincount`` over batches of joined texts.

    A ``Counter`` costs a dictionary update per character; this keeps character-level training at
    the speed of reading the corpus.
    """
    totals = np.zeros(MAX_CODE_POINT, dtype=np.int64)
    batch: list[str] = []
    size = 0

    def add(joined: str) -> None:
        cps = code_points(joined)
        counts = np.bincount(cps, minlength=1 << 16 if cps.dtype == np.uint16 else MAX_CODE_POINT)
        totals[: len(counts)] += counts

    for text in iter_texts(texts):
        batch.append(text)
        size += len(text)
        if size >= COUNT_BATCH_CHARS:
            add("".join(batch))
            batch, size = [], 0
    if batch:
        add("".join(batch))
    seen = np.flatnonzero(totals)
    return {chr(c): int(n) for c, n in zip(seen.tolist(), totals[seen].tolist())}


class SymbolTable:
    """Maps code points to ids through a dense table built on first use.

    ``lut`` gives unknown code points ``<unk>``; ``stream_lut`` additionally maps the separator
    (NUL) to ``<eos>``, so joined documents come out as a token-store stream in one lookup.
    """

    def __init__(self, symbols: Sequence[str], first_id: int, vocab_size: int) -> None:
        self.symbols = list(symbols)
        self.first_id = first_id
        self.dtype = id_dtype(vocab_size)
        self._lut: np.ndarray | None = None
        self._stream_lut: np.ndarray | None = None

    @property
    def lut(self) -> np.ndarray:
        if self._lut is None:
            lut = np.full(MAX_CODE_POINT, UNK_ID, dtype=self.dtype)
            if self.symbols:
                lut[[ord(sym) for sym in self.symbols]] = np.arange(len(self.symbols)) + self.first_id
            self._lut = lut
        return self._lut

    @property
    def stream_lut(self) -> np.ndarray:
        if self._stream_lut is None:
            lut = self.lut.copy()
            lut[ord(SEPARATOR)] = EOS_ID
            self._stream_lut = lut
        return self._stream_lut


def join_documents(texts: Sequence[str]) -> str | None:
    """The texts each followed by the separator, or None if a text contains the separator itself."""
    joined = SEPARATOR.join([*texts, ""])
    return joined if joined.count(SEPARATOR) == len(texts) else None


def check_symbols(chars: Sequence[str], kind: str) -> list[str]:
    """A vocabulary read from a file must be distinct single characters."""
    chars = list(chars)
    if any(not isinstance(c, str) or len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
        raise GenlabError(f"the {kind} tokenizer's 'chars' must be distinct single characters; the file is damaged")
    return chars


class CharTokenizer(Tokenizer):
    kind = "char"
    trains_on_joined_text = True

    def __init__(self, chars: Sequence[str], added_specials: Sequence[str] = ()) -> None:
        self.chars = check_symbols(chars, self.kind)
        self.added_specials = check_added_specials(added_specials, self.chars, self.kind)
        self.itos: list[str] = list(SPECIAL_TOKENS) + self.chars + list(self.added_specials)
        self.table = SymbolTable(self.chars, len(SPECIAL_TOKENS), len(self.itos))
        self._bytes = [b"", UNK_TEXT.encode(), b"", b""] + [c.encode("utf-8", "surrogatepass") for c in self.chars] \
            + [b""] * len(self.added_specials)

    @classmethod
    def train(cls, texts: Iterable[str], min_frequency: int = 1, vocab_size: int | None = None,
              **_: Any) -> CharTokenizer:
        """Keep every character seen ``min_frequency`` times (and, with ``vocab_size``, only the most frequent)."""
        counts = count_chars(texts)
        return cls(select_symbols(counts, min_frequency, None if vocab_size is None
                                  else vocab_size - len(SPECIAL_TOKENS), "char"))

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode_array(self, text: str) -> np.ndarray:
        return self.table.lut[code_points(text)].astype(np.int64)

    def encode(self, text: str) -> list[int]:
        return self.encode_array(text).tolist()

    def encode_stream(self, texts: Sequence[str], separator: int = EOS_ID, dtype: Any = np.int64) -> np.ndarray:
        # One code point is one token, so all documents are looked up as one joined string.
        joined = join_documents(texts) if separator == EOS_ID else None
        if joined is None:
            return super().encode_stream(texts, separator, dtype)
        return np.asarray(self.table.stream_lut[code_points(joined)], dtype=dtype)

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        table = self._bytes
        return b"".join(table[i] if 0 <= i < len(table) else table[UNK_ID] for i in ids)

    def id_to_token(self, token_id: int) -> str:
        return self.itos[token_id]

    def missing_symbols(self, texts: Iterable[str]) -> list[str]:
        known = set(self.chars)
        return sorted(c for c in count_chars(texts) if c not in known)

    def extended(self, symbols: Sequence[str] = (), specials: Sequence[str] = ()) -> CharTokenizer:
        known = set(self.chars)
        new = [c for c in dict.fromkeys(symbols) if c not in known]
        return CharTokenizer(self.chars + new, merge_specials(self.added_specials, specials))

    def to_dict(self) -> dict[str, Any]:
        return {**header(self.kind, self.added_specials), "chars": self.chars}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharTokenizer:
        check_kind(data, cls.kind)
        return cls(data["chars"], data.get("added_specials", ()))
