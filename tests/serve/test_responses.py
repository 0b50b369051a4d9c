"""``/v1/responses`` through the official ``openai`` client against a live ``genlab serve``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import jsonschema
import openai
import pydantic
import pytest

from genlab import chat
from genlab.tokenizers import load as load_tokenizer
from tests.conftest import CALC, json_markov_run

MODEL = "markov-char"


@pytest.fixture(scope="module")
def client(server, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.api, api_key=api_key, max_retries=0, timeout=60)


def _prompt_tokens(lm_runs: list[Path], model_id: str, messages: list[dict]) -> int:
    """What the plain-text chat template makes of ``messages``, in the run's tokens."""
    tokenizer = load_tokenizer(next(r for r in lm_runs if r.name == model_id) / "tokenizer.json")
    return len(tokenizer.encode(chat.render(messages)))


def test_string_input_gives_output_text_and_usage(client: openai.OpenAI, lm_runs: list[Path]) -> None:
    out = client.responses.create(model=MODEL, input="the cat", max_output_tokens=20, temperature=0)
    assert out.id.startswith("resp_") and out.object == "response" and out.model == MODEL
    assert out.status in ("completed", "incomplete") and isinstance(out.output_text, str)
    (item,) = out.output
    assert item.type == "message" and item.role == "assistant" and item.id.startswith("msg_")
    assert item.content[0].text == out.output_text and out.output_text == out.output_text.lstrip()
    assert "\nUser:" not in out.output_text
    assert out.usage.input_tokens == _prompt_tokens(lm_runs, MODEL, [{"role": "user", "content": "the cat"}])
    assert out.usage.total_tokens == out.usage.input_tokens + out.usage.output_tokens
    assert (out.temperature, out.top_p, out.max_output_tokens, out.text.format.type) == (0.0, 1.0, 20, "text")


def test_message_list_and_instructions_make_the_chat_prompt(client: openai.OpenAI, lm_runs: list[Path]) -> None:
    items = [{"role": "user", "content": [{"type": "input_text", "text": "안녕하세요?"}]},
             {"role": "assistant", "content": "반갑습니다."},
             {"type": "message", "role": "user", "content": "오늘 날씨는?"}]
    out = client.responses.create(model=MODEL, input=items, instructions="Be brief.", max_output_tokens=15,
                                  temperature=0)
    expected = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "안녕하세요?"},
                {"role": "assistant", "content": "반갑습니다."}, {"role": "user", "content": "오늘 날씨는?"}]
    assert out.usage.input_tokens == _prompt_tokens(lm_runs, MODEL, expected)
    assert out.instructions == "Be brief."


def test_previous_response_id_continues_the_conversation(client: openai.OpenAI, lm_runs: list[Path]) -> None:
    first = client.responses.create(model=MODEL, input="a dog", instructions="Be brief.", max_output_tokens=12,
                                    temperature=0)
    second = client.responses.create(model=MODEL, input="and the cat?", previous_response_id=first.id,
                                     max_output_tokens=12, temperature=0)
    # the first exchange comes before the new input; the first response's instructions do not carry over
    conversation = [{"role": "user", "content": "a dog"}, {"role": "assistant", "content": first.output_text},
                    {"role": "user", "content": "and the cat?"}]
    assert second.usage.input_tokens == _prompt_tokens(lm_runs, MODEL, conversation)
    assert second.previous_response_id == first.id and second.instructions is None
    third = client.responses.create(model=MODEL, input="ok", previous_response_id=second.id, max_output_tokens=5,
                                    temperature=0, stream=True)
    final = [e for e in third if e.type in ("response.completed", "response.incomplete")][-1].response
    conversation += [{"role": "assistant", "content": second.output_text}, {"role": "user", "content": "ok"}]
    assert final.usage.input_tokens == _prompt_tokens(lm_runs, MODEL, conversation)


