"""Server-sent events: chunks as ``data:`` lines, ``[DONE]`` last, and a failure after the stream has
started sent as an error event that the official client raises."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest

from genlab.errors import GenlabError
from genlab.serve.sse import DONE, _events, event


async def _collect(chunks, closed: list[bool]) -> bytes:
    out = b""
    async for piece in _events(chunks, lambda: closed.append(True)):
        out += piece
    return out


def _stream(fail_with: Exception | None):
    async def chunks():
        yield {"choices": [{"index": 0, "text": "안녕", "finish_reason": None}]}
        if fail_with is not None:
            raise fail_with
        yield {"choices": [{"index": 0, "text": "!", "finish_reason": "stop"}]}

    closed: list[bool] = []
    return asyncio.run(_collect(chunks(), closed)), closed


def test_chunks_are_data_lines_and_done_comes_last() -> None:
    body, closed = _stream(None)
    assert body.endswith(DONE) and closed == [True]
    events = body.decode().split("\n\n")[:-1]
    assert [json.loads(e.removeprefix("data: "))["choices"][0]["text"] for e in events[:-1]] == ["안녕", "!"]
    assert "안녕".encode() in body  # UTF-8 as is, not \\u escapes


@pytest.mark.parametrize(("failure", "kind"), [(RuntimeError("boom"), "server_error"),
                                               (GenlabError("bad prompt"), "invalid_request_error")])
def test_a_failure_mid_stream_is_an_error_event_the_client_raises(failure: Exception, kind: str) -> None:
    body, closed = _stream(failure)
    last = json.loads(body.decode().split("\n\n")[-2].removeprefix("data: "))
    assert last["error"]["type"] == kind and DONE not in body and closed == [True]
    assert "boom" not in body.decode()  # internals stay in the server's log

    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, content=body, headers={"content-type": "text/event-stream"}))
    client = openai.OpenAI(base_url="http://genlab.test/v1", api_key="x", max_retries=0,
                           http_client=httpx.Client(transport=transport))
    received = []
    with pytest.raises(openai.APIError):
        for chunk in client.completions.create(model="m", prompt="p", stream=True):
            received.append(chunk.choices[0].text)
    assert received == ["안녕"]


def test_event_refuses_non_json_numbers() -> None:
    with pytest.raises(ValueError):
        event({"logprob": float("-inf")})
