"""The official ``openai`` client against a live ``genlab serve`` on loopback: OpenAI compatibility."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from genlab import chat
from genlab.tokenizers import load as load_tokenizer


@pytest.fixture(scope="module")
def client(server, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.api, api_key=api_key, max_retries=0, timeout=60)


@pytest.fixture(scope="module", params=["markov-char", "markov-bpe", "gpt-tiny"])
def model_id(request: pytest.FixtureRequest, lm_runs: list[Path]) -> str:
    if request.param not in {r.name for r in lm_runs}:
        pytest.skip("the GPT family is not installed")
    return request.param


def _tokenizer(lm_runs: list[Path], model_id: str):
    return load_tokenizer(next(r for r in lm_runs if r.name == model_id) / "tokenizer.json")


def test_models_are_named_by_run_directory(client: openai.OpenAI, lm_runs: list[Path]) -> None:
    listed = client.models.list()
    assert [m.id for m in listed.data] == [r.name for r in lm_runs]
    assert all(m.object == "model" and m.owned_by == "genlab" for m in listed.data)
    assert client.models.retrieve(lm_runs[0].name).id == lm_runs[0].name


def test_completion(client: openai.OpenAI, model_id: str, lm_runs: list[Path]) -> None:
    prompt = "the cat "
    out = client.completions.create(model=model_id, prompt=prompt, max_tokens=12, seed=7, temperature=0.9)
    assert out.object == "text_completion" and out.model == model_id and out.id.startswith("cmpl-")
    (choice,) = out.choices
    assert isinstance(choice.text, str) and choice.finish_reason in ("stop", "length")
    assert out.usage.prompt_tokens == len(_tokenizer(lm_runs, model_id).encode(prompt))
    assert 1 <= out.usage.completion_tokens <= 12
    if choice.finish_reason == "length":
        assert out.usage.completion_tokens == 12
    assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens


def test_same_seed_same_text_and_greedy_is_repeatable(client: openai.OpenAI, model_id: str) -> None:
    a = client.completions.create(model=model_id, prompt="a dog", max_tokens=20, seed=3, n=2)
    b = client.completions.create(model=model_id, prompt="a dog", max_tokens=20, seed=3, n=2)
    assert [c.text for c in a.choices] == [c.text for c in b.choices]
    g1 = client.completions.create(model=model_id, prompt="a dog", max_tokens=20, temperature=0)
    g2 = client.completions.create(model=model_id, prompt="a dog", max_tokens=20, temperature=0, seed=99)
    assert g1.choices[0].text == g2.choices[0].text


def test_chat_completion(client: openai.OpenAI, model_id: str, lm_runs: list[Path]) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "안녕하세요?"}]
    out = client.chat.completions.create(model=model_id, messages=messages, max_tokens=15, seed=1)
    assert out.object == "chat.completion" and out.id.startswith("chatcmpl-")
    (choice,) = out.choices
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.message.content == choice.message.content.lstrip()
    assert "\nUser:" not in choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert out.usage.prompt_tokens == len(_tokenizer(lm_runs, model_id).encode(chat.render(messages)))


@pytest.mark.parametrize("stop", [None, ["."]])
def test_streamed_completion_reassembles_into_the_non_streamed_text(client: openai.OpenAI, model_id: str,
                                                                     stop: list[str] | None) -> None:
    args = dict(model=model_id, prompt="hello", max_tokens=30, seed=11, n=2, stop=stop)
    whole = client.completions.create(**args)
    parts: dict[int, list[str]] = {0: [], 1: []}
    reasons = {}
    for chunk in client.completions.create(stream=True, **args):
        for c in chunk.choices:
            parts[c.index].append(c.text)
            if c.finish_reason:
                reasons[c.index] = c.finish_reason
    assert ["".join(parts[i]) for i in (0, 1)] == [c.text for c in whole.choices]
    assert reasons == {c.index: c.finish_reason for c in whole.choices}
    if stop:
        assert all("." not in c.text for c in whole.choices)


def test_streamed_chat_reassembles_and_reports_usage(client: openai.OpenAI, model_id: str) -> None:
    args = dict(model=model_id, messages=[{"role": "user", "content": "hello"}], max_tokens=25, seed=5)
    whole = client.chat.completions.create(**args)
    chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **args))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.model_dump() == whole.usage.model_dump()


def test_completion_logprobs(client: openai.OpenAI, model_id: str) -> None:
    prompt = "the "
    out = client.completions.create(model=model_id, prompt=prompt, max_tokens=15, seed=2, logprobs=3)
    choice = out.choices[0]
    lp = choice.logprobs
    n = out.usage.completion_tokens
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == n
    assert all(v <= 0 for v in lp.token_logprobs)
    for chosen, top in zip(lp.token_logprobs, lp.top_logprobs):
        assert 1 <= len(top) <= 3 and all(v <= 0 for v in top.values())
        assert chosen <= max(top.values()) + 1e-6  # the best alternative is at least as likely
    assert lp.text_offset[0] == len(prompt)
    assert lp.text_offset == sorted(lp.text_offset)
    streamed = [t for chunk in client.completions.create(model=model_id, prompt=prompt, max_tokens=15, seed=2,
                                                         logprobs=3, stream=True)
                for c in chunk.choices for t in c.logprobs.tokens]
    assert streamed == lp.tokens


def test_chat_logprobs(client: openai.OpenAI, model_id: str) -> None:
    out = client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "hi"}], max_tokens=10,
                                         seed=4, logprobs=True, top_logprobs=2)
    content = out.choices[0].logprobs.content
    assert len(content) == out.usage.completion_tokens
    for item in content:
        assert item.logprob <= 0 and isinstance(item.bytes, list)
        assert 1 <= len(item.top_logprobs) <= 2
        assert all(alt.logprob <= 0 for alt in item.top_logprobs)
        assert item.logprob <= item.top_logprobs[0].logprob + 1e-6


def test_streamed_korean_bpe_chunks_hold_whole_characters(client: openai.OpenAI, lm_runs: list[Path]) -> None:
    """Byte-level BPE splits each Hangul syllable over tokens; no chunk may carry a broken one."""
    args = dict(model="markov-bpe", prompt="안녕하", max_tokens=40, temperature=0, logprobs=1)
    whole = client.completions.create(**args)
    assert any("\ufffd" in t for t in whole.choices[0].logprobs.tokens), "no token split a character"
    pieces = [c.text for chunk in client.completions.create(stream=True, **args) for c in chunk.choices]
    assert all("\ufffd" not in p for p in pieces)
    assert "".join(pieces) == whole.choices[0].text
    assert any("\uac00" <= ch <= "\ud7a3" for ch in whole.choices[0].text)


def test_errors_are_the_clients_typed_exceptions(client: openai.OpenAI, server, api_key: str) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.completions.create(model="no-such-run", prompt="x")
    assert err.value.status_code == 404 and err.value.code == "model_not_found"
    for bad in (dict(max_tokens=-1), dict(temperature=5.0), dict(prompt=""), dict(top_p=1.5), dict(n=0)):
        with pytest.raises(openai.BadRequestError) as err:
            client.completions.create(**{"model": "markov-char", "prompt": "x", **bad})
        assert err.value.status_code == 400 and err.value.param == next(iter(bad))
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="markov-char", messages=[])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.api, api_key="wrong", max_retries=0).models.list()
    with pytest.raises(openai.APIStatusError) as err:
        client.completions.create(model="markov-char", prompt="x" * 1_100_000)
    assert err.value.status_code == 413
    raw = httpx.post(server.api + "/completions", content=b'{"model": "markov-char", "prompt": ',
                     headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"})
    assert raw.status_code == 422 and raw.json()["error"]["code"] == "invalid_json"
    assert isinstance(client._make_status_error_from_response(raw), openai.UnprocessableEntityError)


def test_healthz_needs_no_key(server, lm_runs: list[Path]) -> None:
    health = httpx.get(server.url + "/healthz")
    assert health.status_code == 200 and health.json()["models"] == [r.name for r in lm_runs]
    assert httpx.get(server.api + "/models").status_code == 401
