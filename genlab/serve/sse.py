"""Server-sent events as OpenAI streams them.

Chat and text completions send ``data: {json}`` per chunk, then ``data: [DONE]``. The Responses API
names each event (``event: response.output_text.delta``, the payload's own ``type``) and sends no
``[DONE]``: its last event (``response.completed``, …) says the stream is over.

Once the 200 and the first bytes are out, a failure can no longer change the status code; it is sent
as an error event instead (``data: {"error": {...}}``, which the official client raises as ``APIError``,
or the Responses API's ``{"type": "error", ...}``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.responses import StreamingResponse

from genlab.serve.errors import APIError
from genlab.serve.generation import generation_failed

DONE = b"data: [DONE]\n\n"


def event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode() \
        + b"\n\n"


def typed_event(payload: dict[str, Any]) -> bytes:
    """An event named by its payload's ``type``, as the Responses API streams them."""
    return f"event: {payload['type']}\n".encode() + event(payload)


def typed_error(error: APIError) -> dict[str, Any]:
    """A Responses stream's ``error`` event."""
    return {"type": "error", "code": error.code, "message": error.message, "param": error.param}


async def _events(chunks: AsyncIterator[dict[str, Any]], on_close: Callable[[], None], typed: bool = False) \
        -> AsyncIterator[bytes]:
    frame = typed_event if typed else event
    try:
        async for chunk in chunks:
            yield frame(chunk)
    except Exception as exc:
        failure = generation_failed(exc)
        yield typed_event(typed_error(failure)) if typed else event(failure.body())
        return
    finally:  # also when the client disconnects (cancelled while waiting, or closed at a yield)
        on_close()
    if not typed:
        yield DONE


def sse_response(chunks: AsyncIterator[dict[str, Any]], on_close: Callable[[], None], *,
                 typed: bool = False) -> StreamingResponse:
    """Stream ``chunks`` (named by their ``type`` when ``typed``); ``on_close`` runs however the stream ends
    (it cancels the generation)."""
    return StreamingResponse(_events(chunks, on_close, typed), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
