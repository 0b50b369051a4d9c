"""The chat template: rendering, the loss mask it returns with the ids, and parsing back."""

from __future__ import annotations

import pytest

from genlab.errors import GenlabError
from genlab.tokenizers import train
from genlab.tokenizers.base import CHAT_TOKENS, TEMPLATE_TOKENS
from genlab.tuning.template import ChatTemplate, Message, normalise
from genlab.tuning.tools import ToolCall, ToolSpec, describe_tools

CONVERSATION = [
    Message("system", "You answer briefly."),
    Message("user", "2026을 한국어로 읽어 줘"),
    Message("assistant", "이천이십육"),
    Message("user", "and <|end|> 2027?"),
    Message("assistant", "이천이십칠", weight=0),
]
TEXT = " ".join(m.content for m in CONVERSATION)


def chat_tokenizer(kind: str):
    base = train(kind, [TEXT], **({"vocab_size": 300} if kind == "bpe" else {}))
    return base.extended(base.missing_symbols([m.content for m in CONVERSATION]), CHAT_TOKENS)


@pytest.mark.parametrize("kind", ["char", "word", "jamo", "bpe"])
def test_render_then_parse_gives_the_conversation_back(kind):
    template = ChatTemplate(chat_tokenizer(kind))
    rendered = template.render(CONVERSATION)
    assert len(rendered.ids) == len(rendered.mask)
    parsed = template.parse(rendered.ids)
    assert [(m.role, m.content) for m in parsed] == [(m.role, m.content) for m in CONVERSATION]
    # no template token leaks into decoded text, and the user's literal "<|end|>" stays text
    assert template.tokenizer.decode(rendered.ids) == "".join(m.content for m in CONVERSATION)
    assert rendered.ids.count(template.end_id) == len(CONVERSATION)


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_the_mask_covers_assistant_content_and_its_end_of_turn_only(kind):
    tok = chat_tokenizer(kind)
    template = ChatTemplate(tok)
    rendered = template.render(CONVERSATION)
    learned = [i for i, m in zip(rendered.ids, rendered.mask) if m]
    assert learned == tok.encode("이천이십육") + [template.end_id]  # the weight-0 answer is context only
    prompt = template.render(CONVERSATION[:2], add_generation_prompt=True)
    assert prompt.ids[-1] == template.role_ids["assistant"] and not any(prompt.mask)


def test_a_tokenizer_without_chat_tokens_is_refused():
    with pytest.raises(GenlabError, match="no chat tokens; fine-tune it first"):
        ChatTemplate(train("char", ["abc"]))


def test_openai_messages_are_normalised():
    messages = normalise([{"role": "developer", "content": "hi"},
                          {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
    assert messages == [Message("system", "hi"), Message("user", "ab")]
    with pytest.raises(GenlabError, match="unknown chat role 'function'"):
        normalise([{"role": "function", "content": "x"}])
    with pytest.raises(GenlabError, match="needs 'tool_call_id'"):
        normalise([{"role": "tool", "content": "x"}])


def test_parse_rejects_malformed_ids():
    template = ChatTemplate(chat_tokenizer("char"))
    with pytest.raises(GenlabError, match="outside a turn"):
        template.parse([template.end_id])
    user = template.role_ids["user"]
    with pytest.raises(GenlabError, match="starts inside"):
        template.parse([user, user])


CALCULATOR = ToolSpec("calculator", "Evaluate arithmetic.",
                      {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]})
TOOL_CONVERSATION = [
    Message("user", "12*7은?"),
    Message("assistant", "", tool_calls=(ToolCall("calculator", '{"expression": "12*7"}'),)),
    Message("tool", "84"),
    Message("assistant", "84"),
]


def tool_tokenizer(kind: str):
    texts = [m.content for m in TOOL_CONVERSATION] + [c.body() for m in TOOL_CONVERSATION for c in m.tool_calls] \
        + [describe_tools([CALCULATOR])]
    base = train(kind, [" ".join(texts)], **({"vocab_size": 300} if kind == "bpe" else {}))
    return base.extended(base.missing_symbols(texts), TEMPLATE_TOKENS)


@pytest.mark.parametrize("kind", ["char", "word", "jamo", "bpe"])
def test_tool_calls_and_results_render_and_parse_back(kind):
    template = ChatTemplate(tool_tokenizer(kind))
    rendered = template.render(TOOL_CONVERSATION, tools=[CALCULATOR])
    parsed = template.parse(rendered.ids)
    tools_turn = Message("system", "Tools:\ncalculator(expression: string): Evaluate arithmetic.")
    assert parsed == [tools_turn, *TOOL_CONVERSATION]
    # the markers are reserved tokens: they decode to nothing, and a call is its marker then its JSON
    marker = template.tool_call_id
    assert rendered.ids.count(marker) == 1
    after = rendered.ids[rendered.ids.index(marker) + 1:]
    assert template.tokenizer.decode(after[:after.index(template.end_id)]) == \
        '{"name": "calculator", "arguments": {"expression": "12*7"}}'
    assert "<|" not in template.tokenizer.decode(rendered.ids)


def test_the_mask_covers_the_tool_call_but_not_the_tool_result():
    tok = tool_tokenizer("char")
    template = ChatTemplate(tok)
    rendered = template.render(TOOL_CONVERSATION, tools=[CALCULATOR])
    learned = [i for i, m in zip(rendered.ids, rendered.mask) if m]
    call = [template.tool_call_id, *tok.encode('{"name": "calculator", "arguments": {"expression": "12*7"}}')]
    assert learned == call + [template.end_id] + tok.encode("84") + [template.end_id]
    assert template.tool_call_id not in template.stop_ids(tools=True)
    assert template.role_ids["tool"] in template.stop_ids(tools=True)
    assert template.tool_call_id in template.stop_ids()  # a turn offered no tools ends there, as before tools


def test_a_run_without_tool_tokens_chats_but_refuses_tools():
    base = train("char", [" ".join(m.content for m in CONVERSATION)])
    template = ChatTemplate(base.extended(base.missing_symbols([m.content for m in CONVERSATION]), CHAT_TOKENS))
    assert not template.supports_tools and template.tool_call_id is None
    assert template.parse(template.render(CONVERSATION).ids)[1].content == CONVERSATION[1].content
    with pytest.raises(GenlabError, match="without the chat template's tool tokens"):
        template.render(CONVERSATION[:2], tools=[CALCULATOR])
    with pytest.raises(GenlabError, match="without the chat template's tool tokens"):
        template.render(TOOL_CONVERSATION)


def test_openai_tool_messages_are_normalised():
    messages = normalise([
        {"role": "user", "content": "12*7?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "calculator",
                                                              "arguments": '{ "expression" : "12*7" }'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "84"},
    ])
    assert messages[1] == Message("assistant", "", tool_calls=(ToolCall("calculator", '{"expression": "12*7"}',
                                                                        "call_1"),))
    assert messages[2] == Message("tool", "84", tool_call_id="call_1")
    with pytest.raises(GenlabError, match=r"tool_calls\[0\].function.arguments is not valid JSON"):
        normalise([{"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                                                         "function": {"name": "f", "arguments": "{"}}]}])
    with pytest.raises(GenlabError, match="only assistant messages carry 'tool_calls'"):
        normalise([{"role": "user", "content": "x", "tool_calls": []}])