@pytest.mark.parametrize("model_id", ["markov-char", "markov-bpe", "gpt-tiny"])
def test_streaming_events_come_in_order_and_deltas_make_the_output_text(client: openai.OpenAI, model_id: str,
                                                                          lm_runs: list[Path]) -> None:
    if model_id not in {r.name for r in lm_runs}:
        pytest.skip("the GPT family is not installed")
    args = dict(model=model_id, input="안녕하세요, ", max_output_tokens=30, temperature=0)
    whole = client.responses.create(**args)
    events = list(client.responses.create(stream=True, **args))
    kinds = [e.type for e in events]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          f"response.{whole.status}"]
    assert set(kinds[4:-4]) <= {"response.output_text.delta"}
    final = events[-1].response
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == final.output_text == events[-4].text == whole.output_text  # greedy: the same text
    if model_id == "markov-bpe":  # no delta splits a character, even where BPE tokens do
        assert all("\ufffd" not in e.delta for e in events if e.type == "response.output_text.delta")
    assert final.usage.output_tokens == whole.usage.output_tokens and final.id == events[0].response.id
    with client.responses.stream(**args) as stream:  # the client's helper; it finalises completed responses only
        last = list(stream)[-1]
        assert last.type == f"response.{whole.status}" and last.response.output_text == whole.output_text
        if whole.status == "completed":
            assert stream.get_final_response().output_text == whole.output_text


def test_max_output_tokens_cuts_the_answer_as_incomplete(client: openai.OpenAI) -> None:
    args = dict(model=MODEL, input="hello world", temperature=0)
    long = client.responses.create(max_output_tokens=60, **args)
    assert long.usage.output_tokens > 2, "the greedy answer is too short to cut"
    cut = client.responses.create(max_output_tokens=2, **args)
    assert cut.status == "incomplete" and cut.incomplete_details.reason == "max_output_tokens"
    assert cut.output[0].status == "incomplete" and cut.usage.output_tokens == 2
    assert long.output_text.startswith(cut.output_text)


def test_stored_responses_can_be_retrieved_and_deleted(client: openai.OpenAI) -> None:
    out = client.responses.create(model=MODEL, input="the model", max_output_tokens=8, metadata={"run": "t1"})
    got = client.responses.retrieve(out.id)
    assert got.id == out.id and got.output_text == out.output_text and got.metadata == {"run": "t1"}
    client.responses.delete(out.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(out.id)
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model=MODEL, input="more", previous_response_id=out.id)
    assert err.value.code == "previous_response_not_found"
    unstored = client.responses.create(model=MODEL, input="the model", max_output_tokens=8, store=False)
    assert unstored.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)


def test_unknown_previous_response_is_a_400_naming_it(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model=MODEL, input="hi", previous_response_id="resp_nope")
    assert err.value.status_code == 400 and err.value.code == "previous_response_not_found"
    assert err.value.param == "previous_response_id" and "resp_nope" in err.value.message


