"""The jamo tokenizer: Hangul syllables as initial/medial/final jamo, recomposed exactly on decode."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest

from genlab.errors import GenlabError
from genlab.tokenizers import EOS_ID, load, train
from genlab.tokenizers.jamo import FIRST_CHAR, SYLLABLE_BASE, SYLLABLE_COUNT, JamoTokenizer

SENTENCE = ("생성형 인공지능은 학습한 데이터의 패턴을 바탕으로 새로운 글과 그림을 만들어 냅니다. 언어 모델은 앞에 나온 "
            "단어들을 보고 다음에 올 단어의 확률을 계산하며, 그 확률에 따라 하나씩 골라 문장을 완성합니다.")
ALL_SYLLABLES = "".join(chr(SYLLABLE_BASE + i) for i in range(SYLLABLE_COUNT))


def test_every_precomposed_syllable_round_trips():
    tok = train("jamo", ["x"])  # never saw Korean: the jamo are always in the vocabulary
    ids = tok.encode(ALL_SYLLABLES)
    assert tok.decode(ids) == ALL_SYLLABLES
    for syllable in ALL_SYLLABLES:
        one = tok.encode(syllable)
        assert tok.decode(one) == syllable
        # two jamo without a final consonant, three with one — as Unicode's own decomposition says
        assert len(one) == len(unicodedata.normalize("NFD", syllable))


def test_decomposition_matches_unicode_jamo():
    tok = train("jamo", [""])
    assert [tok.id_to_token(i) for i in tok.encode("각")] == ["<\u1100>", "<\u1161>", "<\u11a8>"]
    assert len(tok.encode("가")) == 2


def test_korean_sentence_more_tokens_fewer_symbols_than_char():
    jamo, char = train("jamo", [SENTENCE]), train("char", [SENTENCE])
    j_ids, c_ids = jamo.encode(SENTENCE), char.encode(SENTENCE)
    assert jamo.decode(j_ids) == SENTENCE and char.decode(c_ids) == SENTENCE
    assert len(j_ids) > len(c_ids)
    assert len(set(j_ids)) < len(set(c_ids))


def test_other_characters_pass_through_like_char():
    text = "Mixed 한국어 and English, 😀, and literal jamo \u1100\u1161 stay as they are."
    tok = train("jamo", [text])
    assert tok.decode(tok.encode(text)) == text
    unseen = tok.encode("Q")
    assert tok.decode(unseen) == "\ufffd"


def test_bare_jamo_tokens_decode_to_jamo():
    tok = train("jamo", [""])
    initial, medial, final = tok.encode("각")
    assert tok.decode([medial]) == "\u1161"
    assert tok.decode([initial, initial, medial]) == "\u1100가"
    assert tok.decode([initial, medial, final, final]) == "각\u11a8"
    assert tok.decode([initial, EOS_ID, medial]) == "\u1100\u1161"


def test_stream_holdback_is_one_character():
    assert JamoTokenizer.stream_holdback == 1


def test_encode_stream_equals_per_document_encoding():
    tok = train("jamo", [SENTENCE + " abc 😀"])
    docs = [SENTENCE, "", "abc", "각 😀", "a\0b"]
    expected = [i for d in docs for i in tok.encode(d) + [EOS_ID]]
    assert tok.encode_stream(docs, EOS_ID, np.uint16).tolist() == expected
    assert tok.encode_stream(docs[:4], EOS_ID, np.int64).tolist() == expected[: -len(tok.encode("a\0b")) - 1]


def test_vocab_size_and_save_load(tmp_path):
    tok = train("jamo", ["aab 가"], vocab_size=FIRST_CHAR + 1)
    assert tok.chars == ["a"]
    with pytest.raises(GenlabError, match="too small"):
        train("jamo", ["aab"], vocab_size=FIRST_CHAR)
    tok.save(tmp_path / "t.json")
    again = load(tmp_path / "t.json")
    assert isinstance(again, JamoTokenizer)
    assert again.encode("a가") == tok.encode("a가") and again.fingerprint() == tok.fingerprint()
