"""Tool declarations: their one-line signatures, canonical calls, and checked ``tools`` lists."""

from __future__ import annotations

import pytest

from genlab.errors import GenlabError
from genlab.tuning.tools import (
    ToolCall,
    ToolSpec,
    canonical_arguments,
    describe_tools,
    parse_call_body,
    parse_tools,
    reply_text,
    signature,
)

SEARCH = ToolSpec("search", "Find pages.", {
    "type": "object", "required": ["q"],
    "properties": {"q": {"type": "string"}, "n": {"type": "integer"}, "lang": {"enum": ["ko", "en"]},
                   "tags": {"type": "array", "items": {"type": "string"}},
                   "at": {"type": "object", "properties": {"x": {"type": ["number", "null"]}}, "required": ["x"]}}})


def test_signatures_are_compact_and_mark_optional_fields():
    assert signature(SEARCH) == ('search(q: string, n?: integer, lang?: "ko"|"en", tags?: string[], '
                                 'at?: {x: number|null}): Find pages.')
    assert describe_tools([ToolSpec("now")]) == "Tools:\nnow()"


def test_calls_are_canonical_json_text():
    assert canonical_arguments('{ "b":1,"a" : "서울" }') == '{"b": 1, "a": "서울"}'
    call = parse_call_body('{"name":"search","arguments":{"q":"x"}}')
    assert call == ToolCall("search", '{"q": "x"}') and call.body() == '{"name": "search", "arguments": {"q": "x"}}'
    assert reply_text("", ['{"name":"search", "arguments": {"q": "x"}}', "{broken"]) == \
        '[tool call] {"name": "search", "arguments": {"q": "x"}}\n[tool call] {broken'
    for bad, message in (('{"name": "f"}', "must be"), ("[1]", "must be"), ("{", "not valid JSON")):
        with pytest.raises(GenlabError, match=message):
            parse_call_body(bad)
    with pytest.raises(GenlabError, match="must be a JSON object, got list"):
        canonical_arguments("[1, 2]")


def test_tools_lists_are_checked():
    assert parse_tools([{"type": "function", "function": {"name": "now"}}]) == (ToolSpec("now", "", {
        "type": "object", "properties": {}}),)
    with pytest.raises(GenlabError, match=r"tools\[0\]\.function\.description must be a string"):
        parse_tools([{"type": "function", "function": {"name": "f", "description": 3}}])
