"""A fine-tuned chat run behind ``genlab serve``: the official ``openai`` client gets just the answer."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest


@pytest.fixture(scope="module")
def chat_client(chat_run: Path, start_server, tmp_path_factory: pytest.TempPathFactory):
    with start_server([chat_run], tmp_path_factory.mktemp("chat-logs")) as live:
        yield openai.OpenAI(base_url=live.api, api_key="anything", max_retries=0, timeout=60), chat_run.name


ASK = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "123 더하기 456은?"}]


def test_greedy_chat_returns_just_the_answer_and_stops(chat_client):
    client, model = chat_client
    out = client.chat.completions.create(model=model, messages=ASK, temperature=0)
    (choice,) = out.choices
    assert choice.message.content == "579" and choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    out = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "ping"}], temperature=0)
    assert out.choices[0].message.content == "pong"
    assert out.usage.completion_tokens == len("pong") + 1  # the answer and its end-of-turn token


def test_streaming_concatenates_to_the_non_streamed_answer(chat_client):
    client, model = chat_client
    kwargs = {"model": model, "messages": [{"role": "user", "content": "안녕"}], "temperature": 1.3, "seed": 11,
              "max_tokens": 30}
    whole = client.chat.completions.create(**kwargs)
    pieces, reasons = [], []
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        for c in chunk.choices:
            pieces.append(c.delta.content or "")
            reasons.append(c.finish_reason)
    assert "".join(pieces) == whole.choices[0].message.content
    assert reasons[-1] == whole.choices[0].finish_reason
    assert not any(t in "".join(pieces) for t in ("<|", "|>"))


def test_n_stop_max_tokens_and_logprobs_behave_as_for_completions(chat_client):
    client, model = chat_client
    ping = [{"role": "user", "content": "ping"}]
    out = client.chat.completions.create(model=model, messages=ping, temperature=0, n=2)
    assert [c.message.content for c in out.choices] == ["pong", "pong"] and [c.index for c in out.choices] == [0, 1]
    out = client.chat.completions.create(model=model, messages=ping, temperature=0, stop=["n"])
    assert out.choices[0].message.content == "po" and out.choices[0].finish_reason == "stop"
    out = client.chat.completions.create(model=model, messages=ping, temperature=0, max_tokens=2)
    assert out.choices[0].message.content == "po" and out.choices[0].finish_reason == "length"
    out = client.chat.completions.create(model=model, messages=ping, temperature=0, logprobs=True, top_logprobs=2)
    tokens = out.choices[0].logprobs.content
    assert "".join(t.token for t in tokens) == "pong"
    assert all(t.logprob <= 0 and len(t.top_logprobs) == 2 for t in tokens)


def test_a_tool_result_that_answers_no_call_is_a_400(chat_client):
    client, model = chat_client
    with pytest.raises(openai.BadRequestError, match="must answer a call of the assistant message before it"):
        client.chat.completions.create(model=model, messages=[{"role": "tool", "content": "x", "tool_call_id": "1"}])
