"""Reading a generated turn back: content, then tool calls, streamed pieces adding up to the whole call."""

from __future__ import annotations

import json

import pytest

from genlab.generate import Delta, StreamDecoder, TokenInfo
from genlab.serve.tool_reply import TurnReader
from genlab.tokenizers import train
from genlab.tokenizers.base import TEMPLATE_TOKENS
from genlab.tuning.template import ChatTemplate
from genlab.tuning.tools import ToolSpec, ToolUse

LOOKUP = ToolSpec("lookup", "", {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})
USE = ToolUse((LOOKUP,))
TEXT = '확인해 볼게요 {"name": "lookup", "arguments": {"q": "한국어 문장"}} {"q": "서울"}'


def template_for(kind: str) -> ChatTemplate:
    base = train(kind, [TEXT], **({"vocab_size": 270} if kind == "bpe" else {}))
    return ChatTemplate(base.extended(base.missing_symbols([TEXT]), TEMPLATE_TOKENS))


def events(template: ChatTemplate, ids: list[int], finish: str = "stop"):
    """What the sampling loop yields for ``ids`` (ending with the end of turn unless cut by max_tokens)."""
    tok = template.tokenizer
    dec = StreamDecoder(tok)
    for k, tid in enumerate(ids):
        info = TokenInfo(tid, "", -0.1)
        if tid == template.end_id:
            yield Delta(0, dec.flush(), info, finish_reason="stop")
            return
        text = dec.push(tid)
        if k == len(ids) - 1:
            yield Delta(0, text + dec.flush(), info, finish_reason=finish)
            return
        yield Delta(0, text, info)


def read(template: ChatTemplate, ids: list[int], finish: str = "stop"):
    reader = TurnReader(template.tokenizer, template.tool_call_id, frozenset(template.stop_ids(tools=True)), USE)
    deltas = [d for ev in events(template, ids, finish) for d in reader.feed(ev)]
    return reader, deltas


def call_ids(template: ChatTemplate, *bodies: str, content: str = "") -> list[int]:
    tok = template.tokenizer
    ids = tok.encode(content)
    for body in bodies:
        ids += [template.tool_call_id, *tok.encode(body)]
    return ids + [template.end_id]


@pytest.mark.parametrize("kind", ["char", "jamo", "bpe"])
def test_streamed_pieces_add_up_to_the_calls_and_content(kind):
    template = template_for(kind)
    bodies = ('{"name": "lookup", "arguments": {"q": "한국어 문장"}}', '{"name": "lookup", "arguments": {"q": "서울"}}')
    reader, deltas = read(template, call_ids(template, *bodies, content="확인해 볼게요 "))
    message, reason = reader.message()
    assert reason == "tool_calls" and message["content"] == "확인해 볼게요"
    arguments = [json.loads(c["function"]["arguments"]) for c in message["tool_calls"]]
    assert arguments == [{"q": "한국어 문장"}, {"q": "서울"}]
    content = "".join(d.get("content", "") for d in deltas)
    streamed: dict[int, dict] = {}
    for d in deltas:
        for piece in d.get("tool_calls", ()):
            call = streamed.setdefault(piece["index"], {"id": piece.get("id"), "name": "", "arguments": ""})
            call["name"] += piece["function"].get("name", "")
            call["arguments"] += piece["function"].get("arguments", "")
    assert content.strip() == "확인해 볼게요"
    assert [(c["id"], c["name"], c["arguments"]) for c in streamed.values()] == \
        [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message["tool_calls"]]


def test_a_plain_answer_has_no_tool_calls_and_a_call_cut_by_max_tokens_says_length():
    template = template_for("char")
    reader, deltas = read(template, template.tokenizer.encode(" 서울") + [template.end_id])
    assert reader.message() == ({"role": "assistant", "content": "서울", "refusal": None}, "stop")
    assert "".join(d["content"] for d in deltas) == "서울"
    cut = call_ids(template, '{"name": "lookup", "arguments": {"q": "서')[:-1]
    message, reason = read(template, cut, finish="length")[0].message()
    assert reason == "length" and message["tool_calls"][0]["function"] == {"name": "lookup", "arguments": '{"q": "서'}


def test_a_turn_cut_after_a_finished_call_keeps_that_call_whole_and_no_nameless_one():
    """Cut by max_tokens right after a second marker: the first call once came back with the wrapper's brace
    in its arguments (not JSON) and the second as a call with an empty name."""
    template = template_for("char")
    finished = '{"name": "lookup", "arguments": {"q": "서울"}}'
    cut = call_ids(template, finished)[:-1] + [template.tool_call_id]
    message, reason = read(template, cut, finish="length")[0].message()
    assert reason == "length" and len(message["tool_calls"]) == 1
    assert message["tool_calls"][0]["function"] == {"name": "lookup", "arguments": '{"q": "서울"}'}
    from genlab.serve.responses_output import output_items

    items = output_items(message, reason)
    assert [(i["type"], i["status"]) for i in items] == [("function_call", "completed")]
    partial = call_ids(template, '{"name": "lookup", "arguments": {"q": "서')[:-1]
    items = output_items(read(template, partial, finish="length")[0].message()[0], "length")
    assert [(i["type"], i["status"]) for i in items] == [("function_call", "incomplete")]
    nameless = read(template, call_ids(template, '{"na')[:-1], finish="length")[0].message()
    assert "tool_calls" not in nameless[0] and nameless[1] == "length"


def test_a_call_that_does_not_validate_is_returned_as_text():
    """Only possible without constrained decoding; the server then never claims a call that is not one."""
    template = template_for("char")
    reader, _ = read(template, call_ids(template, '{"name": "lookup", "arguments": {"x": "서울"}}'))
    message, reason = reader.message()
    assert reason == "stop" and "tool_calls" not in message and message["content"].startswith('{"name": "lookup"')
