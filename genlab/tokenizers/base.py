"""The protocol every tokenizer speaks, and the special tokens every kind shares.

Special tokens occupy ids 0–3 in every kind, are never produced from text (a literal ``"<eos>"``
in a document is just characters), and decode to nothing — except ``<unk>``, which decodes to
U+FFFD, the usual mark of "a character we could not represent".
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from itertools import chain, repeat
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from genlab.errors import GenlabError

SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<unk>", "<bos>", "<eos>")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)
UNK_TEXT = "\ufffd"
FORMAT_VERSION = 1
#: the chat template's reserved tokens (system / user / assistant turns, end of turn). A tokenizer gets
#: them when a run is fine-tuned for chat (``genlab finetune``): *added* special tokens, with ids after
#: every id the tokenizer already had, so a base model's old ids keep their meaning.
CHAT_TOKENS: tuple[str, ...] = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
#: the chat template's tool tokens: the start of one tool call inside an assistant turn, and the tool-result
#: turn. Added after ``CHAT_TOKENS`` (runs fine-tuned before they existed lack them and chat without tools).
TOOL_TOKENS: tuple[str, ...] = ("<|tool_call|>", "<|tool|>")
#: every reserved token ``genlab finetune`` gives a tokenizer, in id order
TEMPLATE_TOKENS: tuple[str, ...] = CHAT_TOKENS + TOOL_TOKENS


class Tokenizer(ABC):
    """Text ⇄ token ids. ``decode(encode(x)) == x`` for text made of known symbols.

    Besides the four fixed special tokens, a tokenizer may hold *added* special tokens (``added_specials``,
    e.g. the chat template's): like ``<eos>`` they are never produced from text and decode to nothing.
    """

    kind: ClassVar[str]
    #: special tokens beyond the fixed four, in id order (see ``extended``)
    added_specials: tuple[str, ...] = ()
    pad_id = PAD_ID
    unk_id = UNK_ID
    bos_id = BOS_ID
    eos_id = EOS_ID
    #: characters a streaming decoder must hold back because a later token can still change them
    #: (the jamo tokenizer recomposes a syllable when its final consonant arrives)
    stream_holdback: ClassVar[int] = 0
    #: training only counts characters, so documents may be handed to ``train`` concatenated
    #: (far fewer Python steps for a corpus of short lines); word and BPE training see boundaries
    trains_on_joined_text: ClassVar[bool] = False

    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @abstractmethod
    def encode(self, text: str) -> list[int]: ...

    @abstractmethod
    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """UTF-8 bytes of the tokens; may end inside a character (byte-level BPE)."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]: ...

    @classmethod
    @abstractmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokenizer: ...

    @abstractmethod
    def id_to_token(self, token_id: int) -> str:
        """A readable form of one token (for plots and the playground)."""

    def token_strings(self) -> list[str]:
        """Every id's token as a string, unique per id: how a grown vocabulary finds its old rows."""
        return [self.id_to_token(i) for i in range(self.vocab_size)]

    def special_id(self, token: str) -> int | None:
        """The id of a fixed or added special token, or ``None`` if this tokenizer lacks it."""
        if token in SPECIAL_TOKENS:
            return SPECIAL_TOKENS.index(token)
        if token in self.added_specials:
            return self.vocab_size - len(self.added_specials) + self.added_specials.index(token)
        return None

    def missing_symbols(self, texts: Iterable[str]) -> list[str]:
        """Symbols in ``texts`` that this tokenizer can only encode as ``<unk>`` (none for byte-level BPE)."""
        return []

    def extended(self, symbols: Sequence[str] = (), specials: Sequence[str] = ()) -> Tokenizer:
        """A copy that also knows ``symbols`` (new characters or words) and the special tokens ``specials``.

        Ids of the tokens this tokenizer has keep their tokens (a grown model re-finds its rows by
        :meth:`token_strings`); added special tokens always come last.
        """
        raise GenlabError(f"the {self.kind} tokenizer cannot be extended")

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return self.decode_bytes([int(i) for i in ids]).decode("utf-8", errors="replace")

    def encode_array(self, text: str) -> np.ndarray:
        """Encode to a NumPy int64 array (kinds override this with vectorised code)."""
        return np.asarray(self.encode(text), dtype=np.int64)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.encode_array(t) for t in texts]

    def encode_stream(self, texts: Sequence[str], separator: int = EOS_ID, dtype: Any = np.int64) -> np.ndarray:
        """Every text's ids followed by ``separator``, end to end: the layout of a token-store split.

        The bulk path of ``genlab prepare``: one flat array per batch of documents instead of an
        array per document, so a corpus of short lines is not dominated by per-line overhead.
        Kinds override it with vectorised code; the result always equals encoding each text alone.
        """
        return stream_from_lists([self.encode(t) for t in texts], separator, dtype)

    def fingerprint(self) -> str:
        """A short hash of the vocabulary: checkpoints record it to refuse a foreign tokenizer."""
        import hashlib

        blob = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def save(self, path: str | Path) -> None:
        from genlab.checkpoint import write_json

        write_json(path, self.to_dict())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


