"""A chat answer in the Responses API's shapes, checked against what the official client parses.

The events come from synthetic chat chunks (text, then tool calls as chat completions stream them), so
the translation is tested apart from any model; the official client reads them back through a mock
transport, as it would read a live server.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from genlab.serve.errors import APIError
from genlab.serve.responses_output import ResponseEvents, ResponseShape, response_from_chat
from genlab.serve.responses_request import ResponsesRequest
from genlab.serve.schemas import parse_request
from genlab.serve.sse import typed_event

USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def _shape(**fields: Any) -> ResponseShape:
    req = parse_request(ResponsesRequest, {"model": "m", "input": "hi", **fields})
    return ResponseShape.for_request(req, "m")


def _chunk(delta: dict[str, Any], finish_reason: str | None = None, logprobs: Any = None) -> dict[str, Any]:
    return {"object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}]}


def _usage_chunk() -> dict[str, Any]:
    return {"object": "chat.completion.chunk", "choices": [], "usage": USAGE}


def _events(shape: ResponseShape, chunks: list[dict[str, Any]]) -> tuple[ResponseEvents, list[dict[str, Any]]]:
    translator = ResponseEvents(shape)
    events = translator.start()
    for chunk in chunks:
        events += translator.feed(chunk)
    return translator, events + translator.finish()


def _client(events: list[dict[str, Any]]) -> openai.OpenAI:
    body = b"".join(typed_event(e) for e in events)
    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, content=body, headers={"content-type": "text/event-stream"}))
    return openai.OpenAI(base_url="http://genlab.test/v1", api_key="x", max_retries=0,
                         http_client=httpx.Client(transport=transport))


TEXT_CHUNKS = [_chunk({"role": "assistant", "content": ""}), _chunk({"content": "안녕"}), _chunk({"content": "하세요"}),
               _chunk({}, "stop"), _usage_chunk()]


def test_text_streams_as_the_documented_events_in_order() -> None:
    translator, events = _events(_shape(), TEXT_CHUNKS)
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]["response"]
    assert final["status"] == "completed" and final["incomplete_details"] is None
    assert final["output"][0]["content"][0]["text"] == "안녕하세요" == events[6]["text"]
    assert final["usage"]["input_tokens"] == 7 and final["usage"]["output_tokens"] == 3
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    assert translator.assistant_message() == {"role": "assistant", "content": "안녕하세요"}


def test_the_official_client_reassembles_the_stream() -> None:
    _, events = _events(_shape(), TEXT_CHUNKS)
    client = _client(events)
    deltas = [e.delta for e in client.responses.create(model="m", input="hi", stream=True)
              if e.type == "response.output_text.delta"]
    with client.responses.stream(model="m", input="hi") as stream:
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "안녕하세요"
    assert final.usage.total_tokens == 10 and final.status == "completed"


def test_running_out_of_tokens_is_incomplete() -> None:
    chunks = [_chunk({"role": "assistant", "content": ""}), _chunk({"content": "the ca"}), _chunk({}, "length"),
              _usage_chunk()]
    _, events = _events(_shape(max_output_tokens=3), chunks)
    assert events[-1]["type"] == "response.incomplete"
    final = events[-1]["response"]
    assert final["status"] == "incomplete" and final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["status"] == "incomplete"


def test_an_empty_answer_still_has_its_message() -> None:
    _, events = _events(_shape(), [_chunk({"role": "assistant", "content": ""}), _chunk({}, "stop"), _usage_chunk()])
    assert "response.output_text.delta" not in [e["type"] for e in events]
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == ""
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    with _client(events).responses.stream(model="m", input="hi") as stream:
        assert stream.get_final_response().output_text == ""


TOOL_CHUNKS = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Computing."}),
    _chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                            "function": {"name": "calc", "arguments": ""}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"e\": "}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "\"2+3\"}"}}]}),
    _chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                            "function": {"name": "calc", "arguments": "{\"e\": \"4*5\"}"}}]}),
    _chunk({}, "tool_calls"),
    _usage_chunk(),
]


def test_streamed_tool_calls_become_function_call_items() -> None:
    translator, events = _events(_shape(tools=[{"type": "function", "name": "calc"}]), TOOL_CHUNKS)
    kinds = [e["type"] for e in events]
    assert kinds[2:] == [
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    message, first, second = events[-1]["response"]["output"]
    assert message["content"][0]["text"] == "Computing."
    assert (first["type"], first["call_id"], first["name"], first["arguments"]) == \
        ("function_call", "call_a", "calc", "{\"e\": \"2+3\"}")
    assert second["call_id"] == "call_b" and second["status"] == "completed"
    assert translator.assistant_message()["tool_calls"][1] == {
        "id": "call_b", "type": "function", "function": {"name": "calc", "arguments": "{\"e\": \"4*5\"}"}}

    with _client(events).responses.stream(model="m", input="hi") as stream:
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, c.arguments) for c in calls] == [("call_a", "{\"e\": \"2+3\"}"), ("call_b", "{\"e\": \"4*5\"}")]
    assert final.output_text == "Computing."


def test_a_chat_completion_becomes_a_response_object() -> None:
    logprobs = [{"token": "a", "logprob": -0.5, "bytes": [97], "top_logprobs": []}]
    completion = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "a", "refusal": None},
                               "logprobs": {"content": logprobs, "refusal": None}, "finish_reason": "stop"}],
                  "usage": USAGE}
    shape = _shape(instructions="Be brief.", temperature=0.3, metadata={"k": "v"}, store=False)
    response, message = response_from_chat(shape, completion)
    assert response["id"].startswith("resp_") and response["object"] == "response"
    assert response["status"] == "completed" and response["output"][0]["id"].startswith("msg_")
    assert response["output"][0]["content"][0] == {"type": "output_text", "text": "a", "annotations": [],
                                                   "logprobs": logprobs}
    assert (response["instructions"], response["temperature"], response["top_p"], response["store"]) == \
        ("Be brief.", 0.3, 1.0, False)
    assert response["text"]["format"] == {"type": "text"} and response["metadata"] == {"k": "v"}
    assert message == {"role": "assistant", "content": "a"}
    parsed = openai.types.responses.Response.model_validate(response)  # every field the client declares
    assert parsed.output_text == "a" and parsed.usage.input_tokens == 7


def test_a_chat_answer_with_only_tool_calls_has_no_message_item() -> None:
    call = {"id": "call_a", "type": "function", "function": {"name": "calc", "arguments": "{}"}}
    completion = {"choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                               "logprobs": None, "finish_reason": "tool_calls"}], "usage": USAGE}
    response, message = response_from_chat(_shape(), completion)
    (item,) = response["output"]
    assert item["type"] == "function_call" and item["call_id"] == "call_a" and item["id"].startswith("fc_")
    assert response["status"] == "completed"
    assert message == {"role": "assistant", "content": None, "tool_calls": [call]}


@pytest.mark.parametrize(("error", "code"), [(APIError(500, "generation failed", type="server_error"), "server_error"),
                                             (APIError(400, "prompt refused"), "invalid_prompt")])
def test_a_broken_stream_ends_with_error_and_response_failed(error: APIError, code: str) -> None:
    translator = ResponseEvents(_shape())
    events = translator.start() + translator.feed(_chunk({"content": "ab"}))
    events += translator.fail(error)
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"] == {"code": code, "message": error.message}
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
