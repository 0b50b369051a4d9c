"""The character tokenizer: one token per code point, vectorised encoding, an explicit <unk> policy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genlab.errors import GenlabError
from genlab.tokenizers import EOS_ID, UNK_ID, load, train
from genlab.tokenizers.char import CharTokenizer, code_points, count_chars

TEXT = "Hello, 세상! 생성형 인공지능 😀 \t\n  end"


def test_round_trip_and_one_token_per_code_point():
    tok = train("char", [TEXT])
    ids = tok.encode(TEXT)
    assert len(ids) == len(TEXT)  # a Hangul syllable and an emoji are one token each
    assert tok.decode(ids) == TEXT
    assert min(ids) >= 4  # text never produces special ids
    assert tok.vocab_size == 4 + len(set(TEXT))
    assert tok.encode_array(TEXT).dtype == np.int64


def test_vocabulary_is_sorted_code_points_after_the_specials():
    tok = train("char", ["cab", "ba"])
    assert tok.id_to_token(0) == "<pad>" and tok.id_to_token(3) == "<eos>"
    assert [tok.id_to_token(i) for i in range(4, tok.vocab_size)] == ["a", "b", "c"]


def test_unknown_characters_become_unk_and_decode_to_replacement_char():
    tok = train("char", ["abc"])
    ids = tok.encode("abz가")
    assert ids[2:] == [UNK_ID, UNK_ID]
    assert tok.decode(ids) == "ab\ufffd\ufffd"
    assert tok.decode([999, -1]) == "\ufffd\ufffd"  # ids outside the vocabulary too


def test_special_token_strings_are_plain_text():
    tok = train("char", ["<eos> and <pad>"])
    ids = tok.encode("<eos>")
    assert len(ids) == 5 and EOS_ID not in ids
    assert tok.decode(ids) == "<eos>"
    assert tok.decode([tok.encode("a")[0], EOS_ID, 0, 2]) == "a"  # specials other than <unk> decode to nothing


def test_min_frequency_and_vocab_size():
    texts = ["aaaa bbb cc d"]
    assert train("char", texts, min_frequency=3).chars == [" ", "a", "b"]
    kept = train("char", texts, vocab_size=4 + 2).chars  # 'a' (4), then ' ' beats 'b' (both 3) by code point
    assert kept == [" ", "a"]
    with pytest.raises(GenlabError, match="too small"):
        train("char", texts, vocab_size=4)


def test_count_chars_matches_a_plain_count_across_batches(monkeypatch):
    import genlab.tokenizers.char as char_mod

    monkeypatch.setattr(char_mod, "COUNT_BATCH_CHARS", 5)
    texts = ["abc가", "😀😀a", "", "가가가 𝄞"]
    expected: dict[str, int] = {}
    for ch in "".join(texts):
        expected[ch] = expected.get(ch, 0) + 1
    assert count_chars(texts) == expected


def test_code_points_bmp_and_astral():
    assert code_points("a가").dtype == np.uint16
    assert code_points("a가").tolist() == [0x61, 0xAC00]
    assert code_points("a😀").dtype == np.uint32
    assert code_points("a😀").tolist() == [0x61, 0x1F600]
    assert code_points("").size == 0


@pytest.mark.parametrize("docs", [
    ["ab가", "", "😀 a", "b"],           # astral characters take the UTF-32 path
    ["ab", "b\0a", "가"],                # a NUL inside a document: the joined fast path must step aside
    ["ab가", "x", "a"],
    [],
])
def test_encode_stream_equals_per_document_encoding(docs):
    tok = train("char", ["ab가😀 \0"])
    expected = [i for d in docs for i in tok.encode(d) + [EOS_ID]]
    for dtype in (np.int64, np.uint16):
        got = tok.encode_stream(docs, EOS_ID, dtype)
        assert got.dtype == dtype
        assert got.tolist() == expected


def test_save_load_and_fingerprint(tmp_path):
    tok = train("char", [TEXT])
    tok.save(tmp_path / "tokenizer.json")
    again = load(tmp_path / "tokenizer.json")
    assert isinstance(again, CharTokenizer)
    assert again.encode(TEXT) == tok.encode(TEXT)
    assert again.fingerprint() == tok.fingerprint()
    assert train("char", [TEXT + "x"]).fingerprint() != tok.fingerprint()


def test_damaged_files_are_clear_errors(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text('{"genlab_tokenizer": "char", "chars": ["a", "bb"]}')
    with pytest.raises(GenlabError, match="damaged"):
        load(path)
    path.write_text('{"genlab_tokenizer": "char", "chars": ["a", "a"]}')
    with pytest.raises(GenlabError, match="damaged"):
        load(path)
    path.write_text('{"genlab_tokenizer": "char", "chars": [')
    with pytest.raises(GenlabError, match="corrupted"):
        load(path)
    path.write_text(json.dumps({"something": "else"}))
    with pytest.raises(GenlabError, match="not a genlab tokenizer"):
        load(path)
    with pytest.raises(GenlabError, match="not found"):
        load(tmp_path / "missing.json")
