"""Byte-level BPE: merges learned by Hugging Face ``tokenizers``, encoding by the fastest exact engine.

The saved file is an ordinary HF ``tokenizer.json`` (loadable with ``tokenizers.Tokenizer.from_file``);
genlab recognises it by its byte-level BPE model and its special tokens at ids 0–3.
Every byte is in the base alphabet, so no text is ever unknown (byte fallback).
For speed, encoding uses ``tiktoken`` loaded with the same
vocabulary and pre-tokenisation regex; genlab checks on a sample that both engines give identical ids
and falls back to HF if they ever disagree. Special tokens are never matched inside text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from genlab.errors import GenlabError
from genlab.tokenizers.base import SPECIAL_TOKENS, UNK_ID, UNK_TEXT, Tokenizer, iter_texts

# The regex HF's ByteLevel pre-tokenizer applies (GPT-2's), written for tiktoken's regex engine.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
PARITY_SAMPLE = (
    "Hello, world! It's 2026 — genlab's BPE.\n\t  spaces   and\r\nnewlines 123 4567 ",
    "안녕하세요, 생성형 인공지능 수업입니다. 😀 한국어와 English mixed-script 文字 !!!",
)


def _byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's byte→printable-character map that byte-level BPE vocabularies use."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, chars)}


class BPETokenizer(Tokenizer):
    kind = "bpe"

    def __init__(self, hf_json: str, engine: str = "auto") -> None:
        from tokenizers import Tokenizer as HFTokenizer

        self.hf_json = hf_json
        self.hf = HFTokenizer.from_str(hf_json)
        vocab: dict[str, int] = json.loads(hf_json)["model"]["vocab"]
        for i, tok in enumerate(SPECIAL_TOKENS):
            if vocab.get(tok) != i:
                raise GenlabError("BPE tokenizer file does not have genlab's special tokens at ids 0-3")
        decoder = _byte_decoder()
        size = max(vocab.values()) + 1
        self._bytes: list[bytes] = [b""] * size
        self._tokens: list[str] = [""] * size
        for tok, i in vocab.items():
            self._tokens[i] = tok
            if i >= len(SPECIAL_TOKENS):
                self._bytes[i] = bytes(decoder[c] for c in tok)
        self._bytes[UNK_ID] = UNK_TEXT.encode()
        self._size = size
        self.engine = engine

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2,
              show_progress: bool = False, **_: Any) -> BPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        if vocab_size < len(SPECIAL_TOKENS) + 256:
            raise GenlabError(f"--vocab-size {vocab_size} is too small for byte-level BPE (needs ≥ 260)")
        if vocab_size > 1 << 20:
            raise GenlabError(f"--vocab-size {vocab_size} is too large (at most {1 << 20})")
        hf = HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=show_progress,
        )
        hf.train_from_iterator(iter_texts(texts), trainer)
        return cls(hf.to_str())

    @property
    def vocab_size(self) -> int:
        return self._size

    @cached_property
    def _tiktoken(self):
        """A tiktoken encoder with the same ranks, or None if it is unavailable or not exact."""
        if self.engine == "hf":
            return None
        try:
            import tiktoken
        except ImportError:
            return None
        ranks = {self._bytes[i]: i for i in range(len(SPECIAL_TOKENS), self._size)}
        enc = tiktoken.Encoding(name="genlab-bpe", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={})
        for text in PARITY_SAMPLE:
            if enc.encode_ordinary(text) != self._hf_encode(text):
                return None
        return enc

    def _hf_encode(self, text: str) -> list[int]:
        # Pre-tokenise ourselves so that special-token strings inside text are never matched.
        return self._hf_model_encode(text)

    def _hf_model_encode(self, text: str) -> list[int]:
        ids: list[int] = []
        pre = self.hf.pre_tokenizer.pre_tokenize_str(text)
        for piece, _ in pre:
            ids.extend(t.id for t in self.hf.model.tokenize(piece))
        return ids

    @property
    def active_engine(self) -> str:
        return "tiktoken" if self._tiktoken is not None else "hf"

    def encode(self, text: str) -> list[int]:
        enc = self._tiktoken
        return enc.encode_ordinary(text) if enc is not None else self._hf_encode(text)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        enc = self._tiktoken
        if enc is None:
            return [np.asarray(self._hf_encode(t), dtype=np.int64) for t in texts]
        return [np.asarray(ids, dtype=np.int64) for ids in enc.encode_ordinary_batch(list(texts), num_threads=2)]

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        table = self._bytes
        return b"".join(table[i] if 0 <= i < len(table) else table[UNK_ID] for i in ids)

    def id_to_token(self, token_id: int) -> str:
        return self._bytes[token_id].decode("utf-8", errors="backslashreplace") or self._tokens[token_id]

    def to_dict(self) -> dict[str, Any]:
        # HF's loader rejects unknown keys, so the file stays pure HF; load() recognises it by its model.
        return json.loads(self.hf_json)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BPETokenizer:
        return cls(json.dumps(data, ensure_ascii=False))
