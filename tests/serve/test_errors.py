"""Every way a request can be wrong gets OpenAI's error object and the right status, never a 5xx."""

from __future__ import annotations

import pytest

from genlab.serve import ServeLimits

OK_COMPLETION = {"model": "markov-char", "prompt": "the ", "max_tokens": 4, "seed": 1}
OK_CHAT = {"model": "markov-char", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "seed": 1}


def assert_error(response, status: int, param: str | None = None, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    if param is not None:
        assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    return error


@pytest.mark.parametrize(("change", "param"), [
    ({"max_tokens": -1}, "max_tokens"),
    ({"max_tokens": 10_000}, "max_tokens"),  # above --max-tokens-cap
    ({"max_tokens": "8"}, "max_tokens"),
    ({"temperature": 2.5}, "temperature"),
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": "hot"}, "temperature"),
    ({"top_p": 1.5}, "top_p"),
    ({"top_k": -3}, "top_k"),
    ({"n": 0}, "n"),
    ({"n": 99}, "n"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": []}, "prompt"),
    ({"prompt": ["ok", ""]}, "prompt"),
    ({"prompt": [5, 100_000]}, "prompt"),
    ({"prompt": 7}, "prompt"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"stop": 3}, "stop"),
    ({"seed": 2**70}, "seed"),
    ({"logprobs": 99}, "logprobs"),
    ({"logprobs": -1}, "logprobs"),
    ({"echo": True}, "echo"),
    ({"suffix": "end"}, "suffix"),
    ({"best_of": 3}, "best_of"),
    ({"frequency_penalty": 0.5}, "frequency_penalty"),
    ({"logit_bias": {"5": 10}}, "logit_bias"),
    ({"stream_options": {"include_usage": True}}, "stream_options"),
    ({"model": 5}, "model"),
    ({"file": "/etc/passwd"}, "file"),  # unknown arguments are refused, paths never read
    ({"model": None}, "model"),
])
def test_completion_field_errors_are_400(make_client, change: dict, param: str) -> None:
    client = make_client(ServeLimits(max_tokens_cap=64, max_choices=4))
    error = assert_error(client.post("/v1/completions", json={**OK_COMPLETION, **change}), 400, param)
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(("body", "param"), [
    ({"model": "markov-char", "prompt": "x", "max_tokens": 1}, None),  # wrong endpoint's fields: no messages
    ({**OK_CHAT, "messages": []}, "messages"),
    ({**OK_CHAT, "messages": "hi"}, "messages"),
    ({**OK_CHAT, "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
    ({**OK_CHAT, "messages": [{"content": "hi"}]}, "messages[0].role"),
    ({**OK_CHAT, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, "messages"),
    ({**OK_CHAT, "top_logprobs": 2}, "top_logprobs"),  # needs logprobs: true
    ({**OK_CHAT, "logprobs": True, "top_logprobs": 50}, "top_logprobs"),
    ({**OK_CHAT, "tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
    ({**OK_CHAT, "response_format": {"type": "xml"}}, "response_format.type"),
    ({**OK_CHAT, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"pattern": "a"}}}},
     "response_format.json_schema.schema"),
    ({**OK_CHAT, "max_tokens": 3, "max_completion_tokens": 5}, "max_completion_tokens"),
    ({**OK_CHAT, "temperature": 3}, "temperature"),
])
def test_chat_field_errors_are_400(make_client, body: dict, param: str | None) -> None:
    assert_error(make_client().post("/v1/chat/completions", json=body), 400, param)


def test_valid_requests_succeed_in_both_shapes(make_client) -> None:
    client = make_client()
    assert client.post("/v1/completions", json={**OK_COMPLETION, "prompt": [[40, 41], [42]], "n": 2}).status_code \
        == 200
    out = client.post("/v1/chat/completions", json={**OK_CHAT, "messages": [
        {"role": "system", "content": None}, {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": "hello", "refusal": None}, {"role": "user", "content": "again"}]})
    assert out.status_code == 200 and out.json()["choices"][0]["message"]["role"] == "assistant"
    # prompt × n choices are numbered across prompts, as OpenAI does
    many = client.post("/v1/completions", json={**OK_COMPLETION, "prompt": ["a", "b"], "n": 2}).json()
    assert [c["index"] for c in many["choices"]] == [0, 1, 2, 3]


@pytest.mark.parametrize("body", [
    b"{bad json", b"", b"   ", b'{"model": "markov-char", "prompt": NaN}', b'{"temperature": Infinity}',
    b"\xff\xfe\x00garbage", b"[" * 100_000 + b"]" * 100_000, '{"prompt": "\udcff"}'.encode("utf-8", "surrogatepass"),
])
def test_malformed_json_is_422(make_client, body: bytes) -> None:
    response = make_client().post("/v1/completions", content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 422, code="invalid_json")


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_json_that_is_not_an_object_is_400(make_client, body: bytes) -> None:
    assert_error(make_client().post("/v1/chat/completions", content=body), 400)


def test_mixed_prompt_list_and_lone_surrogates_are_400(make_client) -> None:
    client = make_client()
    assert_error(client.post("/v1/completions", json={**OK_COMPLETION, "prompt": [[40, 41], "the "]}), 400, "prompt")
    body = b'{"model": "markov-char", "messages": [{"role": "user", "content": "\\ud800 hi"}]}'
    assert_error(client.post("/v1/chat/completions", content=body), 400, code="invalid_text")


def test_unknown_model_is_404(make_client) -> None:
    client = make_client()
    assert_error(client.post("/v1/completions", json={**OK_COMPLETION, "model": "../../etc"}), 404, "model",
                 "model_not_found")
    assert_error(client.post("/v1/chat/completions", json={**OK_CHAT, "model": "gpt-4o"}), 404, "model")
    assert_error(client.get("/v1/models/nope"), 404, code="model_not_found")
    assert_error(client.get("/v1/nothing-here"), 404, code="not_found")
    assert_error(client.get("/v1/completions"), 405)


def test_body_over_the_limit_is_413_with_or_without_content_length(make_client) -> None:
    client = make_client(ServeLimits(max_body_bytes=2048))
    big = {**OK_COMPLETION, "prompt": "x" * 4000}
    assert_error(client.post("/v1/completions", json=big), 413, code="request_too_large")

    def chunked():  # no Content-Length: the cap holds while the body streams in
        for _ in range(10):
            yield b" " * 500

    assert_error(client.post("/v1/completions", content=chunked()), 413)
    assert client.post("/v1/completions", json={**OK_COMPLETION, "prompt": "x" * 1000}).status_code == 200


def test_api_key_is_required_when_set(make_client) -> None:
    client = make_client(api_key="s3cret")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"},
                    {"Authorization": "Basic s3cret"}, {"Authorization": "Bearer "}):
        error = assert_error(client.post("/v1/completions", json=OK_COMPLETION, headers=headers), 401,
                             code="invalid_api_key")
        assert "s3cret" not in error["message"]
    assert_error(client.get("/v1/models"), 401)
    good = {"Authorization": "Bearer s3cret"}
    assert client.get("/v1/models", headers=good).status_code == 200
    assert client.post("/v1/completions", json=OK_COMPLETION, headers=good).status_code == 200
    assert client.get("/healthz").status_code == 200  # health checks need no key
    assert client.get("/").status_code == 200  # nor the playground page (it asks for the key)


def test_playground_page_and_assets_are_served_locally(make_client) -> None:
    client = make_client()
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200 and asset in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    assert_error(client.get("/static/../registry.py"), 404)


@pytest.mark.parametrize("change", [{"temperature": 1e-300}, {"top_p": 1e-300}, {"temperature": 2, "top_k": 1},
                                    {"seed": -(2**63)}, {"seed": 2**64 - 1}, {"max_tokens": 0}])
def test_extreme_but_valid_sampling_values_generate(make_client, change: dict) -> None:
    for path, body in (("/v1/completions", OK_COMPLETION), ("/v1/chat/completions", OK_CHAT)):
        response = make_client().post(path, json={**body, **change})
        assert response.status_code == 200, response.text


def test_an_encoder_decoder_run_is_listed_but_cannot_continue_a_prompt(seq2seq_run, markov_run) -> None:
    if seq2seq_run is None:
        pytest.skip("the encoder-decoder family is not installed")
    from fastapi.testclient import TestClient

    from genlab.serve import create_app, load_runs

    with TestClient(create_app(load_runs([seq2seq_run, markov_run]))) as client:
        cards = {m["id"]: m["genlab"]["kind"] for m in client.get("/v1/models").json()["data"]}
        assert cards == {seq2seq_run.name: "seq2seq", markov_run.name: "language-model"}
        assert_error(client.post("/v1/completions", json={**OK_COMPLETION, "model": seq2seq_run.name}), 400,
                     "model", "model_not_supported")
        assert_error(client.post("/v1/chat/completions", json={**OK_CHAT, "model": seq2seq_run.name}), 400,
                     "model", "model_not_supported")
