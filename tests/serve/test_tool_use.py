"""Checking a request's tools and tool_choice, and refusing tools a run cannot use, before generating."""

from __future__ import annotations

import pytest

from genlab.chat import chat_prompt
from genlab.errors import GenlabError
from genlab.serve.errors import APIError
from genlab.serve.tool_use import tool_use
from genlab.tokenizers import train
from genlab.tokenizers.base import CHAT_TOKENS, TEMPLATE_TOKENS
from genlab.tuning.tools import ToolSpec

F = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
    "x": {"type": "integer"}}}}}
G = {"type": "function", "function": {"name": "g"}}


def test_tool_choice_forms():
    assert tool_use(None) is None and tool_use([], "auto") is None and tool_use(None, "none") is None
    auto = tool_use([F, G])
    assert auto.choice == "auto" and [t.name for t in auto.callable] == ["f", "g"] and auto.parallel
    assert tool_use([F, G], "none").callable == ()
    named = tool_use([F, G], {"type": "function", "function": {"name": "g"}}, parallel_tool_calls=False)
    assert named.must_call and [t.name for t in named.callable] == ["g"] and not named.parallel
    assert named.spec("f") is None and named.spec("g") == ToolSpec("g", "", named.tools[1].parameters)


@pytest.mark.parametrize("tools, choice, param, message", [
    (None, "required", "tool_choice", "needs 'tools'"),
    ([F], "any", "tool_choice", "must be one of auto, none, required"),
    ([F], {"type": "function"}, "tool_choice", 'must be {"type": "function", "function": {"name": "…"}}'),
    ([F], {"type": "function", "function": {"name": "g"}}, "tool_choice", "'g', which is not in 'tools' (f)"),
    ([F, F], None, "tools", "two tools are named 'f'"),
    ({"f": F}, None, "tools", "tools must be a list"),
    ([{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}], None, "tools",
     "must be a JSON Schema of an object"),
    ([{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
        "x": {"type": "string", "format": "email"}}}}}], None, "tools", "format"),
])
def test_bad_tools_are_400s_naming_the_field(tools, choice, param, message):
    with pytest.raises(APIError) as caught:
        tool_use(tools, choice)
    assert caught.value.status == 400 and caught.value.param == param and message in caught.value.message


def test_runs_without_tool_tokens_refuse_tools_but_still_chat():
    chat = {"chat_template": "genlab-chat-v1"}
    messages = [{"role": "user", "content": "hi"}]
    old = train("char", ["hi there"]).extended((), CHAT_TOKENS)  # fine-tuned before the tool tokens existed
    assert chat_prompt(messages, old, chat).tool_call_id is None
    assert chat_prompt(messages, train("char", ["hi"]).extended((), TEMPLATE_TOKENS), chat).tool_call_id is None
    with pytest.raises(GenlabError, match="fine-tuned without the chat template's tool tokens.*fine-tune"):
        chat_prompt(messages, old, chat, tools=[ToolSpec("f")])
    new = train("char", ["hi there f()"]).extended((), TEMPLATE_TOKENS)
    assert chat_prompt(messages, new, chat, tools=[ToolSpec("f")]).tool_call_id == new.special_id("<|tool_call|>")
    with pytest.raises(GenlabError, match="not fine-tuned for chat, so it cannot call tools"):
        chat_prompt(messages, new, {}, tools=[ToolSpec("f")])


def test_a_plain_language_model_refuses_tools_with_a_400(make_client):
    client = make_client()
    body = {"model": "markov-char", "messages": [{"role": "user", "content": "hi"}], "tools": [F]}
    response = client.post("/v1/chat/completions", json=body)
    error = response.json()["error"]
    assert response.status_code == 400 and error["param"] == "tools" and "cannot call tools" in error["message"]
    body = {"model": "markov-char", "messages": [{"role": "user", "content": "hi"}]}
    assert client.post("/v1/chat/completions", json={**body, "max_tokens": 3}).status_code == 200


def test_the_responses_api_flat_function_form_is_read_too():
    flat = {"type": "function", "name": "f", "description": "d", "parameters": F["function"]["parameters"]}
    assert tool_use([flat]).tools == (ToolSpec("f", "d", flat["parameters"]),)