@pytest.mark.parametrize(("extra", "param"), [
    (dict(input=[{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]),
     "input[0].content[0].type"),
    (dict(conversation="conv_1"), "conversation"),
    (dict(max_output_tokens=100_000), "max_output_tokens"),
    (dict(tools=[{"type": "web_search"}]), "tools[0].type"),
    (dict(temperature=2.5), "temperature"),
    (dict(model="no-such-run"), "model"),
])
def test_bad_requests_are_errors_naming_the_field(client: openai.OpenAI, extra: dict, param: str) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        client.responses.create(**{"model": MODEL, "input": "hi", **extra})
    assert err.value.status_code in (400, 404) and err.value.param == param


def test_the_api_key_is_enforced(server) -> None:
    wrong = openai.OpenAI(base_url=server.api, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.responses.create(model=MODEL, input="hi")
    with pytest.raises(openai.AuthenticationError):
        wrong.responses.retrieve("resp_x")
    assert httpx.post(server.api + "/responses", json={"model": MODEL, "input": "hi"}).status_code == 401


def test_a_full_line_is_429_and_a_dropped_stream_frees_its_slot(markov_run: Path, tmp_path: Path,
                                                                 start_server) -> None:
    flags = ("--max-concurrency", "1", "--max-queue", "0", "--max-tokens-cap", "1000000")
    with start_server([markov_run], tmp_path, *flags) as srv:
        client = openai.OpenAI(base_url=srv.api, api_key="unused", max_retries=0, timeout=30)
        endless = {"model": MODEL, "input": "the", "max_output_tokens": 1_000_000, "ignore_eos": True,
                   "stream": True}
        with httpx.Client(timeout=30) as http, http.stream("POST", srv.api + "/responses", json=endless) as hog:
            assert hog.status_code == 200
            lines = hog.iter_lines()  # kept: dropping the iterator would close the connection
            assert next(lines) == "event: response.created"
            with pytest.raises(openai.RateLimitError) as err:  # the one slot is taken, and no line to wait in
                client.responses.create(model=MODEL, input="hi", max_output_tokens=3)
            assert err.value.code == "queue_full"
        deadline = time.monotonic() + 30  # the hog hung up mid-stream: its generation stops
        while httpx.get(srv.url + "/healthz", timeout=10).json()["generating"]:
            assert time.monotonic() < deadline, "the dropped stream kept its slot"
            time.sleep(0.05)
        assert client.responses.create(model=MODEL, input="hi", max_output_tokens=3).status in ("completed",
                                                                                               "incomplete")


def test_langchain_with_the_responses_api(server, api_key: str) -> None:
    from langchain_core.messages import HumanMessage
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model=MODEL, base_url=server.api, api_key=api_key, use_responses_api=True, max_tokens=12,
                     temperature=0, max_retries=0)
    answer = llm.invoke("the cat")
    assert answer.response_metadata["id"].startswith("resp_") and answer.text
    assert 1 <= answer.usage_metadata["output_tokens"] <= 12
    assert "".join(chunk.text for chunk in llm.stream("the cat")) == answer.text  # greedy: the same text
    chained = llm.model_copy(update={"use_previous_response_id": True})
    first = chained.invoke([HumanMessage("a dog")])
    second = chained.invoke([HumanMessage("a dog"), first, HumanMessage("and?")])
    stored = openai.OpenAI(base_url=server.api, api_key=api_key).responses.retrieve(second.response_metadata["id"])
    assert stored.previous_response_id == first.response_metadata["id"]  # LangChain sent only the new turn


def test_the_store_keeps_only_the_most_recent_responses(make_client) -> None:
    from genlab.serve import ServeLimits

    http = make_client(ServeLimits(max_stored_responses=1))
    body = {"model": MODEL, "input": "the cat", "max_output_tokens": 3}
    first, second = (http.post("/v1/responses", json=body).json() for _ in range(2))
    assert http.get(f"/v1/responses/{second['id']}").json()["id"] == second["id"]
    gone = http.post("/v1/responses", json={**body, "previous_response_id": first["id"]})
    assert gone.status_code == 400 and gone.json()["error"]["code"] == "previous_response_not_found"
    assert http.get(f"/v1/responses/{first['id']}").status_code == 404


def test_a_failure_mid_stream_ends_with_error_and_response_failed(make_client, monkeypatch) -> None:
    from genlab.serve import chat_completions

    async def breaks(*args, **kwargs):
        yield {"choices": [{"index": 0, "delta": {"content": "ab"}, "logprobs": None, "finish_reason": None}]}
        raise RuntimeError("secret internals")

    monkeypatch.setattr(chat_completions, "_chunks", breaks)
    http = make_client()
    reply = http.post("/v1/responses", json={"model": MODEL, "input": "hi", "stream": True})
    assert reply.status_code == 200
    events = [json.loads(e.split("\ndata: ", 1)[1]) for e in reply.text.split("\n\n") if e]
    assert [e["type"] for e in events][-3:] == ["response.output_text.delta", "error", "response.failed"]
    assert events[-1]["response"]["error"]["code"] == "server_error"
    assert "secret internals" not in reply.text  # internals stay in the server's log
    assert http.get(f"/v1/responses/{events[0]['response']['id']}").status_code == 404  # a failure is not stored


def test_a_run_without_tool_tokens_refuses_function_call_items(make_client) -> None:
    items = [{"role": "user", "content": "2+3?"},
             {"type": "function_call", "call_id": "call_a", "name": "calc", "arguments": "{\"e\": \"2+3\"}"},
             {"type": "function_call_output", "call_id": "call_a", "output": "5"}]
    reply = make_client().post("/v1/responses", json={"model": MODEL, "input": items, "max_output_tokens": 3})
    error = reply.json()["error"]
    assert reply.status_code == 400 and error["param"] == "input" and "fine-tune" in error["message"]


def test_input_items_list_what_the_response_was_asked(client: openai.OpenAI) -> None:
    items = [{"role": "user", "content": "a dog"}, {"role": "assistant", "content": "ran."},
             {"type": "message", "id": "msg_mine", "role": "user", "content": [{"type": "input_text", "text": "and?"}]}]
    out = client.responses.create(model=MODEL, input=items, max_output_tokens=3)
    listed = client.responses.input_items.list(out.id)
    assert [i.content[0].text for i in listed.data] == ["and?", "ran.", "a dog"]  # newest first, as OpenAI
    assert listed.data[0].id == "msg_mine" and all(i.id.startswith("msg_") for i in listed.data)
    assert [i.role for i in listed.data] == ["user", "assistant", "user"]
    page = client.responses.input_items.list(out.id, order="asc", limit=2)
    assert [i.content[0].text for i in page.data] == ["a dog", "ran."] and page.has_more
    rest = client.responses.input_items.list(out.id, order="asc", after=page.last_id)
    assert [i.content[0].text for i in rest.data] == ["and?"] and not rest.has_more
    with pytest.raises(openai.BadRequestError):
        client.responses.input_items.list(out.id, limit=0)
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list("resp_nope")


# --- text.format and tools, on the runs that can do them ------------------------------------------------

PETS = [{"name": "cat", "age": 3}, {"name": "dog", "age": 5}, {"name": "고양이", "age": 12}]
PET_SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}, "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
#: tests/conftest.py's calc tool, in the Responses API's flat form
CALC_FLAT = {"type": "function", "name": CALC["function"]["name"], "description": CALC["function"]["description"],
             "parameters": CALC["function"]["parameters"]}