def id_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned type that holds every id: what token stores and lookup tables use."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


def stream_from_lists(lists: Sequence[Sequence[int]], separator: int, dtype: Any = np.int64) -> np.ndarray:
    """Lists of ids, each followed by ``separator``, as one array, without a NumPy array per list."""
    total = sum(map(len, lists)) + len(lists)
    pieces = chain.from_iterable(zip(lists, repeat((separator,))))
    return np.fromiter(chain.from_iterable(pieces), dtype=dtype, count=total)


def check_kind(data: dict[str, Any], kind: str) -> None:
    if data.get("genlab_tokenizer") != kind:
        raise GenlabError(f"tokenizer file is not a genlab '{kind}' tokenizer")


def header(kind: str, added_specials: Sequence[str] = ()) -> dict[str, Any]:
    """The fields every genlab tokenizer file starts with (``added_specials`` only when there are some,
    so the files and fingerprints of tokenizers without them stay as they were)."""
    data: dict[str, Any] = {"genlab_tokenizer": kind, "version": FORMAT_VERSION, "special_tokens": list(SPECIAL_TOKENS)}
    if added_specials:
        data["added_specials"] = list(added_specials)
    return data


def check_added_specials(specials: Sequence[str], symbols: Sequence[str], kind: str) -> tuple[str, ...]:
    """Added special tokens must be distinct strings that are neither fixed specials nor vocabulary symbols."""
    specials = tuple(specials)
    if any(not isinstance(t, str) or not t for t in specials) or len(set(specials)) != len(specials) \
            or set(specials) & (set(SPECIAL_TOKENS) | set(symbols)):
        raise GenlabError(f"the {kind} tokenizer's added special tokens must be distinct, non-empty and not "
                          "already in the vocabulary; the file is damaged")
    return specials


def merge_specials(old: Sequence[str], new: Sequence[str]) -> tuple[str, ...]:
    """``old`` then the tokens of ``new`` not already there (fixed specials are never added twice)."""
    merged = list(old)
    for token in new:
        if token not in merged and token not in SPECIAL_TOKENS:
            merged.append(token)
    return tuple(merged)


def select_symbols(counts: dict[str, int], min_frequency: int, limit: int | None, kind: str) -> list[str]:
    """The symbols seen at least ``min_frequency`` times; with ``limit``, only that many most frequent."""
    if min_frequency < 1:
        raise GenlabError(f"min_frequency must be ≥ 1, got {min_frequency}")
    kept = [c for c, n in counts.items() if n >= min_frequency]
    if counts and not kept:  # every symbol would be <unk>: a model of nothing, trained without a word
        raise GenlabError(f"--min-frequency {min_frequency} drops every symbol of the {kind} tokenizer (the most "
                          f"frequent one is seen {max(counts.values()):,} times); lower it")
    if limit is not None:
        if limit < 1:
            raise GenlabError(f"--vocab-size is too small for the {kind} tokenizer (it needs room for "
                              "at least one symbol besides the fixed ones)")
        kept = sorted(kept, key=lambda c: (-counts[c], c))[:limit]
    return sorted(kept)


def iter_texts(texts: Iterable[str]) -> Iterable[str]:
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"tokenizers train on str, got {type(text).__name__}")
        yield text
