"""Jamo tokenizer: Korean syllables split into initial/medial/final jamo (초성·중성·종성).

A precomposed syllable U+AC00+((L·21)+V)·28+T becomes two or three jamo tokens; decoding
recomposes them exactly. Every one of the 19 initials, 21 medials and 27 finals is always in the
vocabulary, so all 11,172 syllables encode even if training never saw them. Other characters are
handled as by the ``char`` tokenizer. Jamo tokens are separate ids from literal characters, so text
that already contains conjoining jamo (U+1100…) still round-trips unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from genlab.tokenizers.base import (
    EOS_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    UNK_TEXT,
    Tokenizer,
    check_added_specials,
    check_kind,
    header,
    merge_specials,
    select_symbols,
)
from genlab.tokenizers.char import SymbolTable, check_symbols, code_points, count_chars, join_documents

SYLLABLE_BASE, SYLLABLE_COUNT = 0xAC00, 11172
N_INITIAL, N_MEDIAL, N_FINAL = 19, 21, 28  # final 0 = no final consonant
INITIALS = [chr(0x1100 + i) for i in range(N_INITIAL)]
MEDIALS = [chr(0x1161 + i) for i in range(N_MEDIAL)]
FINALS = [chr(0x11A8 + i) for i in range(N_FINAL - 1)]
ALL_JAMO = INITIALS + MEDIALS + FINALS
N_JAMO = len(ALL_JAMO)
FIRST_JAMO = len(SPECIAL_TOKENS)
FIRST_MEDIAL = FIRST_JAMO + N_INITIAL
FIRST_FINAL = FIRST_MEDIAL + N_MEDIAL
FIRST_CHAR = FIRST_JAMO + N_JAMO


def is_syllable(ch: str) -> bool:
    return SYLLABLE_BASE <= ord(ch) < SYLLABLE_BASE + SYLLABLE_COUNT


class JamoTokenizer(Tokenizer):
    kind = "jamo"
    trains_on_joined_text = True
    stream_holdback = 1

    def __init__(self, chars: Sequence[str], added_specials: Sequence[str] = ()) -> None:
        self.chars = [c for c in check_symbols(chars, self.kind) if not is_syllable(c)]
        jamo_names = [f"<{j}>" for j in INITIALS + MEDIALS + FINALS]
        self.added_specials = check_added_specials(added_specials, self.chars + jamo_names, self.kind)
        self.itos = list(SPECIAL_TOKENS) + jamo_names + self.chars + list(self.added_specials)
        self.table = SymbolTable(self.chars, FIRST_CHAR, len(self.itos))
        self._bytes = [c.encode("utf-8", "surrogatepass") for c in self.chars]

    @classmethod
    def train(cls, texts: Iterable[str], min_frequency: int = 1, vocab_size: int | None = None,
              **_: Any) -> JamoTokenizer:
        """Keep every non-syllable character seen ``min_frequency`` times (jamo are always in)."""
        counts = {c: n for c, n in count_chars(texts).items() if not is_syllable(c)}
        return cls(select_symbols(counts, min_frequency, None if vocab_size is None else vocab_size - FIRST_CHAR,
                                  "jamo"))

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode_array(self, text: str) -> np.ndarray:
        return self._encode_code_points(code_points(text), self.table.lut)

    def encode_stream(self, texts: Sequence[str], separator: int = EOS_ID, dtype: Any = np.int64) -> np.ndarray:
        joined = join_documents(texts) if separator == EOS_ID else None
        if joined is None:
            return super().encode_stream(texts, separator, dtype)
        return self._encode_code_points(code_points(joined), self.table.stream_lut).astype(dtype, copy=False)

    def _encode_code_points(self, cps: np.ndarray, lut: np.ndarray) -> np.ndarray:
        """A syllable becomes 2 or 3 jamo ids, any other character its ``lut`` id."""
        cps = cps.astype(np.int64)
        syl = (cps >= SYLLABLE_BASE) & (cps < SYLLABLE_BASE + SYLLABLE_COUNT)
        s = np.where(syl, cps - SYLLABLE_BASE, 0)
        initial, medial, final = s // (N_MEDIAL * N_FINAL), (s % (N_MEDIAL * N_FINAL)) // N_FINAL, s % N_FINAL
        width = np.where(syl, 2 + (final > 0), 1)
        starts = np.cumsum(width) - width
        out = np.empty(int(width.sum()), dtype=np.int64)
        out[starts] = np.where(syl, FIRST_JAMO + initial, lut[np.where(syl, 0, cps)])
        out[starts[syl] + 1] = FIRST_MEDIAL + medial[syl]
        has_final = syl & (final > 0)
        out[starts[has_final] + 2] = FIRST_FINAL + final[has_final] - 1
        return out

    def encode(self, text: str) -> list[int]:
        return self.encode_array(text).tolist()

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        return self._decode_text(ids).encode("utf-8", "surrogatepass")

    def _decode_text(self, ids: Sequence[int]) -> str:
        out: list[str] = []
        i, n = 0, len(ids)
        while i < n:
            t = ids[i]
            if FIRST_JAMO <= t < FIRST_MEDIAL and i + 1 < n and FIRST_MEDIAL <= ids[i + 1] < FIRST_FINAL:
                code = ((t - FIRST_JAMO) * N_MEDIAL + ids[i + 1] - FIRST_MEDIAL) * N_FINAL
                i += 2
                if i < n and FIRST_FINAL <= ids[i] < FIRST_CHAR:
                    code += ids[i] - FIRST_FINAL + 1
                    i += 1
                out.append(chr(SYLLABLE_BASE + code))
                continue
            out.append(self._piece(t))
            i += 1
        return "".join(out)

    def _piece(self, t: int) -> str:
        """A token outside a well-formed syllable (a model may generate one): shown as the bare jamo."""
        if FIRST_JAMO <= t < FIRST_CHAR:
            return ALL_JAMO[t - FIRST_JAMO]
        if FIRST_CHAR <= t < FIRST_CHAR + len(self.chars):
            return self.chars[t - FIRST_CHAR]
        if FIRST_CHAR + len(self.chars) <= t < self.vocab_size:  # an added special token
            return ""
        return "" if 0 <= t < len(SPECIAL_TOKENS) and t != UNK_ID else UNK_TEXT

    def id_to_token(self, token_id: int) -> str:
        return self.itos[token_id]

    def missing_symbols(self, texts: Iterable[str]) -> list[str]:
        known = set(self.chars)
        return sorted(c for c in count_chars(texts) if c not in known and not is_syllable(c))

    def extended(self, symbols: Sequence[str] = (), specials: Sequence[str] = ()) -> JamoTokenizer:
        known = set(self.chars)
        new = [c for c in dict.fromkeys(symbols) if c not in known and not is_syllable(c)]
        return JamoTokenizer(self.chars + new, merge_specials(self.added_specials, specials))

    def to_dict(self) -> dict[str, Any]:
        return {**header(self.kind, self.added_specials), "chars": self.chars}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JamoTokenizer:
        check_kind(data, cls.kind)
        return cls(data["chars"], data.get("added_specials", ()))
