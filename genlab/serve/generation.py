"""Generation off the event loop: requests are advanced token by token on worker threads.

The event loop only parses requests and writes bytes, so one long generation never blocks another
request or ``/healthz``. Results come back to the loop one event at a time; the job checks a cancel
flag before every token, so a client that goes away stops the work within one token, and the
request's concurrency slot is given back the moment its work stops (``on_done``). Which request's
token is computed next is the scheduler's choice (``genlab.serve.scheduler``).
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


@dataclass
class PromptStart:
    """Sent before a prompt's choices: how many tokens the prompt had (for ``usage``)."""

    tokens: int
    text_length: int  # characters, where the completion's ``text_offset`` starts


def generate_choices(served: ServedModel, prompts: Sequence[str | list[int]], n: int,
                     cfg: SamplingConfig) -> Iterator[PromptStart | Delta]:
    """``n`` choices per prompt, numbered across prompts as OpenAI does (prompt ``p``, sample ``i`` → ``p·n+i``)."""
    tokenizer = served.tokenizer
    for p, prompt in enumerate(prompts):
        ids = tokenizer.encode(prompt) if isinstance(prompt, str) else list(prompt)
        yield PromptStart(len(ids), len(prompt) if isinstance(prompt, str) else len(tokenizer.decode(ids)))
        for delta in stream(served.model, tokenizer, ids, cfg, num=n, device=served.device):
            delta.index += p * n
            yield delta


class ClientGone(Exception):
    """The client disconnected before its (non-streamed) answer was ready."""


_ITEM, _END, _ERROR = range(3)


class GenerationJob:
    """One request's generation, advanced token by token by the scheduler's worker threads.

    Items go back to the event loop in order; ``on_done`` runs (on a worker thread) as soon as the work
    stops, whether it finished, failed or was cancelled.
    """

    def __init__(self, produce: Callable[[], Iterator[Any]], on_done: Callable[[], None],
                 scheduler: TokenScheduler) -> None:
        self._loop = asyncio.get_running_loop()
        self._items: collections.deque[tuple[int, Any]] = collections.deque()
        self._ready = asyncio.Event()
        self._cancel = threading.Event()
        self._produce = produce
        self._iterator: Iterator[Any] | None = None
        self._on_done: Callable[[], None] | None = on_done
        self._reason: BaseException | None = None
        self.started = False
        scheduler.submit(self)

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

    def advance(self) -> bool:
        """One item (on a worker thread); False once there will be no more."""
        if self._cancel.is_set():
            if self._reason is not None:
                self._send(_ERROR, self._reason)
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
            self._send(_END, None)
            self._finish()
            return False
        except BaseException as exc:  # reported to the request, never lost on a worker
            self._send(_ERROR, exc)
            self._finish()
            return False
        if isinstance(item, Delta):
            self.started = True
        self._send(_ITEM, item)
        return True

    def _finish(self) -> None:
        close = getattr(self._iterator, "close", None)
        if close is not None:
            with torch.inference_mode():
                close()
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


@dataclass
class Choice:
    """Everything one choice produced, for a non-streamed answer."""

    index: int
    text: list[str] = field(default_factory=list)
    tokens: list[TokenInfo] = field(default_factory=list)
    finish_reason: str = "length"
    prompt_text_length: int = 0


@dataclass
class Collected:
    choices: list[Choice]
    prompt_tokens: int
    completion_tokens: int


async def collect(job: GenerationJob, n: int, disconnected: Callable[[], Awaitable[bool]]) -> Collected:
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
            choice.text.append(event.text)
            if event.token is not None:
                choice.tokens.append(event.token)
                completion_tokens += 1
            if event.finish_reason:
                choice.finish_reason = event.finish_reason
    finally:
        job.cancel()  # no-op when finished; stops the work if this request was cancelled
    return Collected(choices, prompt_tokens, completion_tokens)


async def collect_answer(job: GenerationJob, n: int, disconnected: Callable[[], Awaitable[bool]]) -> Collected | None:
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
