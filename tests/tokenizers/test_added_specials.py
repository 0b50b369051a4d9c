"""Added special tokens (the chat template's) and grown vocabularies, for every tokenizer kind."""

from __future__ import annotations

import pytest

from genlab.errors import GenlabError
from genlab.tokenizers import from_dict, train
from genlab.tokenizers.base import CHAT_TOKENS

TEXT = ["hello world 안녕하세요 생성형", "abc def"]
KINDS = {"char": {}, "word": {}, "jamo": {}, "bpe": {"vocab_size": 300}}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_extended_keeps_old_ids_and_adds_specials_last(kind):
    base = train(kind, TEXT, **KINDS[kind])
    new_text = "xyz 가나 hello"
    missing = base.missing_symbols([new_text])
    grown = from_dict(base.extended(missing, CHAT_TOKENS).to_dict())  # and it survives a save
    assert grown.token_strings()[: base.vocab_size] == base.token_strings()
    assert len(set(grown.token_strings())) == grown.vocab_size
    ids = [grown.special_id(t) for t in CHAT_TOKENS]
    assert ids == list(range(grown.vocab_size - 4, grown.vocab_size))
    assert grown.decode(grown.encode(new_text) + ids) == new_text  # specials decode to nothing
    assert not set(grown.encode("<|user|>hi<|end|>")) & set(ids)  # text never makes a special token
    assert grown.missing_symbols([new_text]) == []
    if kind == "bpe":
        assert missing == []  # bytes cover everything
    else:
        assert missing and all(grown.encode(m) != [grown.unk_id] for m in missing)
    again = grown.extended(["Q"], CHAT_TOKENS)  # growing twice keeps one copy of each special
    assert again.added_specials == CHAT_TOKENS


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_tokenizer_without_added_specials_keeps_its_file_and_fingerprint(kind):
    tok = train(kind, TEXT, **KINDS[kind])
    assert "added_specials" not in tok.to_dict()
    assert tok.extended((), ()).fingerprint() == tok.fingerprint()
    assert tok.special_id("<eos>") == 3 and tok.special_id("<|user|>") is None


def test_bpe_added_tokens_are_plain_hugging_face_added_tokens():
    from tokenizers import Tokenizer as HF

    grown = train("bpe", TEXT, vocab_size=300).extended((), CHAT_TOKENS)
    import json

    hf = HF.from_str(json.dumps(grown.to_dict()))
    assert [hf.token_to_id(t) for t in CHAT_TOKENS] == [grown.special_id(t) for t in CHAT_TOKENS]


def test_damaged_added_specials_are_refused():
    data = train("char", TEXT).to_dict()
    data["added_specials"] = ["a"]  # collides with a character
    with pytest.raises(GenlabError, match="added special tokens must be distinct"):
        from_dict(data)
