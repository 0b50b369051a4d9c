"""Continuous batching: every row of a running batch decodes exactly as its request would alone.

The reference is ``genlab.generate.complete`` (one request, decoded on its own). Requests join the
batch at different times, with different prompts, lengths and settings, more of them than there
are slots (rows leave and their slots are reused), and a GPT slides its window mid-answer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from genlab.cli import main as genlab_main
from genlab.errors import GenlabError
from genlab.generate import Delta, SamplingConfig, complete
from genlab.serve import load_runs
from genlab.serve.batcher import Batcher
from genlab.serve.generation import PromptStart, generate_choices

#: (prompt, n, settings): greedy, seeded sampling with every filter, stop strings, logprobs, long prompts
REQUESTS = [
    ("the cat", 1, SamplingConfig(max_tokens=45, temperature=0.0, stop_at_eos=False)),
    ("a dog", 1, SamplingConfig(max_tokens=40, temperature=0.9, seed=1, stop_at_eos=False, top_logprobs=3)),
    ("hello world, this is genlab. " * 3, 1, SamplingConfig(max_tokens=30, temperature=1.2, top_k=5, seed=2)),
    ("안녕", 1, SamplingConfig(max_tokens=35, temperature=0.8, top_p=0.9, seed=3, stop=["다"])),
    ("the", 2, SamplingConfig(max_tokens=20, temperature=1.0, seed=4, stop_at_eos=False)),
    ("", 1, SamplingConfig(max_tokens=25, temperature=0.7, seed=5, stop=[".", "!"])),
    ("the model", 1, SamplingConfig(max_tokens=0)),
    ("a cat sat", 1, SamplingConfig(max_tokens=50, temperature=0.5, seed=6, stop_at_eos=False)),
]


class Collected:
    def __init__(self) -> None:
        self.starts: list[PromptStart] = []
        self.text: dict[int, str] = {}
        self.tokens: dict[int, list[int]] = {}
        self.logprobs: dict[int, list[float]] = {}
        self.tops: dict[int, list[list[int]]] = {}
        self.reasons: dict[int, str | None] = {}


async def _collect(job) -> Collected:
    out = Collected()
    async for ev in job.events():
        if isinstance(ev, PromptStart):
            out.starts.append(ev)
            continue
        assert isinstance(ev, Delta)
        out.text[ev.index] = out.text.get(ev.index, "") + ev.text
        if ev.token is not None:
            out.tokens.setdefault(ev.index, []).append(ev.token.id)
            out.logprobs.setdefault(ev.index, []).append(ev.token.logprob)
            out.tops.setdefault(ev.index, []).append([t for t, _, _ in ev.token.top])
        if ev.finish_reason:
            out.reasons[ev.index] = ev.finish_reason
    return out


def _run(served, requests, max_batch: int, stagger: float = 0.0, **kw) -> list[Collected]:
    """Submit ``requests`` to one batcher (``stagger`` seconds apart) and collect every event."""
    async def scenario() -> list[Collected]:
        batcher = Batcher(served, max_batch, **kw)
        released: list[int] = []
        tasks = []
        try:
            for i, (prompt, n, cfg) in enumerate(requests):
                job = batcher.submit(generate_choices(served, [prompt], n, cfg), lambda i=i: released.append(i))
                tasks.append(asyncio.create_task(_collect(job)))
                if stagger:
                    await asyncio.sleep(stagger)
            results = await asyncio.gather(*tasks)
        finally:
            batcher.close()
        assert sorted(released) == list(range(len(requests)))  # every request freed its slot once
        return results

    return asyncio.run(scenario())


@pytest.fixture(scope="module")
def lstm_run(runs_root: Path, corpus_file: Path) -> Path:
    run = runs_root / "lstm-tiny"
    for argv in (["prepare", "--corpus", str(corpus_file), "--unit", "line", "--out", str(run), "--quiet"],
                 ["train", str(run), "--model", "lstm", "--n-layer", "2", "--n-embd", "24", "--block-size", "16",
                  "--batch-size", "4", "--max-steps", "5", "--quiet"]):
        assert genlab_main(argv) == 0
    return run


@pytest.fixture(params=["gpt", "lstm", "markov"])
def served(request, gpt_run: Path | None, lstm_run: Path, markov_run: Path):
    run = {"gpt": gpt_run, "lstm": lstm_run, "markov": markov_run}[request.param]
    if run is None:
        pytest.skip("the GPT family is not installed")
    return next(iter(load_runs([run])))


@pytest.mark.parametrize("max_batch,stagger", [(8, 0.0), (3, 0.01)])
def test_every_row_decodes_as_its_request_would_alone(served, max_batch: int, stagger: float) -> None:
    """Same tokens, text, finish reasons and logprobs as ``complete``; 3 slots for 9 rows: slots are reused."""
    results = _run(served, REQUESTS, max_batch, stagger, prefill_chunk=8)  # long prompts take several chunks
    for (prompt, n, cfg), got in zip(REQUESTS, results):
        expected = complete(served.model, served.tokenizer, prompt, cfg, num=n)
        assert [s.tokens for s in got.starts] == [len(served.tokenizer.encode(prompt))]
        for i, want in enumerate(expected):
            if n > 1:  # each choice has a generator of its own here (module docstring of genlab.serve.batcher)
                assert got.reasons[i] == want.finish_reason and len(got.tokens[i]) == len(want.tokens)
                continue
            assert got.tokens.get(i, []) == [t.id for t in want.tokens], (prompt, cfg)
            assert got.text.get(i, "") == want.text
            assert got.reasons[i] == want.finish_reason
            assert got.logprobs.get(i, []) == pytest.approx([t.logprob for t in want.tokens], abs=1e-4)
            if cfg.top_logprobs:
                assert got.tops[i] == [[a for a, _, _ in t.top] for t in want.tokens]


def test_seeded_and_greedy_requests_are_the_same_alone_and_in_a_batch_of_8(served) -> None:
    """What genlab guarantees (genlab.serve.batcher): a request's tokens do not depend on its neighbours."""
    probe = [("the cat", 1, SamplingConfig(max_tokens=64, temperature=0.0, stop_at_eos=False)),
             ("a dog", 1, SamplingConfig(max_tokens=64, temperature=1.0, seed=11, stop_at_eos=False))]
    others = [(f"{w} ", 1, SamplingConfig(max_tokens=30 + 5 * k, temperature=0.9, seed=100 + k, top_k=4 + k))
              for k, w in enumerate(["hello", "생성형", "the model", "park", "오늘", "world"])]
    for request in probe:
        alone = _run(served, [request], 8)[0]
        crowded = _run(served, [others[0], others[1], request, *others[2:]], 8, stagger=0.002)[2]
        assert crowded.tokens == alone.tokens and len(alone.tokens[0]) == 64


