"""The word tokenizer: Unicode words, punctuation and whitespace as tokens, lossless on known text."""

from __future__ import annotations

import numpy as np
import pytest

from genlab.errors import GenlabError
from genlab.tokenizers import EOS_ID, UNK_ID, load, train
from genlab.tokenizers.word import split_words

TEXT = "The cat's 3 hats — 생성형 인공지능!!  Whitespace\truns\n\n  and snake_case_names."


def test_split_words_covers_every_character():
    pieces = split_words(TEXT)
    assert "".join(pieces) == TEXT
    assert " cat" in pieces and " 생성형" in pieces and "!!" in pieces and "\n\n " in pieces


def test_round_trip_on_known_text():
    tok = train("word", [TEXT])
    ids = tok.encode(TEXT)
    assert UNK_ID not in ids and min(ids) >= 4
    assert tok.decode(ids) == TEXT
    assert len(ids) == len(split_words(TEXT))


def test_leading_space_belongs_to_the_word():
    tok = train("word", ["a b  c"])
    assert [tok.id_to_token(i) for i in tok.encode("a b  c")] == ["a", " b", " ", " c"]


def test_unknown_words_become_unk():
    tok = train("word", ["hello world"])
    ids = tok.encode("hello there world")
    assert ids[1] == UNK_ID
    assert tok.decode(ids) == "hello\ufffd world"


def test_frequency_cut_off_and_vocab_size():
    texts = ["a a a b b c"]
    assert train("word", texts, min_frequency=2).words == [" a", " b"]  # "a" and " c" occur once
    capped = train("word", texts, vocab_size=4 + 1)
    assert capped.words == [" a"] and capped.vocab_size == 5
    with pytest.raises(GenlabError, match="too small"):
        train("word", texts, vocab_size=3)


def test_lowercase_is_opt_in_and_lossy():
    tok = train("word", ["Hello hello"], lowercase=True)
    assert tok.decode(tok.encode("HELLO Hello")) == "hello hello"
    assert train("word", ["Hello"]).decode(train("word", ["Hello"]).encode("Hello")) == "Hello"


def test_special_token_strings_are_plain_text():
    tok = train("word", ["say <eos> now"])
    ids = tok.encode("say <eos> now")
    assert EOS_ID not in ids and tok.decode(ids) == "say <eos> now"


def test_encode_stream_equals_per_document_encoding():
    tok = train("word", [TEXT])
    docs = [TEXT, "", "The cat", "unknown words here"]
    expected = [i for d in docs for i in tok.encode(d) + [EOS_ID]]
    assert tok.encode_stream(docs, EOS_ID, np.uint16).tolist() == expected


def test_save_and_load(tmp_path):
    tok = train("word", [TEXT], lowercase=True)
    tok.save(tmp_path / "t.json")
    again = load(tmp_path / "t.json")
    assert again.lowercase and again.encode(TEXT) == tok.encode(TEXT)
    assert again.fingerprint() == tok.fingerprint()
