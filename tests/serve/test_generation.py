"""Generation jobs: a stream advanced turn by turn on different threads gives the same text as one
uninterrupted stream, and a cancelled job stops and frees its slot exactly once."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from genlab.generate import Delta, SamplingConfig, complete
from genlab.serve import load_runs
from genlab.serve.generation import GenerationJob, PromptStart, generate_choices


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
