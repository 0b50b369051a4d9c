"""The token scheduler: requests take turns one token at a time, and a new request goes first."""

from __future__ import annotations

import threading

from genlab.serve.scheduler import TokenScheduler


class CountingTask:
    """A task of ``steps`` tokens that logs each turn; ``then`` runs once, at its ``at``-th turn."""

    def __init__(self, name: str, steps: int, log: list[str], done: threading.Event | None = None,
                 then=None, at: int = -1) -> None:
        self.name, self.steps, self.log, self.done = name, steps, log, done
        self.then, self.at = then, at
        self.turns = 0
        self.started = False

    def advance(self) -> bool:
        self.log.append(self.name)
        self.turns += 1
        self.started = True
        if self.turns == self.at and self.then is not None:
            self.then()
        if self.turns == self.steps:
            if self.done is not None:
                self.done.set()
            return False
        return True


def test_new_request_goes_first_then_turns_alternate() -> None:
    scheduler = TokenScheduler(workers=1)
    log: list[str] = []
    done = threading.Event()
    late = CountingTask("b", 4, log, done)
    scheduler.submit(CountingTask("a", 10, log, then=lambda: scheduler.submit(late), at=3))
    assert done.wait(10)
    scheduler.close()
    # b arrives during a's 3rd turn and takes the very next one; after that they alternate
    assert log[:8] == ["a", "a", "a", "b", "a", "b", "a", "b"]


def test_a_task_that_reports_its_prompt_first_keeps_its_place_in_front() -> None:
    class TwoPhase(CountingTask):
        def advance(self) -> bool:
            alive = super().advance()
            self.started = self.turns >= 2  # turn 1: prompt counted, turn 2: first token
            return alive

    scheduler = TokenScheduler(workers=1)
    log: list[str] = []
    done = threading.Event()
    late = TwoPhase("b", 3, log, done)
    scheduler.submit(CountingTask("a", 10, log, then=lambda: scheduler.submit(late), at=2))
    assert done.wait(10)
    scheduler.close()
    assert log[:5] == ["a", "a", "b", "b", "a"]


def test_several_workers_finish_every_task_once() -> None:
    scheduler = TokenScheduler(workers=3)
    log: list[str] = []
    events = [threading.Event() for _ in range(20)]
    lock = threading.Lock()

    class Locked(CountingTask):
        def advance(self) -> bool:
            with lock:
                return super().advance()

    for i, event in enumerate(events):
        scheduler.submit(Locked(f"t{i}", 5, log, event))
    assert all(e.wait(10) for e in events)
    scheduler.close()
    assert sorted(log) == sorted(f"t{i}" for i in range(20) for _ in range(5))