class Pet(pydantic.BaseModel):
    name: str
    age: int


@pytest.fixture(scope="module")
def json_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A char Markov chain on JSON lines: its vocabulary spells JSON (the shared runs' lacks braces)."""
    return json_markov_run(tmp_path_factory.mktemp("json-run"), PETS)


@pytest.fixture(scope="module")
def able(start_server, json_run: Path, tool_run: Path, tmp_path_factory: pytest.TempPathFactory):
    """A server with the JSON run and the tool-calling run; the client and the tool run's model id."""
    with start_server([json_run, tool_run], tmp_path_factory.mktemp("able-logs")) as live:
        yield openai.OpenAI(base_url=live.api, api_key="unused", max_retries=0, timeout=60), tool_run.name


def test_text_format_json_schema_constrains_the_output(able) -> None:
    client, _ = able
    text = {"format": {"type": "json_schema", "name": "pet", "schema": PET_SCHEMA, "strict": True}}
    for seed in range(4):
        out = client.responses.create(model="pets", input="a pet?", text=text, temperature=1.5,
                                      extra_body={"seed": seed}, max_output_tokens=60)
        assert out.text.format.type == "json_schema"
        if out.status == "completed":  # a cut answer says so (incomplete) and claims nothing
            jsonschema.validate(json.loads(out.output_text), PET_SCHEMA)
    parsed = client.responses.parse(model="pets", input="a pet?", text_format=Pet, temperature=0,
                                    max_output_tokens=60)
    assert parsed.status == "completed" and isinstance(parsed.output_parsed, Pet)
    events = list(client.responses.create(model="pets", input="a pet?", text=text, temperature=0,
                                          max_output_tokens=60, stream=True))
    final = events[-1].response
    assert final.status == "completed" and final.output_text == parsed.output_text
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == final.output_text
    # any JSON object: greedy decoding may go round in circles until cut; sampled answers close it
    answers = [client.responses.create(model="pets", input="a pet?", text={"format": {"type": "json_object"}},
                                       temperature=0.7, extra_body={"seed": seed}, max_output_tokens=100)
               for seed in range(3)]
    assert any(a.status == "completed" for a in answers)
    assert all(isinstance(json.loads(a.output_text), dict) for a in answers if a.status == "completed")


def test_unsupported_schema_keywords_are_400_naming_text_format(able) -> None:
    client, _ = able
    bad = {"type": "object", "properties": {"name": {"type": "string", "pattern": "^c"}}}
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="pets", input="a pet?",
                                text={"format": {"type": "json_schema", "name": "pet", "schema": bad}})
    assert err.value.param.startswith("text.format")


