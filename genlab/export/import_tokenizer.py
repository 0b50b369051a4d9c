"""The tokenizer of a folder ``import-hf`` reads, in one of two id layouts.

- **GPT-2's**: ``<|endoftext|>`` somewhere (50256 in GPT-2 itself), no ``<pad> <unk> <bos>``. genlab's
  specials must sit at ids 0–3, so :func:`gpt2_tokenizer` returns the tokenizer with moved ids and
  ``order``, the permutation ``import_hf`` applies to the weights (its module docstring explains it).
- **genlab's own**: ``<pad> <unk> <bos> <eos>`` at ids 0–3 — what ``genlab export --format hf`` writes for a
  byte-level BPE run (a GPT-2 imported and exported again included). Its ids already are genlab's, so
  :func:`genlab_tokenizer` takes the tokenizer as it is (chat tokens added by a fine-tune too) and the
  weights need no permutation: an exported run imports back with the same logits.
"""

from __future__ import annotations

import json
from pathlib import Path

from genlab.checkpoint import read_json
from genlab.errors import GenlabError
from genlab.tokenizers import EOS_ID, SPECIAL_TOKENS
from genlab.tokenizers.bpe import BPETokenizer

ENDOFTEXT = "<|endoftext|>"


def read_bpe(source: Path) -> tuple[dict[str, int], list[tuple[str, ...]]]:
    """The vocabulary (added tokens included) and merges, from ``tokenizer.json`` or ``vocab.json`` + ``merges.txt``."""
    if (source / "tokenizer.json").is_file():
        data = read_json(source / "tokenizer.json")
        model = data.get("model") if isinstance(data, dict) else None
        if isinstance(model, dict) and model.get("type") == "WordLevel" and has_genlab_specials(model.get("vocab")):
            raise GenlabError(f"{source} is genlab's export of a char/word/jamo run; import-hf reads byte-level BPE "
                              "only, so use the original run itself (genlab reads it directly)")
        if not isinstance(model, dict) or model.get("type") != "BPE":
            raise GenlabError(f"{source}/tokenizer.json is not a BPE tokenizer (GPT-2's is byte-level BPE)")
        try:
            vocab = {str(token): int(i) for token, i in dict(model["vocab"]).items()}
            for added in data.get("added_tokens") or []:
                vocab.setdefault(str(added["content"]), int(added["id"]))
            merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model.get("merges") or []]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise GenlabError(f"{source}/tokenizer.json is damaged ({exc!r}); give the file save_pretrained "
                              "wrote") from None
        return vocab, merges
    if not (source / "vocab.json").is_file() or not (source / "merges.txt").is_file():
        raise GenlabError(f"{source} has no tokenizer: it needs tokenizer.json, or vocab.json and merges.txt")
    vocab = read_json(source / "vocab.json")
    try:
        lines = (source / "merges.txt").read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise GenlabError(f"{source}/merges.txt is not UTF-8 text ({exc})") from None
    merges = [tuple(line.split(" ", 1)) for line in lines if line and not line.startswith("#version")]
    if not isinstance(vocab, dict) or any(len(m) != 2 for m in merges):
        raise GenlabError(f"{source}: vocab.json / merges.txt are damaged")
    return vocab, merges


def has_genlab_specials(vocab: object) -> bool:
    """Whether ``vocab`` has genlab's ``<pad> <unk> <bos> <eos>`` at ids 0–3 (genlab's own layout)."""
    return isinstance(vocab, dict) and all(vocab.get(name) == i for i, name in enumerate(SPECIAL_TOKENS))


def genlab_tokenizer(source: Path, vocab: dict[str, int], merges: list[tuple[str, ...]],
                     rows: int) -> BPETokenizer:
    """A tokenizer already in genlab's layout, taken as it is; it must have one token per embedding row."""
    if (source / "tokenizer.json").is_file():
        text = json.dumps(read_json(source / "tokenizer.json"), ensure_ascii=False)
    else:
        text = _byte_level(vocab, merges)
    try:
        tokenizer = BPETokenizer(text)
    except (KeyError, TypeError, ValueError) as exc:
        raise GenlabError(f"{source}: the tokenizer is not a byte-level BPE genlab can read ({exc!r})") from None
    if tokenizer.vocab_size != rows:
        raise GenlabError(f"{source}: the tokenizer has {tokenizer.vocab_size} tokens but the model {rows}; "
                          "they are not the same checkpoint")
    return tokenizer


def gpt2_tokenizer(source: Path, vocab: dict[str, int], merges: list[tuple[str, ...]],
                   gpt2_vocab: int) -> tuple[BPETokenizer, list[int]]:
    """GPT-2's byte-level BPE as a genlab tokenizer, and ``order``: genlab id → GPT-2 id (−1: new token)."""
    if len(vocab) != gpt2_vocab:
        raise GenlabError(f"{source}: the tokenizer has {len(vocab)} tokens but the model {gpt2_vocab}; "
                          "they are not the same checkpoint")
    if ENDOFTEXT not in vocab:
        raise GenlabError(f"{source}: the tokenizer has neither GPT-2's {ENDOFTEXT} (genlab maps its <eos> to it) "
                          f"nor genlab's {' '.join(SPECIAL_TOKENS)} at ids 0-3; it is not a GPT-2 tokenizer")
    by_id = sorted(vocab, key=vocab.__getitem__)
    if [vocab[t] for t in by_id] != list(range(len(by_id))):
        raise GenlabError(f"{source}: the tokenizer's ids are not 0…{len(by_id) - 1}; the file is damaged")
    eot, specials = vocab[ENDOFTEXT], len(SPECIAL_TOKENS)
    order = [-1] * (len(by_id) + specials - 1)  # genlab id → GPT-2 id; -1: <pad> <unk> <bos>
    order[EOS_ID] = eot
    for i in range(specials, len(by_id)):  # every other GPT-2 id stays where it is…
        if i != eot:
            order[i] = i
    moved = [i for i in range(specials) if i != eot]  # …except the ones genlab's specials occupy
    free = [j for j in range(specials, len(order)) if order[j] == -1]
    for j, i in zip(free, moved):
        order[j] = i
    if sorted(i for i in order if i >= 0) != list(range(len(by_id))):
        raise GenlabError(f"{source}: could not map GPT-2's ids onto genlab's (internal error)")
    genlab_vocab = {name: i for i, name in enumerate(SPECIAL_TOKENS)}
    genlab_vocab.update({by_id[g]: j for j, g in enumerate(order) if g >= 0 and g != eot})
    try:
        return BPETokenizer(_byte_level(genlab_vocab, merges)), order
    except (KeyError, ValueError) as exc:
        raise GenlabError(f"{source}: the tokenizer is not GPT-2's byte-level BPE ({exc!r})") from None


def _byte_level(vocab: dict[str, int], merges: list[tuple[str, ...]]) -> str:
    """An HF byte-level BPE ``tokenizer.json`` (GPT-2's pre-tokenizer) over ``vocab`` with genlab's specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    hf = Tokenizer(models.BPE(vocab, merges))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens(list(SPECIAL_TOKENS))
    return hf.to_str()
