"""A genlab tokenizer seen as llguidance needs it: every token id with the bytes it writes.

A grammar constrains *text*, so the engine has to know which bytes each token adds. For char, word
and byte-level BPE tokenizers that is simply the token decoded alone (a BPE token may end inside a
UTF-8 character; llguidance works on bytes, so that is fine). Two kinds of token write no text:

- special tokens (``<pad>``, ``<bos>``, ``<eos>``, the chat template's ``<|end|>``, …) and ``<unk>``
  (whose U+FFFD would be a guess, not text): they get llguidance's special-token spelling, a 0xFF byte
  and their name, which no text can contain, so a grammar allows them only where it names them
  (a Lark grammar may write ``<|end|>``) or, for ``<eos>``, at its end;
- nothing else: every other token writes at least one byte.

The jamo tokenizer writes a Hangul syllable as 2–3 tokens that its decoder recomposes. Each jamo token
is given the bytes of its conjoining jamo (U+1100…), so the grammar sees decomposed text; the string
literals of a schema (``enum``, ``const``) are decomposed the same way (:meth:`Vocabulary.spell`). Jamo
only ever stand inside JSON strings, where composed and decomposed syllables are equally valid, so the
decoded text is valid JSON whenever the grammar's text is.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

from genlab.tokenizers import SPECIAL_TOKENS, UNK_ID, Tokenizer

#: llguidance marks a special token by this first byte (never part of valid UTF-8)
SPECIAL_MARK = b"\xff"

_CACHE: weakref.WeakKeyDictionary[Tokenizer, Vocabulary] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()  # the server's worker threads may ask for the same tokenizer at once


class Vocabulary:
    """Token bytes, special ids and the llguidance tokenizer for one genlab tokenizer (built once, cached)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        import llguidance

        self.tokenizer = tokenizer
        self.size = tokenizer.vocab_size
        specials = {tokenizer.special_id(t) for t in (*SPECIAL_TOKENS, *tokenizer.added_specials)}
        specials.add(UNK_ID)
        self.special_ids = sorted(i for i in specials if i is not None)
        self.tokens: list[bytes] = []
        for i in range(self.size):
            text = tokenizer.decode_bytes([i])
            if i in specials or not text:
                if i not in specials:
                    self.special_ids.append(i)
                text = SPECIAL_MARK + tokenizer.id_to_token(i).encode("utf-8", "surrogatepass")
            self.tokens.append(text)
        self.special_ids.sort()
        self._by_bytes: dict[bytes, int] = {}
        for i, b in enumerate(self.tokens):
            if i not in specials:
                self._by_bytes.setdefault(b, i)
        self._longest = max((len(b) for b in self._by_bytes), default=1)
        self.respells = tokenizer.kind == "jamo"
        self.ll = llguidance.LLTokenizer(llguidance.TokenizerWrapper(_Encoder(self)), n_vocab=self.size)

    def spell(self, text: str) -> str:
        """``text`` as the grammar sees it: decomposed Hangul for the jamo tokenizer, unchanged otherwise."""
        if not self.respells:
            return text
        return b"".join(self.tokens[i] for i in self.tokenizer.encode(text)
                        if i not in self.special_ids).decode("utf-8", "surrogatepass")

    def encode(self, text: str) -> list[int]:
        """Ids whose bytes spell ``text``: the tokenizer's own encoding when it does, else the longest token at
        each place (the jamo tokenizer reads syllables, not the decomposed jamo the grammar writes).

        Masks never depend on it (grammars are compiled with llguidance's ``no_forcing``: see
        :mod:`genlab.structured.grammar`); llguidance only needs it for its tokenize calls.
        """
        raw = text.encode("utf-8", "surrogatepass")
        ids = self.tokenizer.encode(text)
        if UNK_ID not in ids and b"".join(self.tokens[i] for i in ids) == raw:
            return ids
        out: list[int] = []
        at = 0
        while at < len(raw):
            for width in range(min(self._longest, len(raw) - at), 0, -1):
                tid = self._by_bytes.get(raw[at:at + width])
                if tid is not None:
                    out.append(tid)
                    at += width
                    break
            else:  # no token writes this byte: spell what can be spelled
                break
        return out


class _Encoder:
    """The object ``llguidance.TokenizerWrapper`` reads: token bytes, ids, and an encode call on ``str``."""

    def __init__(self, vocab: Vocabulary) -> None:
        from genlab.tokenizers import EOS_ID

        self._vocab = vocab
        self.tokens: Sequence[bytes] = vocab.tokens
        self.eos_token_id = EOS_ID
        self.bos_token_id = None
        self.special_token_ids = list(vocab.special_ids)

    def __call__(self, text: Any) -> list[int]:
        if isinstance(text, bytes):  # TokenizerWrapper probes with bytes; refusing them makes it send str
            raise TypeError("genlab vocabularies encode str")
        return self._vocab.encode(text)


def vocabulary(tokenizer: Tokenizer) -> Vocabulary:
    """The :class:`Vocabulary` of ``tokenizer``, built on first use and kept while the tokenizer lives."""
    with _CACHE_LOCK:
        vocab = _CACHE.get(tokenizer)
        if vocab is None:
            vocab = _CACHE[tokenizer] = Vocabulary(tokenizer)
        return vocab
