"""Generation jobs: a stream advanced turn by turn on different threads gives the same text as one
uninterrupted stream, and a cancelled job stops and frees its slot exactly once."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from genlab.generate import Delta, SamplingConfig, complete
from genlab.serve import load_runs
from genlab.serve.generation import GenerationJob, JobEvents, Outbox, PromptStart, generate_choices


class ManualScheduler:
    """Takes the job and lets the test decide which thread advances it."""

    def submit(self, task) -> None:
        self.task = task


def _run_on_alternating_threads(served, prompt: str, cfg: SamplingConfig, n: int) -> tuple[list[str], int]:
    released = []

    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        job = GenerationJob(lambda: generate_choices(served, [prompt], n, cfg), lambda: released.append(1),
                            ManualScheduler())
        threads = [ThreadPoolExecutor(1) for _ in range(3)]  # 3: model steps land on every thread, for any n
        turn = 0
        while await loop.run_in_executor(threads[turn % 3], job.advance):
            turn += 1
        for pool in threads:
            pool.shutdown()
        texts = [""] * n
        async for event in job.events():
            if isinstance(event, Delta):
                texts[event.index] += event.text
            else:
                assert isinstance(event, PromptStart)
        return texts

    return asyncio.run(scenario()), len(released)


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("which", ["gpt", "markov"])
def test_turns_on_different_threads_give_the_same_text(which: str, n: int, gpt_run: Path | None,
                                                       markov_run: Path) -> None:
    run = gpt_run if which == "gpt" else markov_run
    if run is None:
        pytest.skip("the GPT family is not installed")
    served = next(iter(load_runs([run])))
    cfg = SamplingConfig(max_tokens=40, temperature=0.9, seed=5, stop_at_eos=False)  # GPT: slides past its block
    texts, released = _run_on_alternating_threads(served, "the cat", cfg, n=n)
    expected = complete(served.model, served.tokenizer, "the cat", cfg, num=n)
    assert texts == [c.text for c in expected]
    assert released == 1


def test_a_cancelled_job_stops_and_frees_its_slot_once(markov_run: Path) -> None:
    served = next(iter(load_runs([markov_run])))
    released = []

    async def scenario() -> None:
        job = GenerationJob(lambda: generate_choices(served, ["the"], 1, SamplingConfig(max_tokens=1000)),
                            lambda: released.append(1), ManualScheduler())
        assert job.advance() and job.advance()
        job.cancel()
        assert not job.advance()
        assert not job.advance()

    asyncio.run(scenario())
    assert released == [1]


def test_an_outbox_hands_over_events_in_order_only_when_flushed() -> None:
    """A batcher posts an iteration's events for many jobs and wakes the event loop once."""
    async def scenario() -> tuple[list, list, list]:
        outbox = Outbox()
        released: list[int] = []
        a, b = JobEvents(lambda: released.append(1), outbox), JobEvents(lambda: released.append(2), outbox)

        def produce() -> None:  # the computing thread
            for i in range(3):
                a.send(("a", i))
                b.send(("b", i))
            a.end()

        await asyncio.get_running_loop().run_in_executor(None, produce)
        await asyncio.sleep(0.01)
        assert not a._items and not b._items and released == [1]  # nothing delivered yet; the slot is free at once
        outbox.flush()
        got_a = [e async for e in a.events()]
        b.send(("b", 3))
        b.end(RuntimeError("boom"))
        outbox.flush()
        got_b = []
        with pytest.raises(RuntimeError, match="boom"):
            async for e in b.events():
                got_b.append(e)
        return got_a, got_b, released

    got_a, got_b, released = asyncio.run(scenario())
    assert got_a == [("a", i) for i in range(3)]
    assert got_b == [("b", i) for i in range(4)]
    assert released == [1, 2]