def test_a_function_call_then_its_output_gives_the_answer(able) -> None:
    client, model = able
    out = client.responses.create(model=model, input="7*6?", tools=[CALC_FLAT], temperature=0)
    assert out.status == "completed" and out.tools[0].name == "calc"
    (call,) = [item for item in out.output if item.type == "function_call"]
    assert call.name == "calc" and json.loads(call.arguments) == {"e": "7*6"} and call.id.startswith("fc_")
    result = {"type": "function_call_output", "call_id": call.call_id, "output": "42"}
    # continued on the server (previous_response_id) or by sending the whole exchange back: the same answer
    chained = client.responses.create(model=model, input=[result], previous_response_id=out.id, tools=[CALC_FLAT],
                                      temperature=0)
    resent = client.responses.create(model=model, tools=[CALC_FLAT], temperature=0, input=[
        {"role": "user", "content": "7*6?"}, *[item.model_dump(exclude_none=True) for item in out.output], result])
    assert chained.output_text == resent.output_text == "42"
    assert chained.usage.input_tokens == resent.usage.input_tokens
    assert not [item for item in chained.output if item.type == "function_call"]


def test_tool_choice_forces_a_call_and_a_streamed_call_adds_up(able) -> None:
    client, model = able
    forced = client.responses.create(model=model, input="ping", tools=[CALC_FLAT], tool_choice="required",
                                     temperature=0, max_output_tokens=200)
    assert [item.type for item in forced.output if item.type == "function_call"] == ["function_call"]
    named = client.responses.create(model=model, input="ping", tools=[CALC_FLAT], temperature=0,
                                    tool_choice={"type": "function", "name": "calc"}, max_output_tokens=200)
    assert any(item.type == "function_call" and item.name == "calc" for item in named.output)
    events = list(client.responses.create(model=model, input="12*3?", tools=[CALC_FLAT], tool_choice="required",
                                          temperature=0, stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    (call,) = [item for item in final.output if item.type == "function_call"]
    added = [e for e in events if e.type == "response.output_item.added" and e.item.type == "function_call"]
    assert added and added[0].item.call_id == call.call_id
    assert "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta") == call.arguments
    jsonschema.validate(json.loads(call.arguments), CALC["function"]["parameters"])


def test_langchain_tool_round_trip_over_the_responses_api(able) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_openai import ChatOpenAI

    client, model = able
    llm = ChatOpenAI(model=model, base_url=str(client.base_url), api_key="unused", use_responses_api=True,
                     temperature=0, max_retries=0).bind_tools([CALC])
    asked = HumanMessage("7*6?")
    call_turn = llm.invoke([asked])
    (call,) = call_turn.tool_calls
    assert call["name"] == "calc" and call["args"] == {"e": "7*6"}
    answer = llm.invoke([asked, call_turn, ToolMessage("42", tool_call_id=call["id"])])
    assert answer.text == "42" and not answer.tool_calls
