"""A Responses request translated into the chat completions request that serves it."""

from __future__ import annotations

from typing import Any

import pytest

from genlab.serve.errors import APIError
from genlab.serve.limits import ServeLimits
from genlab.serve.responses_request import (
    ResponsesRequest,
    chat_request,
    chat_response_format,
    chat_tool_choice,
    chat_tools,
    in_responses_terms,
    input_items,
    input_messages,
)
from genlab.serve.schemas import ChatCompletionRequest, parse_request


def _req(**fields: Any) -> ResponsesRequest:
    return parse_request(ResponsesRequest, {"model": "m", "input": "hi", **fields})


def _param(call) -> str | None:
    with pytest.raises(APIError) as err:
        call()
    assert err.value.status == 400
    return err.value.param


def test_a_string_is_one_user_message() -> None:
    assert input_messages("안녕?") == [{"role": "user", "content": "안녕?"}]


def test_message_items_in_both_forms_become_chat_messages() -> None:
    items = [
        {"role": "developer", "content": "Be brief."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a "},
                                                         {"type": "input_text", "text": "b"}]},
        # earlier output sent back as the client received it (ids, status, annotations and all)
        {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
         "content": [{"type": "output_text", "text": "c", "annotations": []}]},
    ]
    assert input_messages(items) == [{"role": "developer", "content": "Be brief."},
                                     {"role": "user", "content": "a b"},
                                     {"role": "assistant", "content": "c"}]


def test_function_calls_join_the_assistant_turn_and_outputs_become_tool_messages() -> None:
    items = [
        {"role": "user", "content": "2+3? and 4*5?"},
        {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "calc", "arguments": "{\"e\":\"2+3\"}"},
        {"type": "function_call", "call_id": "call_b", "name": "calc", "arguments": "{\"e\":\"4*5\"}"},
        {"type": "function_call_output", "call_id": "call_a", "output": "5"},
        {"type": "function_call_output", "call_id": "call_b", "output": [{"type": "input_text", "text": "20"}]},
    ]
    user, assistant, first, second = input_messages(items)
    assert assistant == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_a", "type": "function", "function": {"name": "calc", "arguments": "{\"e\":\"2+3\"}"}},
        {"id": "call_b", "type": "function", "function": {"name": "calc", "arguments": "{\"e\":\"4*5\"}"}}]}
    assert first == {"role": "tool", "tool_call_id": "call_a", "content": "5"}
    assert second == {"role": "tool", "tool_call_id": "call_b", "content": "20"}


