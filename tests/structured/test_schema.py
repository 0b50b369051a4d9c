"""The supported JSON Schema subset: what is accepted, what is refused by name, and round trips."""

from __future__ import annotations

import json

import jsonschema
import pytest

from genlab.structured import (
    ConstraintError,
    UnsupportedSchemaError,
    check_schema,
    json_schema_constraint,
    json_schema_grammar,
)
from genlab.tokenizers import train

PERSON = {
    "title": "Person", "description": "what Pydantic writes for a model with a nested one",
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "Name"},
        "age": {"type": "integer", "minimum": 0},
        "score": {"type": "number"},
        "alive": {"type": "boolean"},
        "nick": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "pet": {"$ref": "#/$defs/Pet"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        "mood": {"enum": ["happy", "sad", 3, None]},
        "kind": {"const": "person"},
        "nothing": {"type": "null"},
        "either": {"type": ["integer", "string"]},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
    "$defs": {"Pet": {"type": "object", "properties": {"legs": {"type": "integer"}}, "required": ["legs"]}},
}


def test_the_subset_pydantic_and_openai_write_is_accepted() -> None:
    check_schema(PERSON)
    check_schema({"type": "object"})


@pytest.mark.parametrize(("schema", "keyword"), [
    ({"type": "string", "pattern": "^a+$"}, "pattern"),
    ({"type": "string", "format": "email"}, "format"),
    ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, "oneOf"),
    ({"allOf": [{"type": "string"}]}, "allOf"),
    ({"type": "object", "properties": {"a": {"type": "number", "multipleOf": 3}}}, "multipleOf"),
    ({"type": "object", "patternProperties": {"^x": {"type": "string"}}}, "patternProperties"),
    ({"type": "array", "items": {"not": {"type": "null"}}}, "not"),
    ({"$defs": {"A": {"type": "string", "if": {"type": "string"}}}, "$ref": "#/$defs/A"}, "if"),
])
def test_unsupported_keywords_are_named(schema: dict, keyword: str) -> None:
    with pytest.raises(UnsupportedSchemaError, match=f"'{keyword}'") as err:
        check_schema(schema)
    assert err.value.keyword == keyword


@pytest.mark.parametrize("schema", [
    {"type": "strnig"},
    {"type": "object", "required": "name"},
    {"$ref": "https://example.com/schema.json"},
    {"$ref": "#/$defs/Missing"},
    ["not", "an", "object"],
])
def test_invalid_schemas_are_refused(schema) -> None:
    with pytest.raises(UnsupportedSchemaError):
        check_schema(schema)


def test_schema_round_trip_valid_documents_are_accepted_token_by_token() -> None:
    """Documents that validate under PERSON (in the fixed layout) are every one inside the grammar."""
    docs = [
        {"name": "Ann", "age": 31},
        {"name": "Bo", "age": 0, "score": -1.5e3, "alive": False, "nick": None, "pet": {"legs": 4},
         "tags": ["a", "b"], "mood": 3, "kind": "person", "nothing": None, "either": "x"},
        {"name": "\"q\"\\", "age": 7, "nick": "N", "mood": None, "either": 12},
    ]
    tok = train("bpe", [json.dumps(d) for d in docs] * 5, vocab_size=320, min_frequency=2)
    for doc in docs:
        jsonschema.validate(doc, PERSON)
        c = json_schema_constraint(tok, PERSON)
        for t in tok.encode(json.dumps(doc, ensure_ascii=False)):
            c.advance(t)
        assert c.is_finished(), doc


def test_schema_round_trip_invalid_documents_are_refused_at_the_first_wrong_token() -> None:
    tok = train("char", [json.dumps(PERSON), "0123456789 xyz"])
    for doc in ['{"age": 3}', '{"name": "a", "age": -1}', '{"name": "a", "age": 1, "mood": "angry"}',
                '{"name": "a", "age": 1, "extra": 1}', '{"name": 3}', '{"name": "a", "age": 1.5}']:
        c = json_schema_constraint(tok, PERSON)
        with pytest.raises(ConstraintError, match="does not follow"):
            for t in tok.encode(doc):
                c.advance(t)
            c.allowed_mask()


def test_the_grammar_keeps_the_schema_and_its_name() -> None:
    grammar = json_schema_grammar(PERSON, "person")
    assert json.loads(grammar.source) == PERSON and grammar.name == "person" and grammar.kind == "json_schema"


def test_a_schema_nested_too_deeply_is_refused_before_anything_recurses_over_it() -> None:
    """300 levels once exhausted Python's stack inside jsonschema: a RecursionError, HTTP 500 in the server."""
    deep: dict = {"type": "integer"}
    for _ in range(300):
        deep = {"type": "array", "items": deep}
    with pytest.raises(UnsupportedSchemaError, match="more than 64 levels deep"):
        check_schema(deep)
    fine: dict = {"type": "integer"}
    for _ in range(30):
        fine = {"type": "array", "items": fine}
    check_schema(fine)
