"""LangChain's ``ChatOpenAI`` against ``genlab serve``, unchanged: tools bound, and structured output."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

langchain_openai = pytest.importorskip("langchain_openai")
from langchain_core.messages import HumanMessage, ToolMessage  # noqa: E402
from langchain_core.tools import tool  # noqa: E402


@tool
def calc(e: str) -> str:
    """Multiply."""
    left, right = e.split("*")
    return str(int(left) * int(right))


class greet(BaseModel):  # noqa: N801 -- the function name the model writes: the char run knows no capitals
    """Greet someone."""

    who: Literal["cat", "world"]
    n: int = Field(ge=1, le=7)


@pytest.fixture(scope="module")
def chat_model(tool_run: Path, start_server, tmp_path_factory: pytest.TempPathFactory):
    with start_server([tool_run], tmp_path_factory.mktemp("langchain-logs")) as live:
        yield langchain_openai.ChatOpenAI(base_url=live.api, api_key="anything", model=tool_run.name,
                                          temperature=0, max_retries=0, timeout=60)


def test_bind_tools_calls_the_tool_and_continues_with_its_result(chat_model):
    bound = chat_model.bind_tools([calc])
    question = HumanMessage("7*6?")
    reply = bound.invoke([question])
    (call,) = reply.tool_calls
    assert call["name"] == "calc" and call["args"] == {"e": "7*6"} and call["id"].startswith("call_")
    result = ToolMessage(calc.invoke(call["args"]), tool_call_id=call["id"])
    answer = bound.invoke([question, reply, result])
    assert answer.content == "42" and not answer.tool_calls
    streamed = None
    for chunk in bound.stream([question]):
        streamed = chunk if streamed is None else streamed + chunk
    assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [("calc", {"e": "7*6"})]


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_with_structured_output_returns_a_valid_pydantic_object(chat_model, method):
    for seed in range(3):  # hot sampling: the constraint, not the model, keeps the output valid
        hot = chat_model.model_copy(update={"temperature": 1.5, "seed": seed})
        out = hot.with_structured_output(greet, method=method).invoke("ping")
        assert isinstance(out, greet) and out.who in ("cat", "world") and 1 <= out.n <= 7
