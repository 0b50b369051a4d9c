"""Token masks against hand-checked prefixes, for single-character and multi-character vocabularies."""

from __future__ import annotations

import json
import random

import jsonschema
import pytest
import regex

from genlab.structured import (
    ConstraintError,
    grammar_constraint,
    json_object_constraint,
    json_schema_constraint,
    lark_grammar,
    lark_json,
)
from genlab.tokenizers import EOS_ID, train
from genlab.tokenizers.word import WordTokenizer

JSON_TEXT = ['{"a": 1, "b": [true, false, null], "name": "cat"}', "0123456789 -.eE+ xyz", "고양이 안녕"]


def allowed_texts(constraint, tok) -> set[str]:
    return {tok.decode([i]) if i != EOS_ID else "<eos>" for i in constraint.allowed_mask().nonzero().flatten().tolist()}


def feed(constraint, tok, ids: list[int]) -> None:
    for t in ids:
        assert constraint.allowed_mask()[t], f"{tok.decode([t])!r} should be allowed here"
        constraint.advance(t)


@pytest.fixture(scope="module")
def char_tok():
    return train("char", JSON_TEXT)


def test_after_a_key_only_value_starts_are_allowed(char_tok) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    c = json_schema_constraint(char_tok, schema)
    feed(c, char_tok, char_tok.encode('{"a": '))
    assert allowed_texts(c, char_tok) == set("-0123456789")
    c = json_object_constraint(char_tok)
    feed(c, char_tok, char_tok.encode('{"a": '))
    assert allowed_texts(c, char_tok) == set('-0123456789"{[tfn')  # any value may start here


def test_end_token_only_when_the_json_is_complete(char_tok) -> None:
    c = json_object_constraint(char_tok)
    assert allowed_texts(c, char_tok) == {"{"}  # no blank, no end before the object
    feed(c, char_tok, char_tok.encode('{"a": 1'))
    assert not c.is_complete() and "<eos>" not in allowed_texts(c, char_tok)
    assert allowed_texts(c, char_tok) >= {"0", ".", "e", ",", "}"}
    feed(c, char_tok, char_tok.encode("}"))
    assert c.is_complete() and c.is_finished()  # nothing may follow an object's closing brace


def test_a_top_level_number_may_end_or_go_on(char_tok) -> None:
    c = json_schema_constraint(char_tok, {"type": "integer"})
    feed(c, char_tok, char_tok.encode("12"))
    assert c.is_complete() and not c.is_finished()
    assert allowed_texts(c, char_tok) == set("0123456789") | {"<eos>"}


def test_a_chat_end_of_turn_replaces_eos(char_tok) -> None:
    end = 999
    tok = char_tok.extended(specials=["<|end|>"])
    end = tok.special_id("<|end|>")
    c = json_schema_constraint(tok, {"type": "integer"}, end_ids=[end])
    feed(c, tok, tok.encode("7"))
    mask = c.allowed_mask()
    assert mask[end] and not mask[EOS_ID]


def test_multi_character_tokens_are_allowed_exactly_when_they_fit() -> None:
    tok = WordTokenizer(['{"', "a", '":', '": ', " ", "1", "}", '"', ", ", "b", '"}', "x"])
    ids = {tok.decode([i]): i for i in range(4, tok.vocab_size)}
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}, "required": ["a"],
              "additionalProperties": False}
    c = json_schema_constraint(tok, schema)
    assert allowed_texts(c, tok) == {'{"'}
    feed(c, tok, [ids['{"'], ids["a"]])
    assert allowed_texts(c, tok) == {'"', '":', '": '}  # not '"}' nor ', ': the key needs its value
    feed(c, tok, [ids['": '], ids["1"]])
    assert allowed_texts(c, tok) == {"1", "}", ", "}
    feed(c, tok, [ids[", "], ids['"'], ids["b"], ids['": '], ids['"'], ids["x"]])
    assert '"}' in allowed_texts(c, tok)  # closes the string and the object in one token
    feed(c, tok, [ids['"}']])
    assert c.is_finished()


#: every complete document of NAME_SCHEMA in the fixed layout (a JSON string value, no blanks; llguidance
#: also keeps DEL, U+007F, out of strings, which JSON allows: stricter, never invalid)
NAME_DOCUMENT = r'\{"name": "(?:[^"\\\x00-\x1f\x7f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"\}'
NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
               "additionalProperties": False}


