"""``POST /v1/feedback`` (a genlab extension): a person's judgement of answers, appended to RUN/feedback.jsonl.

Body: ``{"model", "prompt", "completion", "rating": "up"|"down"}`` for one answer, or ``{"model", "prompt",
"chosen", "rejected"}`` for a pick between two. ``prompt`` is the text a completion continued, or the
chat messages an answer replied to. The lines are preference data for ``genlab dpo``
(:mod:`genlab.tuning.feedback`).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from genlab.errors import GenlabError
from genlab.serve.body import read_json_object
from genlab.serve.errors import APIError
from genlab.serve.state import require_api_key, serve_state
from genlab.tuning.feedback import FEEDBACK_FILE, append_record

router = APIRouter(dependencies=[Depends(require_api_key)])
MAX_TEXT = 20_000


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise APIError(400, f"'{name}' must be a non-empty string of at most {MAX_TEXT} characters", param=name)
    return value


def _prompt(body: dict[str, Any]) -> str | list[dict[str, str]]:
    prompt = body.get("prompt", "")
    if isinstance(prompt, str) and len(prompt) <= MAX_TEXT:
        return prompt
    if isinstance(prompt, list) and all(isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
                                        and isinstance(m.get("content"), str) for m in prompt):
        return [{"role": m["role"], "content": m["content"]} for m in prompt]
    raise APIError(400, "'prompt' must be the prompt text or a list of {role, content} messages", param="prompt")


@router.post("/v1/feedback")
async def record_feedback(request: Request) -> dict[str, Any]:
    state = serve_state(request)
    body = await read_json_object(request, state.limits.max_body_bytes)
    model_id = body.get("model")
    if not isinstance(model_id, str):
        raise APIError(400, "'model' must name a served model", param="model")
    served = state.registry.get(model_id)
    if served.path is None:
        raise APIError(400, f"model {model_id} has no run directory to keep feedback in", param="model")
    prompt = _prompt(body)
    if "rating" in body:
        if body["rating"] not in ("up", "down"):
            raise APIError(400, "'rating' must be 'up' or 'down'", param="rating")
        record: dict[str, Any] = {"prompt": prompt, "completion": _text(body, "completion"),
                                  "label": body["rating"] == "up"}
    else:
        chosen, rejected = _text(body, "chosen"), _text(body, "rejected")
        if chosen == rejected:
            raise APIError(400, "'chosen' and 'rejected' are the same answer", param="rejected")
        record = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    record.update(model=model_id, time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    path = served.path / FEEDBACK_FILE
    try:
        await run_in_threadpool(append_record, path, record)
    except GenlabError as exc:
        raise APIError(507, str(exc), type="server_error") from exc
    return {"object": "feedback", "recorded": True, "file": str(path)}
