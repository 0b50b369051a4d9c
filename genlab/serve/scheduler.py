"""Interleaving many requests' generation on a few worker threads, one token at a time.

A thread per request would let every request compete for the CPU at once: a new request's prompt
then gets a fraction of the machine and its first token waits behind everyone else's tokens. Here a
few workers (about one per core) take turns over the admitted requests instead: each turn advances
one request by one token, requests that have not produced a token yet go first (so the time to first
token is about one token's wait plus the prompt's own prefill), and the rest go round-robin (so every
stream keeps moving). Throughput is the same as with threads; latency to first token is far lower.
"""

from __future__ import annotations

import collections
import threading
from typing import Protocol

from genlab.serve.compute_threads import computing_thread


class Task(Protocol):
    #: True once the task has produced its first token; until then it is served first
    started: bool

    def advance(self) -> bool:
        """Do one unit of work (one token); False when the task has finished, failed or been cancelled."""
        ...


class TokenScheduler:
    def __init__(self, workers: int, threads: int | None = None) -> None:
        self.workers = max(1, workers)
        self.threads = threads  # PyTorch threads of each worker (genlab.serve.compute_threads)
        self._cond = threading.Condition()
        self._fresh: collections.deque[Task] = collections.deque()
        self._active: collections.deque[Task] = collections.deque()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, task: Task) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the scheduler has shut down")
            self._fresh.append(task)
            while len(self._threads) < self.workers:  # started on first use, inside the serving process
                thread = threading.Thread(target=self._work, name=f"genlab-generate-{len(self._threads)}",
                                          daemon=True)
                thread.start()
                self._threads.append(thread)
            self._cond.notify()

    def close(self) -> None:
        """Stop the workers after their current turn (tasks still queued are dropped)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _take(self) -> Task | None:
        with self._cond:
            while not (self._fresh or self._active or self._closed):
                self._cond.wait()
            if self._closed:
                return None
            return self._fresh.popleft() if self._fresh else self._active.popleft()

    def _work(self) -> None:
        computing_thread(self.threads)
        while (task := self._take()) is not None:
            if not task.advance():
                continue
            with self._cond:
                if task.started:
                    self._active.append(task)
                else:  # still before its first token (e.g. it just reported its prompt): keep it in front
                    self._fresh.appendleft(task)
                self._cond.notify()
