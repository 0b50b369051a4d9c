"""The server's limits, and the gate that keeps generation from swamping the machine.

Generation is CPU- or GPU-bound: every request admitted makes the others' tokens come slower. So at
most ``max_concurrency`` generate at a time (taking turns on ``workers`` threads), at most
``max_queue`` more wait for a slot, and the rest are turned away at once with 429 (a client can retry)
rather than piling up; a request that waits longer than ``queue_timeout`` gets 503.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from dataclasses import dataclass

from genlab.errors import GenlabError
from genlab.serve.errors import APIError

#: most rows in one running batch (its KV cache is allocated up front)
MAX_BATCH = 256


@dataclass(frozen=True)
class ServeLimits:
    #: requests generating at once (they take turns, token by token, on ``workers`` threads)
    max_concurrency: int = 8
    max_queue: int = 32
    #: threads that compute tokens: about one per CPU core (or one per GPU); used when ``max_batch`` is 1
    workers: int = 1
    #: rows (choices) a language model decodes in one batched step; 1: each request on its own
    #: (the default is ``genlab serve --max-batch``'s, measured with benchmarks/serve_load.py)
    max_batch: int = 8
    #: PyTorch CPU threads of each thread that computes tokens (None: PyTorch's default)
    threads: int | None = None
    queue_timeout: float = 30.0
    #: largest ``max_tokens`` a request may ask for (also the chat default)
    max_tokens_cap: int = 1024
    max_body_bytes: int = 1_000_000
    #: largest number of choices (prompts × ``n``) in one request
    max_choices: int = 16
    #: most alternatives per token (``logprobs`` / ``top_logprobs``)
    max_top_logprobs: int = 20
    #: ``/v1/responses`` kept in memory for ``previous_response_id`` (least recently used dropped first)
    max_stored_responses: int = 1000

    def validate(self) -> None:
        if self.max_concurrency < 1:
            raise GenlabError("--max-concurrency must be ≥ 1")
        if self.workers < 1:
            raise GenlabError("--workers must be ≥ 1")
        if self.threads is not None and self.threads < 1:
            raise GenlabError("--threads must be ≥ 1")
        if not 1 <= self.max_batch <= MAX_BATCH:
            raise GenlabError(f"--max-batch must be between 1 and {MAX_BATCH}")
        if self.max_queue < 0:
            raise GenlabError("--max-queue must be ≥ 0")
        if not self.queue_timeout > 0:
            raise GenlabError("--queue-timeout must be > 0")
        if self.max_tokens_cap < 1:
            raise GenlabError("--max-tokens-cap must be ≥ 1")
        if self.max_stored_responses < 0:
            raise GenlabError("--max-stored-responses must be ≥ 0")
        if self.max_body_bytes < 1024:
            raise GenlabError("--max-body-bytes must be ≥ 1024")


class ConcurrencyGate:
    """A counting semaphore with a bounded, first-come-first-served waiting line.

    ``release`` may be called from any thread (a generation thread calls it the moment it ends), and
    the gate is tied to no event loop, so a slot is never lost because a loop went away.
    """

    def __init__(self, limit: int, queue: int, timeout: float) -> None:
        self.limit = limit
        self.queue = queue
        self.timeout = timeout
        self.running = 0
        self._lock = threading.Lock()
        self._line: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = collections.deque()

    @property
    def waiting(self) -> int:
        return len(self._line)

    async def acquire(self) -> None:
        """Take a slot, waiting in line if there is room in it; raises 429 or 503 otherwise."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self.running < self.limit and not self._line:
                self.running += 1
                return
            if len(self._line) >= self.queue:
                raise APIError(429, f"server busy: {self.running} requests generating and {len(self._line)} "
                               "waiting; retry shortly", type="rate_limit_error", code="queue_full",
                               headers={"Retry-After": "1"})
            place = (loop, loop.create_future())
            self._line.append(place)
        try:
            await asyncio.wait_for(place[1], self.timeout)
        except BaseException as exc:  # timed out, or the request was cancelled while waiting
            with self._lock:
                if place in self._line:
                    self._line.remove(place)
                    handed = False
                else:  # release() picked this place; the slot is ours if the hand-over already ran
                    handed = place[1].done() and not place[1].cancelled()
            if handed:
                self.release()  # (if it has not run yet, _hand_over finds the future done and passes it on)
            if isinstance(exc, asyncio.TimeoutError):  # the builtin TimeoutError only from Python 3.11
                raise APIError(503, f"server overloaded: no generation slot freed up within {self.timeout:g} s; "
                               "retry later", type="server_error", code="overloaded",
                               headers={"Retry-After": "5"}) from None
            raise

    def release(self) -> None:
        """Give the slot to the first in line, or free it."""
        with self._lock:
            if not self._line:
                self.running -= 1
                return
            loop, future = self._line.popleft()
        try:
            loop.call_soon_threadsafe(self._hand_over, future)
        except RuntimeError:  # that request's loop has closed: pass the slot on
            self.release()

    def _hand_over(self, future: asyncio.Future) -> None:
        if future.done():  # the waiter gave up meanwhile
            self.release()
        else:
            future.set_result(None)
