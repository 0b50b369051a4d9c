"""Property tests: decode(encode(x)) == x for every tokenizer kind on arbitrary Unicode it was trained on."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genlab.tokenizers import EOS_ID, SPECIAL_TOKENS, train
from genlab.tokenizers.base import UNK_TEXT
from genlab.tokenizers.bpe import BPETokenizer

HANGUL = st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3)
JAMO = st.characters(min_codepoint=0x1100, max_codepoint=0x11FF)
EMOJI = st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF)
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
WHITESPACE = st.sampled_from([" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\u00a0", "\u3000", "\x0b", "\x0c",
                              "\u2028", "\u0085"])
SPECIAL_LOOKING = st.sampled_from(["<eos>", "<pad>", "<unk>", "<bos>", "<", ">", "eos", "<eos", "<<eos>>"])
PIECES = st.one_of(
    st.text(HANGUL, min_size=1, max_size=8),
    st.text(JAMO, min_size=1, max_size=3),
    st.text(EMOJI, min_size=1, max_size=3),
    st.text(CJK, min_size=1, max_size=3),
    WHITESPACE,
    SPECIAL_LOOKING,
    st.text(alphabet="abcXYZ019.,'!-_", min_size=1, max_size=10),
    st.text(min_size=1, max_size=6),  # anything at all (no surrogates)
)
TEXTS = st.lists(PIECES, max_size=25).map("".join)
FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BPE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check_round_trip(kind: str, text: str, **options) -> None:
    tok = train(kind, [text], **options)
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert all(i >= len(SPECIAL_TOKENS) for i in ids)  # known text: no <unk>, and text never makes specials
    docs = [text, "", text]
    expected = [i for d in docs for i in tok.encode(d) + [EOS_ID]]
    assert tok.encode_stream(docs, EOS_ID, np.uint32).tolist() == expected


@FAST
@given(TEXTS)
def test_char_round_trip(text):
    _check_round_trip("char", text)


@FAST
@given(TEXTS)
def test_word_round_trip(text):
    _check_round_trip("word", text)


@FAST
@given(TEXTS)
def test_jamo_round_trip(text):
    _check_round_trip("jamo", text)


@BPE
@given(TEXTS)
def test_bpe_round_trip(text):
    _check_round_trip("bpe", text, vocab_size=300, min_frequency=1)


@BPE
@given(train_text=TEXTS, text=TEXTS)
def test_bpe_engines_agree_and_unseen_text_round_trips(train_text, text):
    tok = train("bpe", [train_text, train_text], vocab_size=320, min_frequency=1)
    fast, exact = BPETokenizer(tok.hf_json, engine="tiktoken"), BPETokenizer(tok.hf_json, engine="hf")
    assert fast.encode(text) == exact.encode(text)
    assert fast.decode(fast.encode(text)) == text  # byte fallback: nothing is ever unknown


@FAST
@given(train_text=TEXTS, text=TEXTS)
def test_char_unknowns_become_replacement_characters(train_text, text):
    tok = train("char", [train_text])
    known = set(train_text)
    assert tok.decode(tok.encode(text)) == "".join(c if c in known else UNK_TEXT for c in text)
