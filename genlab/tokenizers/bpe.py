"""Byte-level BPE: merges learned by Hugging Face ``tokenizers``, encoding by the fastest exact engine.

The saved file is an ordinary HF ``tokenizer.json`` (loadable with ``tokenizers.Tokenizer.from_file``);
genlab recognises it by its byte-level BPE model and its special tokens at ids 0–3.
Every byte is in the base alphabet, so no text is ever unknown (byte fallback).
For speed, encoding uses ``tiktoken`` loaded with the same
vocabulary and pre-tokenisation regex (several times faster than HF's encoder here); genlab checks on a
fixed sample, and ``prepare`` on the corpus's first documents, that both engines give identical ids,
and falls back to HF if they ever disagree. Special tokens are never matched inside text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any, TypeVar

import numpy as np

from genlab.errors import GenlabError
from genlab.tokenizers.base import (
    EOS_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    UNK_TEXT,
    Tokenizer,
    iter_texts,
    stream_from_lists,
)

# The regex HF's ByteLevel pre-tokenizer applies (GPT-2's), written for tiktoken's regex engine.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
T = TypeVar("T")
ENGINES = ("auto", "tiktoken", "hf")
MAX_THREADS = 8
THREAD_MIN_CHARS = 1 << 16  # below this, starting threads costs more than it saves
JOINER = "\x0b"  # vertical tab: whitespace, one byte, and next to never in real text
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


def _worker_count() -> int:
    try:
        return max(1, min(len(os.sched_getaffinity(0)), MAX_THREADS))
    except AttributeError:  # not on Linux
        return max(1, min(os.cpu_count() or 1, MAX_THREADS))


def _in_threads(work: Callable[[Sequence[str]], T], texts: Sequence[str]) -> list[T]:
    """``work`` on contiguous slices of ``texts``, one per CPU thread when that pays off; results in order.

    tiktoken releases the GIL while it encodes, so the slices really run in parallel. A fresh pool
    per call (not one kept on the object) stays correct after a fork.
    """
    workers = _worker_count()
    if workers == 1 or len(texts) < 2 * workers or sum(map(len, texts)) < THREAD_MIN_CHARS:
        return [work(texts)]
    step = -(-len(texts) // workers)
    slices = [texts[i:i + step] for i in range(0, len(texts), step)]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(work, slices))


def _batches(texts: Iterable[str], size: int = 1024) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class BPETokenizer(Tokenizer):
    kind = "bpe"

    def __init__(self, hf_json: str, engine: str = "auto") -> None:
        from tokenizers import Tokenizer as HFTokenizer

        if engine not in ENGINES:
            raise GenlabError(f"unknown BPE engine {engine!r}; choose one of {', '.join(ENGINES)}")
        self.hf_json = hf_json
        self.hf = HFTokenizer.from_str(hf_json)
        data = json.loads(hf_json)
        vocab: dict[str, int] = data["model"]["vocab"]
        for i, tok in enumerate(SPECIAL_TOKENS):
            if vocab.get(tok) != i:
                raise GenlabError("BPE tokenizer file does not have genlab's special tokens at ids 0-3")
        # added special tokens (the chat template's) follow the BPE vocabulary, as HF numbers them
        added = sorted((int(t["id"]), str(t["content"])) for t in data.get("added_tokens") or []
                       if t["content"] not in SPECIAL_TOKENS)
        size = max(vocab.values()) + 1
        if [i for i, _ in added] != list(range(size, size + len(added))):
            raise GenlabError("BPE tokenizer file has added tokens with ids that do not follow its vocabulary")
        self.added_specials = tuple(content for _, content in added)
        decoder = _byte_decoder()
        self._model_size = size
        size += len(added)
        self._bytes: list[bytes] = [b""] * size
        self._tokens: list[str] = [""] * size
        for tok, i in vocab.items():
            self._tokens[i] = tok
            if i >= len(SPECIAL_TOKENS):
                self._bytes[i] = bytes(decoder[c] for c in tok)
        for i, content in added:
            self._tokens[i] = content
        self._bytes[UNK_ID] = UNK_TEXT.encode()
        self._size = size
        self._special_strings = (*SPECIAL_TOKENS, *self.added_specials)
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
        if min_frequency < 1:
            raise GenlabError(f"min_frequency must be ≥ 1, got {min_frequency}")
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
        # Lists of texts cross into Rust in fewer, larger steps than one string at a time.
        hf.train_from_iterator(_batches(iter_texts(texts)), trainer)
        return cls(hf.to_str())

    @property
    def vocab_size(self) -> int:
        return self._size

    @cached_property
    def _tiktoken(self):
        """A tiktoken encoder with the same ranks, or None if it is unavailable, not asked for, or not exact."""
        if self.engine == "hf":
            return None
        try:
            import tiktoken
        except ImportError:
            if self.engine == "tiktoken":
                raise GenlabError("the tiktoken engine needs the tiktoken package (pip install tiktoken)") from None
            return None
        ranks = {self._bytes[i]: i for i in range(len(SPECIAL_TOKENS), self._model_size)}
        if any(bytes([b]) not in ranks for b in range(256)):  # tiktoken needs every byte as a token
            if self.engine == "tiktoken":
                raise GenlabError("this BPE vocabulary lacks some single-byte tokens; tiktoken cannot encode it")
            return None
        enc = tiktoken.Encoding(name="genlab-bpe", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={})
        if self.engine == "auto" and any(enc.encode_ordinary(t) != self._hf_encode(t) for t in PARITY_SAMPLE):
            return None
        return enc

    def verify_engine(self, texts: Sequence[str]) -> str:
        """Check the fast engine against HF on ``texts`` (a sample of the real corpus); fall back if they differ.

        tiktoken merges the adjacent pair whose *result* has the lowest rank; HF applies the learned
        *merge* with the lowest rank. For vocabularies HF learns these agree, and this check makes sure
        of it on the user's own text before a whole corpus is encoded. Returns the engine now in use.
        """
        enc = self._tiktoken
        texts = list(texts)
        if enc is not None and self.engine == "auto" and [enc.encode_ordinary(t) for t in texts] \
                != self._hf_encode_batch(texts):
            self.engine = "hf"
            self.__dict__.pop("_tiktoken", None)
        return self.active_engine

    def _hf_encode(self, text: str) -> list[int]:
        """HF's BPE model on HF's own pre-tokenisation, bypassing added-token matching.

        ``Tokenizer.encode`` would turn a literal ``"<eos>"`` in the text into the special token; text
        never produces special ids in genlab.
        """
        ids: list[int] = []
        for piece, _ in self.hf.pre_tokenizer.pre_tokenize_str(text):
            ids.extend(t.id for t in self.hf.model.tokenize(piece))
        return ids

    def _hf_encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """HF encoding of many texts: its own batched encoder where no text holds a special-token string."""
        plain = [i for i, t in enumerate(texts) if not any(s in t for s in self._special_strings)]
        out: list[list[int]] = [[] for _ in texts]
        for i, enc in zip(plain, self.hf.encode_batch([texts[i] for i in plain], add_special_tokens=False)):
            out[i] = enc.ids
        for i in set(range(len(texts))) - set(plain):
            out[i] = self._hf_encode(texts[i])
        return out

    @property
    def active_engine(self) -> str:
        return "tiktoken" if self._tiktoken is not None else "hf"

    def encode(self, text: str) -> list[int]:
        enc = self._tiktoken
        return enc.encode_ordinary(text) if enc is not None else self._hf_encode(text)

    def _encode_lists(self, texts: Sequence[str]) -> list[list[int]]:
        enc = self._tiktoken
        if enc is None:
            return self._hf_encode_batch(texts)
        parts = _in_threads(lambda part: [enc.encode_ordinary(t) for t in part], texts)
        return [ids for part in parts for ids in part]

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [np.asarray(ids, dtype=np.int64) for ids in self._encode_lists(texts)]

    def encode_stream(self, texts: Sequence[str], separator: int = EOS_ID, dtype: Any = np.int64) -> np.ndarray:
        """Documents each followed by ``separator``: with tiktoken, many documents per call (see below)."""
        enc = self._tiktoken
        if enc is None:
            return stream_from_lists(self._hf_encode_batch(texts), separator, dtype)
        return np.concatenate(_in_threads(lambda part: self._joined_stream(enc, part, separator, dtype), texts))

    def _joined_stream(self, enc: Any, texts: Sequence[str], separator: int, dtype: Any) -> np.ndarray:
        """Encode runs of documents as one string each, joined by a vertical tab (VT).

        The pre-tokenizer makes a whitespace character between two non-space characters a piece of
        its own, so ``a<VT>b`` encodes as ids(a) + [VT's byte token] + ids(b) exactly, and the VT
        tokens are then swapped for ``separator``. That holds when a document neither starts nor
        ends with whitespace and holds no VT itself; other documents are encoded alone. One call per
        run instead of per document saves a third of the time on short lines.
        """
        out: list[np.ndarray] = []
        run: list[str] = []

        def flush() -> None:
            if run:
                ids = np.array(enc.encode_ordinary(JOINER.join([*run, ""])), dtype=dtype)
                ids[ids == self._joiner_id] = separator
                out.append(ids)
                run.clear()

        for text in texts:
            if text and not text[0].isspace() and not text[-1].isspace() and JOINER not in text:
                run.append(text)
            else:
                flush()
                out.append(np.array([*enc.encode_ordinary(text), separator], dtype=dtype))
        flush()
        return np.concatenate(out) if out else np.zeros(0, dtype=dtype)

    @cached_property
    def _joiner_id(self) -> int:
        return self._bytes.index(JOINER.encode())

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        table = self._bytes
        return b"".join(table[i] if 0 <= i < len(table) else table[UNK_ID] for i in ids)

    def id_to_token(self, token_id: int) -> str:
        return self._bytes[token_id].decode("utf-8", errors="backslashreplace") or self._tokens[token_id]

    def token_strings(self) -> list[str]:
        return list(self._tokens)

    def extended(self, symbols: Sequence[str] = (), specials: Sequence[str] = ()) -> BPETokenizer:
        """Byte-level BPE already encodes every text, so only special tokens are ever added."""
        from tokenizers import AddedToken
        from tokenizers import Tokenizer as HFTokenizer

        new = [t for t in specials if t not in self._special_strings]
        if not new:
            return self
        hf = HFTokenizer.from_str(self.hf_json)
        hf.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in dict.fromkeys(new)])
        return BPETokenizer(hf.to_str(), engine=self.engine)

    def to_dict(self) -> dict[str, Any]:
        # HF's loader rejects unknown keys, so the file stays pure HF; load() recognises it by its model.
        return json.loads(self.hf_json)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BPETokenizer:
        return cls(json.dumps(data, ensure_ascii=False))
