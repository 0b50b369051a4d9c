"""A genlab tokenizer as a Hugging Face ``tokenizer.json`` that gives the same ids.

- ``bpe``: genlab's file already *is* an HF byte-level BPE ``tokenizer.json``; it is written as it is.
- ``char``: a ``WordLevel`` model over single characters, the text split into characters.
- ``word``: a ``WordLevel`` model over genlab's words, the text split by genlab's own word pattern.
- ``jamo``: the ``NFD`` normalizer splits a Hangul syllable into its conjoining jamo exactly as genlab
  does (Unicode defines the decomposition), then characters as for ``char``. NFD also splits some
  other characters (``é`` → ``e`` + U+0301); those in the vocabulary are put back together by
  ``Replace`` rules, so they keep their ids. Decoding gives the jamo in NFD form (NFC makes them
  syllables again); text that already contains conjoining jamo maps to the jamo ids.

Special tokens — genlab's ``<pad> <unk> <bos> <eos>`` at ids 0–3, whatever further special tokens a
tokenizer declares in its file's ``special_tokens`` list (they take the next ids), and the *added* special
tokens a chat fine-tune gives it (``added_specials``: the chat template's, after every other id) — become
HF added tokens with ``special: true`` and the same ids, so ``skip_special_tokens`` drops them and
``convert_tokens_to_ids`` finds them by name.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from genlab.errors import GenlabError
from genlab.tokenizers import SPECIAL_TOKENS, Tokenizer
from genlab.tokenizers.jamo import ALL_JAMO, FIRST_JAMO
from genlab.tokenizers.word import WORD_PATTERN

#: any one character, newlines included (Oniguruma's ``.`` stops at a newline)
ONE_CHARACTER = r"[\s\S]"


def special_tokens(tokenizer: Tokenizer) -> list[tuple[int, str]]:
    """``(id, name)`` of every special token, checked against the tokenizer's own ids."""
    if tokenizer.kind == "bpe":
        added = json.loads(tokenizer.hf_json).get("added_tokens") or []
        return sorted((int(t["id"]), str(t["content"])) for t in added if t.get("special", True))
    names = tokenizer.to_dict().get("special_tokens") or list(SPECIAL_TOKENS)
    pairs = list(enumerate(names))
    # a chat fine-tune's tokens come after the vocabulary; leaving them out made the vocabulary look short
    pairs += [(tokenizer.vocab_size - len(tokenizer.added_specials) + k, name)
              for k, name in enumerate(tokenizer.added_specials)]
    for i, name in pairs:
        if tokenizer.id_to_token(i) != name:
            raise GenlabError(f"the tokenizer's special token {name!r} is not at id {i}; its file is damaged")
    return pairs


def hf_tokenizer_json(tokenizer: Tokenizer) -> dict[str, Any]:
    """The ``tokenizer.json`` content for ``tokenizer`` (see the module docstring for each kind)."""
    if tokenizer.kind == "bpe":
        return tokenizer.to_dict()
    specials = special_tokens(tokenizer)
    if tokenizer.kind == "char":
        vocab = _vocab(tokenizer, specials, tokenizer.chars, _leading(tokenizer, specials))
        return _word_level(vocab, specials, _split(ONE_CHARACTER), normalizer=None)
    if tokenizer.kind == "word":
        vocab = _vocab(tokenizer, specials, tokenizer.words, _leading(tokenizer, specials))
        normalizer = {"type": "Lowercase"} if tokenizer.lowercase else None
        return _word_level(vocab, specials, _split(WORD_PATTERN.pattern), normalizer)
    if tokenizer.kind == "jamo":
        first_char = FIRST_JAMO + len(ALL_JAMO)
        vocab = {name: i for i, name in specials}
        vocab.update({jamo: FIRST_JAMO + i for i, jamo in enumerate(ALL_JAMO)})
        for i, ch in enumerate(tokenizer.chars):
            vocab.setdefault(ch, first_char + i)  # a literal conjoining jamo is the jamo token here
        rejoin = [{"type": "Replace", "pattern": {"String": unicodedata.normalize("NFD", ch)}, "content": ch}
                  for ch in tokenizer.chars if unicodedata.normalize("NFD", ch) != ch]
        normalizer = {"type": "Sequence", "normalizers": [{"type": "NFD"}, *rejoin]}
        return _word_level(vocab, specials, _split(ONE_CHARACTER), normalizer)
    raise GenlabError(f"cannot export a {tokenizer.kind!r} tokenizer to Hugging Face")


def _leading(tokenizer: Tokenizer, specials: list[tuple[int, str]]) -> int:
    """The first symbol's id: the special tokens before the vocabulary (the added ones come after it)."""
    return len(specials) - len(tokenizer.added_specials)


def _vocab(tokenizer: Tokenizer, specials: list[tuple[int, str]], symbols: list[str], first: int) -> dict[str, int]:
    vocab = {name: i for i, name in specials}
    for i, symbol in enumerate(symbols, start=first):
        vocab[symbol] = i
    if len(vocab) != tokenizer.vocab_size:
        raise GenlabError(f"the {tokenizer.kind} tokenizer's symbols are not distinct; its file is damaged")
    return vocab


def _split(pattern: str) -> dict[str, Any]:
    return {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False}


def _word_level(vocab: dict[str, int], specials: list[tuple[int, str]], pre_tokenizer: dict[str, Any],
                normalizer: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": i, "content": name, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, name in specials],
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": None,
        "decoder": {"type": "Fuse"},
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": SPECIAL_TOKENS[1]},
    }


def tokenizer_config(specials: list[tuple[int, str]], max_length: int) -> dict[str, Any]:
    """``tokenizer_config.json``: a ``PreTrainedTokenizerFast`` over ``tokenizer.json``, genlab's roles.

    A document starts after ``<eos>`` in genlab (every stored document ends with it), so ``<eos>`` is
    also the ``bos_token``, as ``<|endoftext|>`` is for GPT-2.
    """
    names = [name for _, name in specials]
    extra = [name for name in names if name not in SPECIAL_TOKENS]
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "clean_up_tokenization_spaces": False,
        "add_bos_token": False,
        "add_eos_token": False,
        "pad_token": SPECIAL_TOKENS[0],
        "unk_token": SPECIAL_TOKENS[1],
        "bos_token": SPECIAL_TOKENS[3],
        "eos_token": SPECIAL_TOKENS[3],
    }
    if extra:
        config["additional_special_tokens"] = extra
    return config