def test_n_choices_and_several_prompts_are_numbered_as_openai_does(served) -> None:
    cfg = SamplingConfig(max_tokens=6, temperature=1.0, seed=3, stop_at_eos=False)
    job_prompts = ["the", "a dog"]

    async def scenario():
        batcher = Batcher(served, 4)
        try:
            return await _collect(batcher.submit(generate_choices(served, job_prompts, 3, cfg), lambda: None))
        finally:
            batcher.close()

    got = asyncio.run(scenario())
    assert [s.tokens for s in got.starts] == [len(served.tokenizer.encode(p)) for p in job_prompts]
    assert sorted(got.reasons) == list(range(6)) and all(len(t) == 6 for t in got.tokens.values())
    # choice 0 is the one-choice request with the same seed
    assert _run(served, [("the", 1, cfg)], 4)[0].tokens[0] == got.tokens[0]
    # the same seed gives the same choices again, whatever the batch's size (2 slots: the third waits its turn)
    assert _run(served, [("the", 3, cfg)], 4)[0].tokens == _run(served, [("the", 3, cfg)], 2)[0].tokens


def test_a_cancelled_row_leaves_at_once_and_the_others_go_on(markov_run: Path) -> None:
    served = next(iter(load_runs([markov_run])))
    endless = SamplingConfig(max_tokens=100_000, temperature=1.0, seed=1, stop_at_eos=False)
    short = ("the", 1, SamplingConfig(max_tokens=30, temperature=0.0, stop_at_eos=False))

    async def scenario():
        batcher = Batcher(served, 2)
        released: list[str] = []
        try:
            hog = batcher.submit(generate_choices(served, ["a"], 1, endless), lambda: released.append("hog"))
            events = hog.events()
            await events.__anext__()  # the prompt started
            await events.__anext__()  # and a token came
            hog.cancel()
            for _ in range(200):
                if released:
                    break
                await asyncio.sleep(0.01)
            assert released == ["hog"]
            job = batcher.submit(generate_choices(served, [short[0]], 1, short[2]), lambda: released.append("short"))
            got = await _collect(job)
        finally:
            batcher.close()
        return got, released

    got, released = asyncio.run(scenario())
    assert released == ["hog", "short"]
    assert got.tokens[0] == [t.id for t in complete(served.model, served.tokenizer, short[0], short[2])[0].tokens]


def test_a_bad_request_fails_alone_and_the_batch_goes_on(markov_run: Path) -> None:
    served = next(iter(load_runs([markov_run])))
    cfg = SamplingConfig(max_tokens=20, temperature=0.0, stop_at_eos=False)

    async def scenario():
        batcher = Batcher(served, 4)
        try:
            good = batcher.submit(generate_choices(served, ["the"], 1, cfg), lambda: None)
            bad = batcher.submit(generate_choices(served, [[10_000]], 1, cfg), lambda: None)  # an id past the vocab
            with pytest.raises(GenlabError, match="outside the model's vocabulary"):
                await _collect(bad)
            return await _collect(good)
        finally:
            batcher.close()

    assert len(asyncio.run(scenario()).tokens[0]) == 20
