"""The tool turn's grammar: text or calls by tool_choice, every sampled call valid, for every tokenizer kind."""

from __future__ import annotations

import json
import random

import jsonschema
import pytest

from genlab.structured import grammar_constraint
from genlab.structured.tool_turn import call_schema, tool_turn_grammar
from genlab.tokenizers import train
from genlab.tokenizers.base import TEMPLATE_TOKENS
from genlab.tokenizers.word import WordTokenizer
from genlab.tuning.template import ChatTemplate
from genlab.tuning.tools import ToolSpec, ToolUse, parse_call_body

CALC = ToolSpec("calc", "", {"type": "object", "properties": {"e": {"type": "string", "maxLength": 8}},
                             "required": ["e"]})
PICK = ToolSpec("pick", "", {"type": "object", "properties": {"w": {"$ref": "#/$defs/W"}, "n": {
    "type": "integer", "minimum": 1, "maximum": 3}}, "required": ["w", "n"],
    "$defs": {"W": {"enum": ["하나", "two"]}}})
TEXT = ['{"name": "calc", "arguments": {"e": "7*6"}} {"name": "pick", "w": "하나", "two", "n": 123}',
        "0123456789 -.eE+ text answer"]


def template_for(kind: str) -> ChatTemplate:
    if kind == "word":  # every character as a word too, or some JSON is unwritable (see genlab.structured)
        base = WordTokenizer(sorted(set("".join(TEXT)) | {'{"', '": ', '", ', "calc", "pick", "arguments", "name"}))
        return ChatTemplate(base.extended((), TEMPLATE_TOKENS))
    base = train(kind, TEXT, **({"vocab_size": 280} if kind == "bpe" else {}))
    return ChatTemplate(base.extended(base.missing_symbols(TEXT), TEMPLATE_TOKENS))


def sample_turn(template: ChatTemplate, use: ToolUse, rng: random.Random, limit: int = 300) -> list[int]:
    """A random walk through the grammar (uniform over allowed tokens) until it ends or stops."""
    constraint = grammar_constraint(template.tokenizer, tool_turn_grammar(use, tokenizer=template.tokenizer),
                                    [template.end_id])
    ids: list[int] = []
    while len(ids) < limit and not constraint.is_finished():
        allowed = constraint.allowed_mask().nonzero().flatten().tolist()
        if template.end_id in allowed and rng.random() < 0.3:
            break
        token = rng.choice(allowed)
        if token == template.end_id:
            break
        constraint.advance(token)
        ids.append(token)
    return ids


def test_call_schema_keeps_refs_resolvable_and_closes_the_arguments():
    schema = call_schema(PICK)
    assert schema["$defs"] == PICK.schema["$defs"] and "$defs" not in schema["properties"]["arguments"]
    assert schema["properties"]["arguments"]["additionalProperties"] is False
    jsonschema.validate({"name": "pick", "arguments": {"w": "two", "n": 2}}, schema)


@pytest.mark.parametrize("kind", ["char", "word", "jamo", "bpe"])
@pytest.mark.parametrize("choice", ["required", "function"])
def test_forced_calls_always_parse_and_validate(kind, choice):
    template = template_for(kind)
    use = ToolUse((CALC, PICK), choice, "pick" if choice == "function" else None)
    rng = random.Random(f"{kind}-{choice}")
    for _ in range(10):
        ids = sample_turn(template, use, rng)
        assert ids[0] == template.tool_call_id
        content, bodies = template.split_calls(ids)
        assert content == "" and bodies
        if choice == "function":
            assert len(bodies) == 1
        for body in bodies:
            call = parse_call_body(body)
            spec = {"calc": CALC, "pick": PICK}[call.name]
            assert choice == "required" or call.name == "pick"
            jsonschema.validate(json.loads(call.arguments), spec.schema)


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_auto_allows_text_or_a_call_and_none_never_calls(kind):
    template = template_for(kind)
    first = grammar_constraint(template.tokenizer, tool_turn_grammar(ToolUse((CALC,))), [template.end_id])
    mask = first.allowed_mask()
    assert mask[template.tool_call_id] and mask[template.end_id] and mask.sum() > 3
    none = grammar_constraint(template.tokenizer, tool_turn_grammar(ToolUse((CALC,), "none")), [template.end_id])
    assert not none.allowed_mask()[template.tool_call_id]
    single = ToolUse((CALC,), "required", parallel=False)
    constraint = grammar_constraint(template.tokenizer, tool_turn_grammar(single), [template.end_id])
    for token in [template.tool_call_id, *template.tokenizer.encode('{"name": "calc", "arguments": {"e": "7*6"}}')]:
        assert constraint.allowed_mask()[token]
        constraint.advance(token)
    assert constraint.is_finished()  # one call only: nothing may follow it


def test_a_response_format_becomes_the_text_branch():
    template = template_for("char")
    grammar = tool_turn_grammar(ToolUse((CALC,)), {"type": "object", "properties": {"n": {"type": "integer"}},
                                                   "required": ["n"]})
    constraint = grammar_constraint(template.tokenizer, grammar, [template.end_id])
    allowed = {template.tokenizer.decode([i]) for i in constraint.allowed_mask().nonzero().flatten().tolist()
               if i != template.tool_call_id}
    assert allowed == {"{"} and constraint.allowed_mask()[template.tool_call_id]


def test_a_jamo_run_writes_hangul_enum_values_of_a_tool():
    template = template_for("jamo")
    use = ToolUse((PICK,), "function", "pick")
    constraint = grammar_constraint(template.tokenizer, tool_turn_grammar(use, tokenizer=template.tokenizer),
                                    [template.end_id])
    call = '{"name": "pick", "arguments": {"w": "하나", "n": 2}}'
    for token in [template.tool_call_id, *template.tokenizer.encode(call)]:
        assert constraint.allowed_mask()[token], template.tokenizer.decode([token])
        constraint.advance(token)
    assert constraint.is_finished() and template.split_calls(template.tokenizer.encode(call))[0] == call
