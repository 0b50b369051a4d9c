"""The concurrency gate: a bounded line, 429 when it is full, 503 after waiting too long, and a
client that disconnects mid-stream gives its slot back."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

from genlab.errors import GenlabError
from genlab.serve.errors import APIError
from genlab.serve.limits import ConcurrencyGate, ServeLimits


def test_gate_turns_requests_away_when_its_line_is_full() -> None:
    async def scenario() -> None:
        gate = ConcurrencyGate(limit=1, queue=1, timeout=5)
        await gate.acquire()
        waiter = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0.01)
        assert (gate.running, gate.waiting) == (1, 1)
        with pytest.raises(APIError) as err:
            await gate.acquire()
        assert err.value.status == 429 and err.value.code == "queue_full"
        gate.release()
        await asyncio.wait_for(waiter, 1)
        assert (gate.running, gate.waiting) == (1, 0)
        gate.release()
        assert gate.running == 0

    asyncio.run(scenario())


def test_gate_gives_503_after_the_queue_timeout() -> None:
    async def scenario() -> None:
        gate = ConcurrencyGate(limit=1, queue=4, timeout=0.05)
        await gate.acquire()
        with pytest.raises(APIError) as err:
            await gate.acquire()
        assert err.value.status == 503 and gate.waiting == 0 and gate.running == 1

    asyncio.run(scenario())


@pytest.mark.parametrize("bad", [dict(max_concurrency=0), dict(max_queue=-1), dict(queue_timeout=0),
                                 dict(max_tokens_cap=0), dict(max_body_bytes=10)])
def test_limits_are_checked(bad: dict) -> None:
    with pytest.raises(GenlabError):
        ServeLimits(**bad).validate()


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_full_line_429_slow_line_503_and_disconnect_frees_the_slot(markov_run: Path, tmp_path: Path,
                                                                    start_server) -> None:
    flags = ("--max-concurrency", "1", "--max-queue", "1", "--queue-timeout", "2", "--max-tokens-cap", "1000000")
    with start_server([markov_run], tmp_path, *flags) as srv:
        client = openai.OpenAI(base_url=srv.api, api_key="unused", max_retries=0, timeout=30)

        def health() -> dict:
            return httpx.get(srv.url + "/healthz", timeout=10).json()

        short = dict(model="markov-char", prompt="the", max_tokens=5)
        endless = {"model": "markov-char", "prompt": "the", "max_tokens": 1_000_000, "ignore_eos": True,
                   "stream": True}
        with httpx.Client(timeout=30) as http, http.stream("POST", srv.api + "/completions", json=endless) as hog:
            assert hog.status_code == 200
            lines = hog.iter_lines()  # kept: dropping the iterator would close the connection
            assert next(lines).startswith("data: {")  # generating, and holding the only slot
            waited: dict[str, BaseException] = {}

            def wait_in_line() -> None:
                try:
                    client.completions.create(**short)
                except openai.APIStatusError as exc:
                    waited["error"] = exc

            second = threading.Thread(target=wait_in_line)
            second.start()
            _wait_for(lambda: health()["waiting"] == 1, "the second request to queue")
            with pytest.raises(openai.RateLimitError) as err:  # the line (1) is full
                client.completions.create(**short)
            assert err.value.status_code == 429 and err.value.code == "queue_full"
            second.join(30)
            assert isinstance(waited.get("error"), openai.InternalServerError)
            assert waited["error"].status_code == 503
        # the hog hung up mid-stream: its generation stops and the slot comes back
        _wait_for(lambda: health()["generating"] == 0, "the disconnected stream to free its slot")
        out = client.completions.create(**short)
        assert out.choices[0].finish_reason in ("stop", "length")
        assert srv.process.poll() is None
