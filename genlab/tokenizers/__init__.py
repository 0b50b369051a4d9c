"""Course step 2a: tokenization (토큰화) — text into symbols, one protocol, four kinds.

``train(kind, texts, **options)`` learns a tokenizer from text; ``load(path)`` reads one back from
its single JSON file. Kinds: ``char`` (code points), ``word`` (words/punctuation/whitespace),
``jamo`` (Korean syllables as 초성·중성·종성), ``bpe`` (byte-level BPE via HF ``tokenizers``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError
from genlab.tokenizers.base import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID, Tokenizer
from genlab.tokenizers.bpe import BPETokenizer
from genlab.tokenizers.char import CharTokenizer
from genlab.tokenizers.jamo import JamoTokenizer
from genlab.tokenizers.word import WordTokenizer

KINDS: dict[str, type[Tokenizer]] = {
    "char": CharTokenizer,
    "word": WordTokenizer,
    "jamo": JamoTokenizer,
    "bpe": BPETokenizer,
}

__all__ = ["KINDS", "SPECIAL_TOKENS", "PAD_ID", "UNK_ID", "BOS_ID", "EOS_ID", "Tokenizer", "train", "load",
           "from_dict"]


def train(kind: str, texts: Iterable[str], **options: Any) -> Tokenizer:
    """Learn a tokenizer of ``kind`` from ``texts`` (options: vocab_size, min_frequency, lowercase)."""
    if kind not in KINDS:
        raise GenlabError(f"unknown tokenizer {kind!r}; choose one of {', '.join(KINDS)}")
    options = {k: v for k, v in options.items() if v is not None}
    return KINDS[kind].train(texts, **options)


def from_dict(data: dict[str, Any]) -> Tokenizer:
    kind = data.get("genlab_tokenizer")
    if kind is None and isinstance(data.get("model"), dict) and data["model"].get("type") == "BPE":
        kind = "bpe"
    if kind not in KINDS:
        raise GenlabError("not a genlab tokenizer file (no known 'genlab_tokenizer' kind in it)")
    return KINDS[kind].from_dict(data)


def load(path: str | Path) -> Tokenizer:
    """Load a tokenizer saved by ``Tokenizer.save``; damaged files give a clear error."""
    path = Path(path)
    if not path.is_file():
        raise GenlabError(f"tokenizer file {path} not found; run `genlab prepare` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenlabError(f"tokenizer file {path} is corrupted ({exc})") from exc
    if not isinstance(data, dict):
        raise GenlabError(f"tokenizer file {path} is not a genlab tokenizer")
    try:
        return from_dict(data)
    except (KeyError, TypeError, ValueError, Exception) as exc:
        if isinstance(exc, GenlabError):
            raise
        raise GenlabError(f"tokenizer file {path} is damaged ({exc})") from exc
