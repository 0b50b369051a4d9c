"""Tool calls through ``genlab serve`` with the official ``openai`` client: calls, results, streaming, errors."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import openai
import pytest

from tests.conftest import CALC

#: a second tool, spelled with the characters the char run knows (its vocabulary is its corpus's)
GREET = {"type": "function", "function": {"name": "greet", "description": "Greet someone.", "parameters": {
    "type": "object", "properties": {"who": {"type": "string", "enum": ["cat", "world"]},
                                     "n": {"type": "integer", "minimum": 1, "maximum": 7}},
    "required": ["who", "n"]}}}
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in (CALC, GREET)}


@pytest.fixture(scope="module", params=["batched", "one at a time"])
def tool_client(request, tool_run: Path, start_server, tmp_path_factory: pytest.TempPathFactory):
    flags = ("--max-batch", "1") if request.param == "one at a time" else ()
    with start_server([tool_run], tmp_path_factory.mktemp("tool-logs"), *flags) as live:
        yield openai.OpenAI(base_url=live.api, api_key="anything", max_retries=0, timeout=60), tool_run.name


def _valid(call) -> dict:
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, SCHEMAS[call.function.name])
    return arguments


def test_the_model_calls_the_tool_reads_its_result_and_answers(tool_client):
    client, model = tool_client
    ask = [{"role": "user", "content": "7*6?"}]
    out = client.chat.completions.create(model=model, messages=ask, tools=[CALC], temperature=0)
    (choice,) = out.choices
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function" and call.function.name == "calc"
    assert _valid(call) == {"e": "7*6"}
    follow = [*ask, choice.message, {"role": "tool", "tool_call_id": call.id, "content": "42"}]
    out = client.chat.completions.create(model=model, messages=follow, tools=[CALC], temperature=0)
    assert out.choices[0].message.content == "42" and out.choices[0].finish_reason == "stop"
    assert not out.choices[0].message.tool_calls
    # a question that needs no tool is answered in text, though the tool is offered
    out = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "ping"}], tools=[CALC],
                                         temperature=0)
    assert out.choices[0].message.content == "pong" and not out.choices[0].message.tool_calls


def test_required_and_named_tool_choice_force_a_valid_call_at_any_temperature(tool_client):
    client, model = tool_client
    ping = [{"role": "user", "content": "ping"}]
    for tool_choice, names in (("required", {"calc", "greet"}),
                               ({"type": "function", "function": {"name": "greet"}}, {"greet"})):
        out = client.chat.completions.create(model=model, messages=ping, tools=[CALC, GREET], tool_choice=tool_choice,
                                             temperature=1.5, seed=5, n=4, max_tokens=200)
        for choice in out.choices:
            assert choice.finish_reason == "tool_calls", choice
            assert choice.message.tool_calls and {c.function.name for c in choice.message.tool_calls} <= names
            for call in choice.message.tool_calls:
                _valid(call)
    # "none": the tools are shown but the model cannot call them
    out = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "7*6?"}], tools=[CALC],
                                         tool_choice="none", temperature=0, max_tokens=20)
    assert not out.choices[0].message.tool_calls and out.choices[0].finish_reason in ("stop", "length")


def test_streamed_tool_call_deltas_add_up_to_the_call(tool_client):
    client, model = tool_client
    kwargs = {"model": model, "messages": [{"role": "user", "content": "12*3?"}], "tools": [CALC, GREET],
              "tool_choice": "required", "temperature": 0}
    whole = client.chat.completions.create(**kwargs).choices[0]
    calls: dict[int, dict] = {}
    reasons = []
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        for c in chunk.choices:
            reasons.append(c.finish_reason)
            assert not c.delta.content
            for piece in c.delta.tool_calls or ():
                call = calls.setdefault(piece.index, {"id": piece.id, "name": "", "arguments": ""})
                call["name"] += piece.function.name or ""
                call["arguments"] += piece.function.arguments or ""
    assert reasons[-1] == "tool_calls" == whole.finish_reason
    assert [(c["name"], json.loads(c["arguments"])) for c in calls.values()] == \
        [(c.function.name, json.loads(c.function.arguments)) for c in whole.message.tool_calls]
    assert all(c["id"].startswith("call_") for c in calls.values())


BAD = [
    ({"tool_choice": "required"}, "tool_choice", "needs 'tools'"),
    ({"tools": [CALC], "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice",
     "'nope', which is not in 'tools'"),
    ({"tools": [CALC], "tool_choice": "sometimes"}, "tool_choice", "must be one of auto, none, required"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"type": "string", "pattern": "a+"}}}}}]}, "tools", "pattern"),
    ({"tools": [{"type": "retrieval"}]}, "tools", "genlab models call functions only"),
    ({"messages": [{"role": "tool", "content": "42"}]}, "messages", "needs 'tool_call_id'"),
]


@pytest.mark.parametrize("extra, param, message", BAD)
def test_bad_tool_requests_are_400s_naming_the_field(tool_client, extra, param, message):
    client, model = tool_client
    body = {"messages": [{"role": "user", "content": "ping"}], **extra}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=model, **body)
    error = caught.value.body
    assert message in error["message"] and error["param"] == param
