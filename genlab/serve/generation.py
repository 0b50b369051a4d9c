"""Generation off the event loop: requests are advanced token by token on worker threads.

The event loop only parses requests and writes bytes, so one long generation never blocks another
request or ``/healthz``. Results come back to the loop one event at a time; the job checks a cancel
flag before every token, so a client that goes away stops the work within one token, and the
request's concurrency slot is given back the moment its work stops (``on_done``). Which request's
token is computed next is the scheduler's choice (``genlab.serve.scheduler``), or, with
``--max-batch`` above 1, a language model's batcher advances every running request with one batched
step (``genlab.serve.batcher``); both hand the loop the same events through a :class:`JobEvents`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from genlab.generate import Delta, SamplingConfig, TokenInfo, stream
from genlab.serve.errors import APIError, log
from genlab.serve.registry import ServedModel
from genlab.serve.scheduler import TokenScheduler
from genlab.tokenizers import Tokenizer


@dataclass
class PromptStart:
    """Sent before a prompt's choices: how many tokens the prompt had (for ``usage``)."""

    tokens: int
    text_length: int  # characters, where the completion's ``text_offset`` starts


class ChoiceStream(Iterator):
    """What a request asks for (model, prompts, ``n``, sampling) and, iterated, its events one by one.

    Iterating it decodes the request on its own (``genlab.generate.stream``); a batcher reads the same
    fields instead and decodes the request's rows inside its running batch. Nothing runs until then.
    """

    def __init__(self, served: ServedModel, prompts: Sequence[str | list[int]], n: int,
                 cfg: SamplingConfig) -> None:
        self.served, self.prompts, self.n, self.cfg = served, list(prompts), n, cfg
        self._events: Iterator[PromptStart | Delta] | None = None

    def __next__(self) -> PromptStart | Delta:
        if self._events is None:
            self._events = self._generate()
        return next(self._events)

    def close(self) -> None:
        close = getattr(self._events, "close", None)
        if close is not None:
            close()

    def _generate(self) -> Iterator[PromptStart | Delta]:
        tokenizer, n = self.served.tokenizer, self.n
        for p, prompt in enumerate(self.prompts):
            ids = tokenizer.encode(prompt) if isinstance(prompt, str) else list(prompt)
            yield prompt_start(tokenizer, prompt, ids)
            for delta in stream(self.served.model, tokenizer, ids, self.cfg, num=n, device=self.served.device):
                delta.index += p * n
                yield delta


def prompt_start(tokenizer: Tokenizer, prompt: str | list[int], ids: list[int]) -> PromptStart:
    """The event before a prompt's choices (its length in tokens, and in characters as given)."""
    return PromptStart(len(ids), len(prompt) if isinstance(prompt, str) else len(tokenizer.decode(ids)))


def generate_choices(served: ServedModel, prompts: Sequence[str | list[int]], n: int,
                     cfg: SamplingConfig) -> ChoiceStream:
    """``n`` choices per prompt, numbered across prompts as OpenAI does (prompt ``p``, sample ``i`` → ``p·n+i``)."""
    return ChoiceStream(served, prompts, n, cfg)


class ClientGone(Exception):
    """The client disconnected before its (non-streamed) answer was ready."""


_ITEM, _END, _ERROR = range(3)


