"""Structured outputs: constrained decoding that keeps generated text inside a grammar.

``SamplingConfig.grammar`` (a :class:`Grammar`) makes the one sampling loop (``genlab generate``,
``genlab chat``, the server and its batcher) mask, before every token, the tokens that would leave the
grammar. Grammars: a JSON Schema subset (:mod:`genlab.structured.schema`), any JSON object, or a Lark
grammar mixing text and JSON (for tool calls). The token masks come from llguidance, fed with the
run's own vocabulary (:mod:`genlab.structured.vocabulary`), so every tokenizer kind works.
"""

from genlab.structured.constraint import (
    Constraint,
    ConstraintError,
    grammar_constraint,
    json_object_constraint,
    json_schema_constraint,
)
from genlab.structured.grammar import Grammar, json_object_grammar, json_schema_grammar, lark_grammar, lark_json
from genlab.structured.schema import UnsupportedSchemaError, check_schema
from genlab.structured.vocabulary import Vocabulary, vocabulary

__all__ = [
    "Constraint", "ConstraintError", "Grammar", "UnsupportedSchemaError", "Vocabulary", "check_schema",
    "grammar_constraint", "json_object_constraint", "json_object_grammar", "json_schema_constraint",
    "json_schema_grammar", "lark_grammar", "lark_json", "vocabulary",
]
