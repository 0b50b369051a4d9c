"""The grammar of a chat turn that may call tools: text, or tool calls whose arguments match their schemas.

A call is the template's tool-call token, then ``{"name": "<tool>", "arguments": {…}}`` with the
arguments valid under that tool's ``parameters`` (:mod:`genlab.tuning.template`). As a Lark grammar in
llguidance's dialect (``<|tool_call|>`` names the special token)::

    start: TEXT | calls              tool_choice "auto"   (TEXT: any text; a response_format's JSON instead)
    start: TEXT                      "none"               (the token cannot be produced at all)
    start: calls                     "required" / a named function
    calls: call+                     (call alone without parallel_tool_calls, or for a named function)
    call: <|tool_call|> (tool_0 | tool_1 | …)
    tool_0: %json {"type": "object", "properties": {"name": {"const": "calculator"}, "arguments": …}}

So a model — however small — either answers in text or writes calls that parse and validate; the end
of turn is allowed only after a complete call (or any text).
"""

from __future__ import annotations

from typing import Any

from genlab.structured.grammar import Grammar, _respelled, lark_grammar, lark_json
from genlab.structured.vocabulary import vocabulary
from genlab.tokenizers import Tokenizer
from genlab.tokenizers.base import TOOL_TOKENS
from genlab.tuning.tools import ToolSpec, ToolUse

TOOL_CALL = TOOL_TOKENS[0]
#: keywords that hold ``$ref`` targets: moved to the call schema's root so ``#/$defs/…`` still resolves
_DEFINITIONS = ("$defs", "definitions")


def call_schema(tool: ToolSpec) -> dict[str, Any]:
    """The JSON Schema of one call of ``tool``: ``{"name": <its name>, "arguments": <its parameters>}``.

    The arguments object admits no keys beyond its ``properties`` unless the tool says otherwise
    (``additionalProperties``): a model free to invent keys wastes its tokens on them, and what it writes
    still validates under the tool's own schema.
    """
    arguments = {k: v for k, v in tool.schema.items() if k not in _DEFINITIONS}
    arguments.setdefault("type", "object")
    arguments.setdefault("additionalProperties", False)
    schema: dict[str, Any] = {"type": "object",
                              "properties": {"name": {"const": tool.name}, "arguments": arguments},
                              "required": ["name", "arguments"], "additionalProperties": False}
    for key in _DEFINITIONS:
        if key in tool.schema:
            schema[key] = tool.schema[key]
    return schema


def tool_turn_grammar(use: ToolUse, text_schema: dict[str, Any] | None = None,
                      tokenizer: Tokenizer | None = None) -> Grammar:
    """The grammar of one assistant turn under ``use`` (its ``tool_choice``, ``parallel_tool_calls``).

    ``text_schema``: the turn's text must instead be one JSON document valid under it (a
    ``response_format`` together with tools). ``tokenizer``: the run's, so that a jamo run's schemas are
    written as it spells them (decomposed Hangul in keys, ``enum`` and ``const``, as
    :mod:`genlab.structured.grammar` does for a JSON Schema grammar; a Lark grammar is not respelled there).
    """
    def spelled(schema: dict[str, Any]) -> dict[str, Any]:
        if tokenizer is None:
            return schema
        vocab = vocabulary(tokenizer)
        return _respelled(schema, vocab) if vocab.respells else schema

    text = lark_json(spelled(text_schema)) if text_schema is not None else "TEXT"
    tools = use.callable
    rules: list[str] = []
    if not tools:
        rules.append(f"start: {text}")
    else:
        rules.append("start: calls" if use.must_call else f"start: {text} | calls")
        several = use.parallel and use.choice != "function"
        rules.append("calls: call+" if several else "calls: call")
        rules.append(f"call: {TOOL_CALL} (" + " | ".join(f"tool_{k}" for k in range(len(tools))) + ")")
        rules += [f"tool_{k}: {lark_json(spelled(call_schema(t)))}" for k, t in enumerate(tools)]
    if text == "TEXT":
        rules.append("TEXT: /(?s:.*)/")
    name = "tool call" if use.must_call else "tools"
    return lark_grammar("\n".join(rules) + "\n", name)