class JobEvents:
    """A request's events on their way from the thread that computes them to the event loop.

    Items go back to the event loop in order; ``on_done`` runs (on the computing thread) as soon as the
    work stops, whether it finished, failed or was cancelled. Made on the event loop's thread.
    """

    def __init__(self, on_done: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._items: collections.deque[tuple[int, Any]] = collections.deque()
        self._ready = asyncio.Event()
        self._cancel = threading.Event()
        self._on_done: Callable[[], None] | None = on_done
        self._reason: BaseException | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self, reason: BaseException | None = None) -> None:
        """Stop before the next token; with a ``reason``, whoever waits on ``events`` gets it raised."""
        if reason is not None and self._reason is None:
            self._reason = reason
        self._cancel.set()

    def _push(self, kind: int, item: Any) -> None:  # on the loop's thread
        self._items.append((kind, item))
        self._ready.set()

    def _send(self, kind: int, item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: the server is shutting down
            self._loop.call_soon_threadsafe(self._push, kind, item)

    def send(self, item: Any) -> None:
        """One event for the request (from the computing thread)."""
        self._send(_ITEM, item)

    def end(self, error: BaseException | None = None) -> None:
        """No more events: the request finished (or failed with ``error``, or was cancelled); frees its slot."""
        self._release()  # first: a client that sends its next request at once finds the slot free
        if self._cancel.is_set():
            error = self._reason
            if error is None:  # cancelled by its own reader, who has stopped reading
                return
        self._send(_END, None) if error is None else self._send(_ERROR, error)

    def _release(self) -> None:
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done()  # thread-safe (ConcurrencyGate.release): the slot is free as soon as the work stops

    async def events(self, disconnected: Callable[[], Awaitable[bool]] | None = None,
                     poll_seconds: float = 0.5) -> AsyncIterator[Any]:
        """The produced items; a producer's exception is raised here.

        With ``disconnected``, the client is checked every ``poll_seconds`` while waiting and the job is
        cancelled (``ClientGone`` raised) once it has gone.
        """
        while True:
            while not self._items:
                self._ready.clear()
                if disconnected is None:
                    await self._ready.wait()
                    continue
                try:
                    await asyncio.wait_for(self._ready.wait(), poll_seconds)
                except asyncio.TimeoutError:
                    if await disconnected():
                        self.cancel()
                        raise ClientGone() from None
            kind, item = self._items.popleft()
            if kind == _END:
                return
            if kind == _ERROR:
                raise item
            yield item


class GenerationJob(JobEvents):
    """One request's generation, advanced token by token by the scheduler's worker threads."""

    def __init__(self, produce: Callable[[], Iterator[Any]], on_done: Callable[[], None],
                 scheduler: TokenScheduler) -> None:
        super().__init__(on_done)
        self._produce = produce
        self._iterator: Iterator[Any] | None = None
        self.started = False
        scheduler.submit(self)

    def advance(self) -> bool:
        """One item (on a worker thread); False once there will be no more."""
        if self._cancel.is_set():
            self._finish()
            return False
        try:
            # the generator may resume on another worker thread than last turn, and inference mode is per
            # thread: set it around every turn (and around close) so each thread's state stays balanced
            with torch.inference_mode():
                if self._iterator is None:
                    self._iterator = self._produce()
                item = next(self._iterator)
        except StopIteration:
            self._finish()
            return False
        except BaseException as exc:  # reported to the request, never lost on a worker
            self._finish(exc)
            return False
        if isinstance(item, Delta):
            self.started = True
        self.send(item)
        return True

    def _finish(self, error: BaseException | None = None) -> None:
        close = getattr(self._iterator, "close", None)
        if close is not None:
            with torch.inference_mode():
                close()
        self.end(error)


@dataclass
class Choice:
    """Everything one choice produced, for a non-streamed answer."""

    index: int
    text: list[str] = field(default_factory=list)
    tokens: list[TokenInfo] = field(default_factory=list)
    finish_reason: str = "length"
    prompt_text_length: int = 0
    #: every event of the choice, in order (a chat turn is read back from them: text, then tool calls)
    deltas: list[Delta] = field(default_factory=list)


@dataclass
class Collected:
    choices: list[Choice]
    prompt_tokens: int
    completion_tokens: int


async def collect(job: JobEvents, n: int, disconnected: Callable[[], Awaitable[bool]]) -> Collected:
    """Run a job to the end; choices are created as their prompt starts (``n`` per prompt)."""
    choices: list[Choice] = []
    prompt_tokens = completion_tokens = 0
    try:
        async for event in job.events(disconnected):
            if isinstance(event, PromptStart):
                prompt_tokens += event.tokens
                first = len(choices)
                choices.extend(Choice(first + i, prompt_text_length=event.text_length) for i in range(n))
                continue
            choice = choices[event.index]
            choice.deltas.append(event)
            choice.text.append(event.text)
            if event.token is not None:
                choice.tokens.append(event.token)
                completion_tokens += 1
            if event.finish_reason:
                choice.finish_reason = event.finish_reason
    finally:
        job.cancel()  # no-op when finished; stops the work if this request was cancelled
    return Collected(choices, prompt_tokens, completion_tokens)


async def collect_answer(job: JobEvents, n: int, disconnected: Callable[[], Awaitable[bool]]) -> Collected | None:
    """:func:`collect` for a non-streamed answer: None when the client left, errors as the client sees them."""
    try:
        return await collect(job, n, disconnected)
    except ClientGone:
        return None
    except Exception as exc:
        raise generation_failed(exc) from exc


def generation_failed(exc: BaseException) -> APIError:
    """An error raised while generating, as the client should see it."""
    from genlab.errors import GenlabError

    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, GenlabError):
        return APIError(400, str(exc), code="generation_refused")
    log.error("generation failed", exc_info=exc)
    return APIError(500, "generation failed inside the model (see the server's log)", type="server_error",
                    code="generation_failed")