def test_input_items_are_listed_with_ids_and_text_parts() -> None:
    items = [{"role": "user", "content": "2+3?"},
             {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "calc", "arguments": "{}"},
             {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text", "text": "5"}]}]
    message, call, output = input_items(items)
    assert message["content"] == [{"type": "input_text", "text": "2+3?"}] and message["id"].startswith("msg_")
    assert (call["id"], call["call_id"], call["name"]) == ("fc_1", "c1", "calc")
    assert output["output"] == "5" and output["id"].startswith("fco_") and output["call_id"] == "c1"
    (only,) = input_items("hi")
    assert (only["role"], only["content"][0]["text"]) == ("user", "hi")


def test_a_call_after_assistant_text_is_part_of_that_turn() -> None:
    items = [{"role": "assistant", "content": "Let me compute."},
             {"type": "function_call", "call_id": "c1", "name": "calc", "arguments": "{}"}]
    (message,) = input_messages(items)
    assert message["content"] == "Let me compute." and message["tool_calls"][0]["id"] == "c1"


@pytest.mark.parametrize(("items", "param"), [
    ([{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}],
     "input[0].content[0].type"),
    ([{"role": "user", "content": "ok"}, {"role": "tool", "content": "x"}], "input[1].role"),
    ([{"role": "user"}], "input[0].content"),
    ([{"role": "user", "content": [{"type": "input_text"}]}], "input[0].content[0]"),
    ([{"role": "user", "content": 7}], "input[0].content"),
    ([{"type": "item_reference", "id": "msg_1"}], "input[0].type"),
    ([{"type": "function_call", "name": "f", "arguments": "{}"}], "input[0].call_id"),
    ([{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}], "input[0].arguments"),
    ([{"type": "function_call_output", "call_id": "c"}], "input[0].output"),
])
def test_bad_items_are_400_naming_the_place(items: list[dict[str, Any]], param: str) -> None:
    assert _param(lambda: input_messages(items)) == param


def test_text_format_maps_to_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    assert chat_response_format(None) is None
    assert chat_response_format({"type": "text"}) is None
    assert chat_response_format({"type": "json_object"}) == {"type": "json_object"}
    assert chat_response_format({"type": "json_schema", "name": "thing", "schema": schema, "strict": True}) == {
        "type": "json_schema", "json_schema": {"name": "thing", "schema": schema, "strict": True}}
    assert _param(lambda: chat_response_format({"type": "json_schema", "schema": schema})) == "text.format.name"
    assert _param(lambda: chat_response_format({"type": "json_schema", "name": "x"})) == "text.format.schema"
    assert _param(lambda: chat_response_format({"type": "grammar"})) == "text.format.type"


def test_flat_function_tools_and_tool_choice_map_to_the_chat_forms() -> None:
    params = {"type": "object", "properties": {"e": {"type": "string"}}, "required": ["e"]}
    tools = [{"type": "function", "name": "calc", "description": "Evaluates arithmetic.", "parameters": params,
              "strict": True}]
    assert chat_tools(tools) == [{"type": "function", "function": {
        "name": "calc", "description": "Evaluates arithmetic.", "parameters": params, "strict": True}}]
    assert chat_tools([]) is None
    assert _param(lambda: chat_tools([tools[0], {"type": "web_search"}])) == "tools[1].type"
    assert _param(lambda: chat_tools([{"type": "function"}])) == "tools[0].name"
    assert chat_tool_choice("required") == "required"
    assert chat_tool_choice({"type": "function", "name": "calc"}) == {"type": "function",
                                                                      "function": {"name": "calc"}}
    assert _param(lambda: chat_tool_choice({"type": "file_search"})) == "tool_choice"


def test_the_chat_request_carries_instructions_first_and_the_settings() -> None:
    req = _req(instructions="Answer in Korean.", max_output_tokens=9, temperature=0.5, top_p=0.9, stream=True,
               seed=4, include=["message.output_text.logprobs"], top_logprobs=2,
               text={"format": {"type": "json_object"}}, user="u1", metadata={"k": "v"})
    body = chat_request(req, [{"role": "user", "content": "hi"}])
    assert body == {"model": "m", "messages": [{"role": "system", "content": "Answer in Korean."},
                                               {"role": "user", "content": "hi"}],
                    "max_tokens": 9, "temperature": 0.5, "top_p": 0.9, "seed": 4,
                    "response_format": {"type": "json_object"}, "logprobs": True, "top_logprobs": 2,
                    "stream": True, "stream_options": {"include_usage": True}}
    parse_request(ChatCompletionRequest, body)  # a body the chat path accepts as such


@pytest.mark.parametrize(("fields", "param"), [
    ({"conversation": "conv_1"}, "conversation"),
    ({"input": 3}, "input"),
    ({"max_output_tokens": 0}, "max_output_tokens"),
    ({"temperature": 3}, "temperature"),
    ({"text": {"format": {"type": "text"}, "style": "x"}}, "text.style"),
])
def test_fields_outside_the_schema_are_400_naming_them(fields: dict[str, Any], param: str) -> None:
    assert _param(lambda: _req(**fields)) == param


@pytest.mark.parametrize(("fields", "param"), [
    ({"input": ""}, "input"),
    ({"input": []}, "input"),
    ({"max_output_tokens": 5000}, "max_output_tokens"),
    ({"background": True}, "background"),
    ({"reasoning": {"effort": "high"}}, "reasoning.effort"),
    ({"truncation": "auto"}, "truncation"),
    ({"max_tool_calls": 3}, "max_tool_calls"),
    ({"text": {"verbosity": "low"}}, "text.verbosity"),
    ({"include": ["message.output_text.logprobs", "reasoning.encrypted_content"]}, "include[1]"),
    ({"stream_options": {"include_obfuscation": False}}, "stream_options"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
])
def test_arguments_genlab_cannot_honour_are_400_naming_them(fields: dict[str, Any], param: str) -> None:
    req = _req(**fields)
    assert _param(lambda: req.check(ServeLimits())) == param


def test_harmless_arguments_are_accepted() -> None:
    req = _req(store=False, user="u", safety_identifier="s", prompt_cache_key="p", service_tier="auto",
               truncation="disabled", reasoning={"effort": None}, background=False, parallel_tool_calls=True,
               stream=True, stream_options={"include_obfuscation": True}, text={"verbosity": "medium"})
    req.check(ServeLimits())


def test_chat_errors_are_renamed_to_the_responses_field() -> None:
    renamed = in_responses_terms(APIError(400, "only response_format {\"type\": \"text\"} is supported",
                                          param="response_format"))
    assert renamed.param == "text.format" and "text.format" in renamed.message
    assert in_responses_terms(APIError(400, "bad", param="messages[2].content")).param == "input"
    tool = in_responses_terms(APIError(400, "tools[1].function.name must be 1–64 letters", param="tools"))
    assert (tool.param, tool.message) == ("tools", "tools[1].name must be 1–64 letters")
    same = APIError(400, "no tools", param="tools")
    assert in_responses_terms(same) is same
    unchanged = APIError(404, "no such model", param="model")
    assert in_responses_terms(unchanged) is unchanged