@pytest.mark.parametrize("prefix", ['{"name', '{"name": "ca', '{"name": "cat'])
def test_bpe_masks_match_a_regex_oracle_token_by_token(prefix: str) -> None:
    """A token is allowed exactly when prefix + token can still grow into a valid document."""
    tok = train("bpe", ['{"name": "cat", "age": 3}', '{"name": "dog"}'] * 50, vocab_size=300, min_frequency=2)
    c = json_schema_constraint(tok, NAME_SCHEMA)
    feed(c, tok, tok.encode(prefix))
    mask = c.allowed_mask()
    checked = multi_allowed = multi_refused = 0
    for i in range(4, tok.vocab_size):
        try:
            text = tok.decode_bytes([i]).decode("utf-8")
        except UnicodeDecodeError:
            continue  # part of a character: the oracle reads characters
        expected = regex.fullmatch(NAME_DOCUMENT, prefix + text, partial=True) is not None
        assert bool(mask[i]) == expected, f"{text!r} after {prefix!r}"
        checked += 1
        if len(text) > 1:
            multi_allowed += expected
            multi_refused += not expected
    assert checked > 100 and multi_allowed and multi_refused


def test_jamo_spells_syllables_as_jamo_and_enum_values_decompose() -> None:
    tok = train("jamo", JSON_TEXT)
    c = json_schema_constraint(tok, {"enum": ["고양이", "개"]})
    ids = tok.encode('"고양이"')
    feed(c, tok, ids)
    assert c.is_complete()
    assert json.loads(tok.decode(ids)) == "고양이"


def test_random_walks_inside_the_mask_always_validate() -> None:
    schema = {"type": "object", "additionalProperties": False, "required": ["n", "ok", "kind", "tags", "p", "이름"],
              "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 50}, "ok": {"type": "boolean"},
                             "이름": {"type": "boolean"},
                             "kind": {"enum": ["고양이", "dog"]},
                             "x": {"anyOf": [{"type": "number"}, {"type": "null"}]},
                             "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "maxItems": 2},
                             "p": {"$ref": "#/$defs/P"}},
              "$defs": {"P": {"type": "object", "properties": {"y": {"type": "string", "maxLength": 4}}}}}
    text = JSON_TEXT + ['{"n": 1, "ok": true, "kind": "dog", "tags": [], "p": {"y": "k"}, "이름": false}']
    for kind, options in [("char", {}), ("jamo", {}), ("bpe", {"vocab_size": 300, "min_frequency": 1})]:
        tok = train(kind, text * 3, **options)
        rng = random.Random(7)
        done = 0
        for _ in range(15):
            c = json_schema_constraint(tok, schema)
            ids: list[int] = []
            for _ in range(200):
                t = rng.choice(c.allowed_mask().nonzero().flatten().tolist())
                if t == EOS_ID:
                    break
                c.advance(t)
                ids.append(t)
                if c.is_finished():
                    break
            else:
                continue
            done += 1
            jsonschema.validate(json.loads(tok.decode(ids)), schema)
        assert done >= 5, kind  # the rest ran past 200 tokens (long numbers): cut, never invalid


def test_a_vocabulary_that_cannot_write_json_is_refused() -> None:
    tok = train("char", ["hello world"])
    with pytest.raises(ConstraintError, match="cannot write"):
        json_object_constraint(tok)


def test_a_lark_grammar_mixes_text_and_a_json_call_after_a_special_token(char_tok) -> None:
    tok = char_tok.extended(specials=["<|call|>"])
    call = tok.special_id("<|call|>")
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False}
    grammar = lark_grammar(f"start: TEXT | <|call|> {lark_json(schema)}\nTEXT: /[a-z ]+/")
    c = grammar_constraint(tok, grammar)
    assert c.allowed_mask()[call] and c.allowed_mask()[tok.encode("x")[0]]
    c.advance(call)
    feed(c, tok, tok.encode('{"a": 5}'))
    assert c.is_complete()
    text = grammar_constraint(tok, grammar)
    feed(text, tok, tok.encode("xy"))
    assert text.is_complete() and not text.allowed_mask()[call]


def test_fork_is_independent(char_tok) -> None:
    a = json_object_constraint(char_tok)
    feed(a, char_tok, char_tok.encode("{"))
    b = a.fork()
    feed(b, char_tok, char_tok.encode("}"))
    assert b.is_finished() and not a.is_complete()


def test_a_token_outside_the_mask_is_an_error(char_tok) -> None:
    c = json_object_constraint(char_tok)
    with pytest.raises(ConstraintError, match="does not follow"):
        c.advance(char_tok.encode("x")[0])
