"""What every request handler needs: the models, the limits, the gate, the API key."""

from __future__ import annotations

import hmac
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from genlab.serve.batcher import Batcher
from genlab.serve.errors import APIError
from genlab.serve.generation import ChoiceStream, GenerationJob, JobEvents
from genlab.serve.limits import ConcurrencyGate, ServeLimits
from genlab.serve.registry import ModelRegistry, ServedModel
from genlab.serve.response_store import ResponseStore
from genlab.serve.scheduler import TokenScheduler


@dataclass
class ServeState:
    registry: ModelRegistry
    limits: ServeLimits = field(default_factory=ServeLimits)
    api_key: str | None = None
    gate: ConcurrencyGate = field(init=False)
    scheduler: TokenScheduler = field(init=False)
    #: model id → its running batch (with ``max_batch`` > 1; encoder-decoders have none)
    batchers: dict[str, Batcher] = field(init=False, default_factory=dict)
    closing: bool = field(init=False, default=False)
    #: ``/v1/responses`` kept for ``previous_response_id`` and ``GET /v1/responses/{id}``
    responses: ResponseStore = field(init=False)
    _jobs: weakref.WeakSet[JobEvents] = field(init=False, default_factory=weakref.WeakSet)

    def __post_init__(self) -> None:
        self.limits.validate()
        self.gate = ConcurrencyGate(self.limits.max_concurrency, self.limits.max_queue, self.limits.queue_timeout)
        self.scheduler = TokenScheduler(self.limits.workers, self.limits.threads)
        self.responses = ResponseStore(self.limits.max_stored_responses)
        if self.limits.max_batch > 1:
            self.batchers = {m.id: Batcher(m, self.limits.max_batch, threads=self.limits.threads)
                             for m in self.registry if not m.is_seq2seq}

    def close(self) -> None:
        """Stop the threads that compute tokens (at the end of the server's life)."""
        self.scheduler.close()
        for batcher in self.batchers.values():
            batcher.close()

    def shut_down(self) -> None:
        """Refuse new generations and end running ones with an error, so shutdown never waits on a long stream."""
        self.closing = True
        for job in list(self._jobs):
            job.cancel(_shutting_down())

    def language_model(self, model_id: str) -> ServedModel:
        served = self.registry.get(model_id)
        if served.is_seq2seq:
            raise APIError(400, f"{served.id} is an encoder-decoder (translation) model; it cannot continue a "
                           "prompt: use `genlab translate` for it", param="model", code="model_not_supported")
        return served

    async def start(self, produce: Callable[[], Iterator[Any]]) -> JobEvents:
        """Wait for a generation slot (429/503 when the line is full), then hand the request to its model's
        batcher, or (``--max-batch 1``, or work that is not a ``generate_choices`` request) to the scheduler."""
        if self.closing:
            raise _shutting_down()
        await self.gate.acquire()
        try:
            if self.closing:
                raise _shutting_down()
            work = produce()  # generate_choices only describes the work: nothing runs on the event loop
            batcher = self.batchers.get(work.served.id) if isinstance(work, ChoiceStream) else None
            if batcher is not None and batcher.served is work.served:
                job = batcher.submit(work, on_done=self.gate.release)
            else:
                job = GenerationJob(lambda: work, on_done=self.gate.release, scheduler=self.scheduler)
        except BaseException:
            self.gate.release()
            raise
        self._jobs.add(job)
        return job


def _shutting_down() -> APIError:
    return APIError(503, "the server is shutting down; retry on another server or later", type="server_error",
                    code="shutting_down")


def serve_state(request: Request) -> ServeState:
    return request.app.state.genlab


def check_api_key(expected: str | None, authorization: str | None) -> None:
    """``Authorization: Bearer KEY``, compared in constant time so timing reveals nothing about the key."""
    if expected is None:
        return
    scheme, _, token = (authorization or "").strip().partition(" ")
    given = token.strip() if scheme.lower() == "bearer" else ""
    if not given:
        raise APIError(401, "You didn't provide an API key: send the header `Authorization: Bearer YOUR_KEY`",
                       code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise APIError(401, "Incorrect API key provided", code="invalid_api_key",
                       headers={"WWW-Authenticate": "Bearer"})


async def require_api_key(request: Request) -> None:
    """FastAPI dependency guarding every ``/v1`` route."""
    check_api_key(serve_state(request).api_key, request.headers.get("authorization"))
