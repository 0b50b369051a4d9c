"""Hypothesis throws arbitrary request bodies at the generation endpoints: never a 5xx.

Bodies are valid requests with up to two fields replaced by arbitrary JSON (or unknown fields added),
so many really generate and the rest probe validation; raw bytes too. A 4xx must be OpenAI's error
object; a 200 stream must end in ``[DONE]`` (``/v1/responses``: in ``response.completed`` or
``response.incomplete``) with no error event.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genlab.serve import ServeLimits, create_app

FUZZ = settings(max_examples=80, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

any_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


# valid requests (so many examples really generate) ...
SAMPLING = {
    "max_tokens": st.integers(0, 10),
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "top_k": st.integers(1, 80) | st.just(-1),
    "n": st.integers(1, 2),
    "stop": st.text(min_size=1, max_size=3) | st.lists(st.text(min_size=1, max_size=3), max_size=4),
    "seed": st.integers(0, 2**63),
    "stream": st.booleans(),
    "ignore_eos": st.booleans(),
    "user": st.text(max_size=5),
}
MODEL = st.sampled_from(["markov-char", "markov-bpe"])
MESSAGE = st.fixed_dictionaries({
    "role": st.sampled_from(["system", "user", "assistant", "developer", "tool"]),
    "content": st.text(max_size=20) | st.none()
    | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=8)}), max_size=2),
})
VALID_COMPLETION = st.fixed_dictionaries(
    {"model": MODEL, "prompt": st.text(min_size=1, max_size=24) | st.lists(st.text(min_size=1, max_size=8),
                                                                            min_size=1, max_size=2)},
    optional={**SAMPLING, "logprobs": st.integers(0, 5)})
VALID_CHAT = st.fixed_dictionaries(
    {"model": MODEL, "messages": st.lists(MESSAGE, min_size=1, max_size=3)},
    optional={**SAMPLING, "logprobs": st.booleans(), "max_completion_tokens": st.integers(0, 10)})

# ... with up to two fields replaced by anything (a wrong type, a value out of range, an unknown field)
FIELDS = ["model", "prompt", "messages", *SAMPLING, "logprobs", "top_logprobs", "stream_options", "echo", "suffix",
          "best_of", "frequency_penalty", "logit_bias", "max_completion_tokens", "tools", "foo", "path"]
MUTATION = st.dictionaries(st.sampled_from(FIELDS), any_json | st.integers(-(2**65), 2**65) | st.floats(-5, 5),
                           max_size=2)


INPUT_ITEM = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "developer"]),
     "content": st.text(max_size=20)
     | st.lists(st.fixed_dictionaries({"type": st.sampled_from(["input_text", "output_text"]),
                                       "text": st.text(max_size=8)}), max_size=2)},
    optional={"type": st.just("message")}) | st.fixed_dictionaries(
    {"type": st.just("function_call_output"), "call_id": st.text(min_size=1, max_size=4),
     "output": st.text(max_size=8)})
VALID_RESPONSES = st.fixed_dictionaries(
    {"model": MODEL, "input": st.text(min_size=1, max_size=24) | st.lists(INPUT_ITEM, min_size=1, max_size=3)},
    optional={"instructions": st.text(max_size=12), "max_output_tokens": st.integers(1, 10),
              "temperature": st.floats(0, 2), "top_p": st.floats(0, 1), "stream": st.booleans(),
              "store": st.booleans(), "seed": st.integers(0, 2**63), "metadata": st.dictionaries(
                  st.text(max_size=4), st.text(max_size=4), max_size=2),
              "include": st.just(["message.output_text.logprobs"]), "top_logprobs": st.integers(0, 3)})
RESPONSES_FIELDS = ["model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "stream", "store",
                    "previous_response_id", "text", "tools", "tool_choice", "include", "top_logprobs", "reasoning",
                    "truncation", "metadata", "stream_options", "foo"]
RESPONSES_MUTATION = st.dictionaries(st.sampled_from(RESPONSES_FIELDS), any_json | st.integers(-(2**65), 2**65),
                                     max_size=2)


@pytest.fixture(scope="module")
def fuzz_client(markov_registry):
    from fastapi.testclient import TestClient

    app = create_app(markov_registry, ServeLimits(max_tokens_cap=10, max_choices=4, max_body_bytes=4096))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def refused_cleanly(response) -> bool:
    """Never a 5xx; a 4xx carries OpenAI's error object. True when the request was refused."""
    assert response.status_code < 500, response.text
    if response.status_code < 400:
        return False
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return True


def check(response) -> None:
    if refused_cleanly(response):
        return
    if response.headers["content-type"].startswith("text/event-stream"):
        events = [e for e in response.text.split("\n\n") if e]
        assert events[-1] == "data: [DONE]"
        assert all("error" not in json.loads(e[len("data: "):]) for e in events[:-1])
    else:
        assert response.json()["choices"]


def check_response(response) -> None:
    """:func:`check` for ``/v1/responses``: named events, the last one saying how the response ended."""
    if refused_cleanly(response):
        return
    if response.headers["content-type"].startswith("text/event-stream"):
        events = [json.loads(e.split("\ndata: ", 1)[1]) for e in response.text.split("\n\n") if e]
        assert events[-1]["type"] in ("response.completed", "response.incomplete")
        assert all(e["type"] not in ("error", "response.failed") for e in events)
    else:
        assert response.json()["status"] in ("completed", "incomplete")


@FUZZ
@given(body=VALID_COMPLETION, mutation=MUTATION)
def test_completion_bodies_never_5xx(fuzz_client, body: dict, mutation: dict) -> None:
    check(fuzz_client.post("/v1/completions", json={**body, **mutation}))


@FUZZ
@given(body=VALID_CHAT, mutation=MUTATION)
def test_chat_bodies_never_5xx(fuzz_client, body: dict, mutation: dict) -> None:
    check(fuzz_client.post("/v1/chat/completions", json={**body, **mutation}))


@FUZZ
@given(body=VALID_RESPONSES, mutation=RESPONSES_MUTATION)
def test_responses_bodies_never_5xx(fuzz_client, body: dict, mutation: dict) -> None:
    check_response(fuzz_client.post("/v1/responses", json={**body, **mutation}))


@FUZZ
@given(raw=st.binary(max_size=300), path=st.sampled_from(["/v1/completions", "/v1/chat/completions",
                                                                        "/v1/responses"]))
def test_raw_bytes_never_5xx(fuzz_client, raw: bytes, path: str) -> None:
    response = fuzz_client.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 404, 413, 422), response.text
