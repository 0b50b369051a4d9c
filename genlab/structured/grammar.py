"""Grammars a constraint can follow: a JSON Schema, "any JSON object", or a Lark grammar.

A :class:`Grammar` is independent of any tokenizer; :meth:`Grammar.compile` turns it into llguidance's
grammar text for one vocabulary (the jamo tokenizer needs the schema's string literals decomposed).

JSON is written in one fixed layout, ``{"a": 1, "b": [true, null]}``: no free whitespace, ``", "``
between items and ``": "`` after keys (the layout of Python's ``json.dumps``). Free whitespace would let a
model pad its answer with blanks until ``max_tokens`` runs out; a fixed layout keeps every token on the
way to a complete value.

Every grammar is compiled with llguidance's ``no_forcing``: where the grammar forces text (a key, a
``true``), llguidance would otherwise allow only the tokenizer's own spelling of it, which assumes a
tokenizer that can spell any text; genlab's char and word vocabularies cannot always, and the jamo
tokenizer spells syllables differently from the grammar. Without forcing, the mask holds every token
that keeps the text inside the grammar (``{"`` as well as ``{`` at the start), so the model chooses.

A Lark grammar (llguidance's dialect) can mix text and JSON: ``%json {schema}`` embeds a schema and
``<|name|>`` names a special token, e.g. ``start: /[^<]*/ | <|tool|> %json {...}``; :func:`lark_json`
writes that ``%json`` part with the same layout as the JSON grammars.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from genlab.structured.schema import UnsupportedSchemaError, check_schema

if TYPE_CHECKING:
    from genlab.structured.vocabulary import Vocabulary

#: llguidance's JSON options for the fixed layout described above
JSON_LAYOUT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
#: the first line of every compiled grammar (see the module's docstring)
NO_FORCING = '%llguidance {"no_forcing": true}\n'


@dataclass(frozen=True)
class Grammar:
    """What a constrained output must match. Make one with :func:`json_schema_grammar`,
    :func:`json_object_grammar` or :func:`lark_grammar`."""

    kind: str  # "json_schema" or "lark"
    source: str  # the schema as JSON text, or the Lark grammar text
    name: str = ""  # for messages (e.g. the response_format's schema name)

    def compile(self, vocab: Vocabulary) -> str:
        """llguidance's grammar text for this grammar written with ``vocab``'s tokens."""
        from llguidance import LLMatcher

        if self.kind == "lark":
            return LLMatcher.grammar_from_lark(NO_FORCING + self.source)
        schema = json.loads(self.source)
        if vocab.respells:
            schema = _respelled(schema, vocab)
        return LLMatcher.grammar_from_lark(NO_FORCING + "start: " + _json_rule(schema))


def json_schema_grammar(schema: dict[str, Any], name: str = "") -> Grammar:
    """The grammar of JSON documents valid under ``schema`` (checked first: see :mod:`genlab.structured.schema`)."""
    check_schema(schema)
    return Grammar("json_schema", json.dumps(schema, ensure_ascii=False), name)


def json_object_grammar() -> Grammar:
    """Any JSON object (OpenAI's ``response_format: {"type": "json_object"}``)."""
    return Grammar("json_schema", '{"type": "object"}', "json_object")


def lark_grammar(text: str, name: str = "") -> Grammar:
    """A Lark grammar in llguidance's dialect; errors in it surface when a constraint is made from it."""
    return Grammar("lark", text, name)


def lark_json(schema: dict[str, Any]) -> str:
    """``%json {…}``: ``schema`` as a rule body inside a Lark grammar, in the same fixed JSON layout."""
    check_schema(schema)
    return _json_rule(schema)


def _json_rule(schema: dict[str, Any]) -> str:
    return "%json " + json.dumps({**schema, "x-guidance": JSON_LAYOUT}, ensure_ascii=False)


def _respelled(schema: Any, vocab: Vocabulary) -> Any:
    """``schema`` with the text the model must write (keys, ``enum``/``const`` strings) as ``vocab`` spells it."""
    if isinstance(schema, list):
        return [_respelled(s, vocab) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs", "definitions"):
            names = (lambda k: vocab.spell(k)) if key == "properties" else (lambda k: k)
            out[key] = {names(k): _respelled(v, vocab) for k, v in value.items()}
        elif key == "required":
            out[key] = [vocab.spell(k) for k in value]
        elif key in ("enum", "const"):
            out[key] = _spelled_value(value, vocab)
        elif key == "minLength" and value > 1:
            raise UnsupportedSchemaError("minLength cannot be enforced with the jamo tokenizer (the grammar counts "
                                         "jamo, the text counts syllables); leave it out", "minLength")
        elif key in ("items", "additionalProperties", "anyOf"):
            out[key] = _respelled(value, vocab)
        else:
            out[key] = value
    return out


def _spelled_value(value: Any, vocab: Vocabulary) -> Any:
    if isinstance(value, str):
        return vocab.spell(value)
    if isinstance(value, list):
        return [_spelled_value(v, vocab) for v in value]
    if isinstance(value, dict):
        return {vocab.spell(k): _spelled_value(v, vocab) for k, v in value.items()}
    return value
