"""``response_format`` through the official ``openai`` client, on both serving paths (batched and not)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import openai
import pydantic
import pytest

from tests.conftest import json_markov_run

PETS = [{"name": "cat", "age": 3, "ok": True}, {"name": "dog", "age": 5, "ok": False},
        {"name": "고양이", "age": 12, "ok": True}, {"name": "bird", "age": 1, "ok": False}]
PET_SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}, "age": {"type": "integer"},
                                               "ok": {"type": "boolean"}},
              "required": ["name", "age", "ok"], "additionalProperties": False}


class Pet(pydantic.BaseModel):
    name: str
    age: int
    ok: bool


@pytest.fixture(scope="module")
def json_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A char Markov chain trained on JSON lines: its vocabulary spells JSON and it likes closing objects."""
    return json_markov_run(tmp_path_factory.mktemp("json-run"), PETS)


@pytest.fixture(scope="module", params=["batched", "max-batch-1"])
def client(request: pytest.FixtureRequest, start_server, json_run: Path, bpe_run: Path, markov_run: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    flags = ["--max-batch", "1"] if request.param == "max-batch-1" else ["--max-batch", "4"]
    with start_server([json_run, bpe_run, markov_run], tmp_path_factory.mktemp("logs"), *flags) as live:
        yield openai.OpenAI(base_url=live.api, api_key="unused", max_retries=0, timeout=60)


def _schema_format(schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "pet", "schema": schema, "strict": True}}


@pytest.mark.parametrize("model", ["pets", "markov-bpe"])
def test_every_chat_answer_that_stops_validates(client: openai.OpenAI, model: str) -> None:
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "a pet?"}], n=6,
                                           temperature=1.5, seed=4, max_tokens=120,
                                           response_format=_schema_format(PET_SCHEMA))
    stopped = [c for c in reply.choices if c.finish_reason == "stop"]
    assert stopped, [c.message.content for c in reply.choices]
    for choice in stopped:
        jsonschema.validate(json.loads(choice.message.content), PET_SCHEMA)


def test_parse_with_a_pydantic_model(client: openai.OpenAI) -> None:
    """``client.chat.completions.parse`` sends Pydantic's strict schema and reads the answer back into the model."""
    reply = client.chat.completions.parse(model="pets", messages=[{"role": "user", "content": "a pet?"}],
                                          response_format=Pet, temperature=0.7, seed=1, max_tokens=150)
    assert isinstance(reply.choices[0].message.parsed, Pet)


def test_json_object_on_completions_and_streamed_chat(client: openai.OpenAI) -> None:
    done = client.completions.create(model="pets", prompt="{", max_tokens=120, seed=2, temperature=1.0,
                                     extra_body={"response_format": {"type": "json_object"}}, n=3)  # an extension
    for choice in done.choices:
        if choice.finish_reason == "stop":
            assert isinstance(json.loads(choice.text), dict)
    assert any(c.finish_reason == "stop" for c in done.choices)
    chunks = client.chat.completions.create(model="markov-bpe", messages=[{"role": "user", "content": "json"}],
                                            stream=True, seed=5, max_tokens=200, temperature=0.8,
                                            response_format=_schema_format(PET_SCHEMA))
    text, reasons = "", []
    for chunk in chunks:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            reasons.append(choice.finish_reason)
    if reasons[-1] == "stop":
        jsonschema.validate(json.loads(text), PET_SCHEMA)
    else:
        assert reasons[-1] == "length"


def test_a_cut_answer_says_length(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="pets", messages=[{"role": "user", "content": "x"}], max_tokens=4,
                                           response_format=_schema_format(PET_SCHEMA), seed=0)
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.content == '{"na'  # the first key is forced, so the cut is predictable


def test_an_unsupported_keyword_is_a_400_that_names_it(client: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="pets", messages=[{"role": "user", "content": "x"}],
                                       response_format=_schema_format(schema))
    assert "'format'" in err.value.message
    assert err.value.body["param"] == "response_format.json_schema.schema"


@pytest.mark.parametrize("response_format", [
    {"type": "yaml"},
    {"type": "json_schema"},
    {"type": "json_schema", "json_schema": {"name": "no spaces allowed", "schema": {"type": "object"}}},
    {"type": "json_object", "schema": {}},
])
def test_malformed_response_formats_are_400(client: openai.OpenAI, response_format: dict) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="pets", messages=[{"role": "user", "content": "x"}],
                                       response_format=response_format)
    assert err.value.body["param"].startswith("response_format")


def test_a_vocabulary_that_cannot_write_json_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="cannot write"):
        client.chat.completions.create(model="markov-char", messages=[{"role": "user", "content": "x"}],
                                       response_format={"type": "json_object"})
