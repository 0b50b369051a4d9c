"""Reading a request body: size-capped, strict JSON, before any model sees it.

The cap is enforced while the body arrives (a lying or missing ``Content-Length`` does not help), so a
huge upload costs the server at most ``max_body_bytes`` of memory. ``NaN``/``Infinity`` are not JSON
even though Python's parser accepts them, and absurd nesting is refused instead of crashing the parser.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from genlab.serve.errors import APIError


def _too_large(limit: int) -> APIError:
    return APIError(413, f"request body is larger than this server's limit of {limit} bytes (--max-body-bytes)",
                    code="request_too_large")


def _has_lone_surrogate(data: Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _not_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object; 413 when too large, 422 when not JSON, 400 when not an object."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise APIError(400, "invalid Content-Length header", code="invalid_request")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise APIError(422, "request body is empty: send a JSON object", code="invalid_json")
    try:
        text = raw.decode("utf-8")  # strict: json.loads(bytes) would let encoded surrogates through
        data = json.loads(text, parse_constant=_not_json_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise APIError(422, f"request body is not valid JSON: {reason}", code="invalid_json") from None
    if "\\u" in text and _has_lone_surrogate(data):
        raise APIError(400, "request body holds a lone UTF-16 surrogate escape (\\ud800–\\udfff), which is not "
                       "a character: send whole characters", code="invalid_text")
    if not isinstance(data, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(data), "number")
        raise APIError(400, f"request body must be a JSON object, got a JSON {kind}", code="invalid_request")
    return data
