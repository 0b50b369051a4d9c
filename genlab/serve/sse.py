"""Server-sent events as OpenAI streams them: ``data: {json}`` per chunk, then ``data: [DONE]``.

Once the 200 and the first bytes are out, a failure can no longer change the status code; it is sent
as a ``data: {"error": {...}}`` event instead, which the official client raises as ``APIError``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.responses import StreamingResponse

from genlab.serve.generation import generation_failed

DONE = b"data: [DONE]\n\n"


def event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode() \
        + b"\n\n"


async def _events(chunks: AsyncIterator[dict[str, Any]], on_close: Callable[[], None]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield event(chunk)
    except Exception as exc:
        yield event(generation_failed(exc).body())
        return
    finally:  # also when the client disconnects (cancelled while waiting, or closed at a yield)
        on_close()
    yield DONE


def sse_response(chunks: AsyncIterator[dict[str, Any]], on_close: Callable[[], None]) -> StreamingResponse:
    """Stream ``chunks``; ``on_close`` runs however the stream ends (it cancels the generation)."""
    return StreamingResponse(_events(chunks, on_close), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
