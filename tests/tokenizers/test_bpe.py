"""Byte-level BPE: merges learned by HF tokenizers; encoding by tiktoken only where it is exact."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer as HFTokenizer

from genlab.errors import GenlabError
from genlab.tokenizers import EOS_ID, SPECIAL_TOKENS, load, train
from genlab.tokenizers import bpe as bpe_mod
from genlab.tokenizers.bpe import BPETokenizer

ENGLISH = ("The quick brown fox jumps over the lazy dog. It's 2026, and we're training tokenizers; "
           "they'll split words into pieces. ") * 20
KOREAN = "생성형 인공지능은 다음 단어를 예측합니다. 한국어 문장도 바이트 단위로 나뉩니다. " * 20
VARIED = [
    "Hello, world! It's 2026 — genlab's BPE.\n\t  spaces   and\r\nnewlines 123 4567 ",
    "안녕하세요, 생성형 인공지능 수업입니다. 😀 한국어와 English mixed-script 文字 !!!",
    "   leading and trailing   ",
    "tabs\t\tand\u00a0nbsp\u3000ideographic space\u2028line sep",
    "<eos><pad> <unk>x<bos> special-looking strings",
    "ÀÉÎõü ﬁ ligature, Ελληνικά, русский, עברית, العربية, हिन्दी, ไทย",
    "don't can't I'll we've they're she'd 'tis",
    "",
    "x",
    "\n\n\n",
]


@pytest.fixture(scope="module")
def tok() -> BPETokenizer:
    return train("bpe", [ENGLISH, KOREAN], vocab_size=400, min_frequency=2)


def test_round_trip_with_byte_fallback(tok):
    for text in VARIED + ["𝄞 unseen 🦀 characters ☃ ẞ"]:
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        assert all(i >= len(SPECIAL_TOKENS) for i in ids)  # never <unk>, never a special token


def test_merges_are_learned(tok):
    assert tok.vocab_size == 400
    assert len(tok.encode(" the")) == 1
    assert len(tok.encode("생성형")) < len("생성형".encode())


def test_saved_file_loads_in_plain_hf_tokenizers_and_encodes_identically(tok, tmp_path):
    tok.save(tmp_path / "tokenizer.json")
    hf = HFTokenizer.from_file(str(tmp_path / "tokenizer.json"))
    for text in VARIED:
        if any(s in text for s in SPECIAL_TOKENS):
            continue  # HF's encode() turns those strings into special tokens on purpose; genlab never does
        assert hf.encode(text, add_special_tokens=False).ids == tok.encode(text)
        assert hf.decode(tok.encode(text)) == text
    assert [hf.token_to_id(s) for s in SPECIAL_TOKENS] == [0, 1, 2, 3]
    again = load(tmp_path / "tokenizer.json")
    assert again.fingerprint() == tok.fingerprint()
    assert again.encode(VARIED[1]) == tok.encode(VARIED[1])


def test_tiktoken_and_hf_engines_agree(tok):
    fast = BPETokenizer(tok.hf_json, engine="tiktoken")
    exact = BPETokenizer(tok.hf_json, engine="hf")
    assert fast.active_engine == "tiktoken" and exact.active_engine == "hf"
    texts = VARIED + [ENGLISH, KOREAN, ENGLISH[:997] + KOREAN[:311]]
    for text in texts:
        assert fast.encode(text) == exact.encode(text)
    assert fast.encode_stream(texts).tolist() == exact.encode_stream(texts).tolist()


def test_verify_engine_falls_back_to_hf_when_engines_disagree(tok, monkeypatch):
    fresh = BPETokenizer(tok.hf_json)
    assert fresh.verify_engine(VARIED) == "tiktoken"
    monkeypatch.setattr(BPETokenizer, "_hf_encode_batch", lambda self, texts: [[5] for _ in texts])
    assert fresh.verify_engine(VARIED) == "hf"
    assert fresh.active_engine == "hf"
    assert fresh.encode_stream(["abc", "d"]).tolist() == [5, EOS_ID, 5, EOS_ID]  # bulk encoding goes through HF
    assert fresh.encode("abc") == tok.encode("abc")


def test_special_strings_never_become_special_ids(tok):
    for engine in ("tiktoken", "hf"):
        t = BPETokenizer(tok.hf_json, engine=engine)
        ids = t.encode("a <eos> b <pad><unk><bos>")
        assert min(ids) >= len(SPECIAL_TOKENS)
        assert t.decode(ids) == "a <eos> b <pad><unk><bos>"


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_encode_stream_equals_per_document_encoding(tok, monkeypatch, threads):
    monkeypatch.setattr(bpe_mod, "_worker_count", lambda: threads)
    monkeypatch.setattr(bpe_mod, "THREAD_MIN_CHARS", 0)
    docs = VARIED + [" lead", "trail ", "vertical\x0btab", "\x0b", "안녕 ", "a", "b"] * 3
    expected = [i for d in docs for i in tok.encode(d) + [EOS_ID]]
    got = tok.encode_stream(docs, EOS_ID, np.uint16)
    assert got.dtype == np.uint16 and got.tolist() == expected
    assert [a.tolist() for a in tok.encode_batch(docs)] == [tok.encode(d) for d in docs]


def test_vocab_size_limits():
    with pytest.raises(GenlabError, match="too small"):
        train("bpe", ["abc"], vocab_size=100)
    with pytest.raises(GenlabError, match="too large"):
        train("bpe", ["abc"], vocab_size=1 << 21)


def test_training_is_deterministic():
    a = train("bpe", [ENGLISH, KOREAN], vocab_size=500)
    b = train("bpe", [ENGLISH, KOREAN], vocab_size=500)
    assert a.fingerprint() == b.fingerprint()


def test_foreign_or_damaged_files(tmp_path, tok):
    data = tok.to_dict()
    data["model"]["vocab"]["<pad>"], data["model"]["vocab"]["<eos>"] = 3, 0
    path = tmp_path / "t.json"
    import json

    path.write_text(json.dumps(data))
    with pytest.raises(GenlabError, match="special tokens"):
        load(path)
    path.write_text(tok.hf_json[: len(tok.hf_json) // 2])
    with pytest.raises(GenlabError, match="corrupted"):
        load(path)
