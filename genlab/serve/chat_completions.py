"""``POST /v1/chat/completions``: the conversation in the run's chat template, and the model's answer.

A run fine-tuned for chat gets its own template (reserved tokens around each turn) and answers until
its end-of-turn token (``finish_reason: "stop"``); a plain language model gets the plain-text template
(``User: …`` lines, then ``Assistant:``) and answers up to the next ``User:`` turn. See
:mod:`genlab.chat`. With ``response_format`` the answer is constrained to JSON, and the end of turn is
allowed only once the JSON is complete. The reply starts at its first non-blank character, streamed or not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from genlab import chat
from genlab.errors import GenlabError
from genlab.generate import TokenInfo
from genlab.serve.body import read_json_object
from genlab.serve.errors import APIError
from genlab.serve.generation import GenerationJob, PromptStart, collect_answer, generate_choices
from genlab.serve.logprobs import chat_logprobs
from genlab.serve.registry import ServedModel
from genlab.serve.response_format import check_constraint
from genlab.serve.schemas import ChatCompletionRequest, parse_request
from genlab.serve.shapes import response_head, usage
from genlab.serve.sse import sse_response
from genlab.serve.state import require_api_key, serve_state

router = APIRouter(dependencies=[Depends(require_api_key)])


class _ReplyStart:
    """Drops the blank the template leaves after ``Assistant:`` (and any further leading whitespace)."""

    def __init__(self) -> None:
        self.started = False

    def feed(self, text: str) -> str:
        if self.started:
            return text
        text = text.lstrip()
        self.started = bool(text)
        return text


@router.post("/v1/chat/completions")
async def create_chat_completion(request: Request) -> Response:
    state = serve_state(request)
    req = parse_request(ChatCompletionRequest, await read_json_object(request, state.limits.max_body_bytes))
    served = state.language_model(req.model)
    req.check(state.limits)
    try:
        turn = chat.chat_prompt(req.message_dicts(), served.tokenizer, served.config)
    except GenlabError as exc:  # e.g. a role the run's chat template has no turn for
        raise APIError(400, str(exc), param="messages", code="invalid_value") from exc
    n = req.n or 1
    want_logprobs = bool(req.logprobs)
    cfg = req.sampling(state.limits.max_tokens_cap, top_logprobs=req.top_logprobs or 0, extra_stops=turn.stop)
    cfg.stop_ids = turn.stop_ids
    check_constraint(served, cfg)
    job = await state.start(lambda: generate_choices(served, [turn.prompt], n, cfg))
    head = response_head("chatcmpl", "chat.completion", served.id)
    if req.stream:
        chunk_head = {**head, "object": "chat.completion.chunk"}
        return sse_response(_chunks(job, chunk_head, served, n, want_logprobs, req.include_usage), job.cancel)
    result = await collect_answer(job, n, request.is_disconnected)
    if result is None:
        return Response(status_code=499)  # nginx's "client closed request": nobody reads it
    choices = [{
        "index": c.index,
        "message": {"role": "assistant", "content": "".join(c.text).lstrip(), "refusal": None},
        "logprobs": chat_logprobs(c.tokens, served.tokenizer) if want_logprobs else None,
        "finish_reason": c.finish_reason,
    } for c in result.choices]
    return JSONResponse({**head, "choices": choices, "usage": usage(result.prompt_tokens, result.completion_tokens)})


async def _chunks(job: GenerationJob, head: dict[str, Any], served: ServedModel, n: int, want_logprobs: bool,
                  include_usage: bool) -> AsyncIterator[dict[str, Any]]:
    """A first chunk with the role per choice, then content deltas, the last one with ``finish_reason``."""
    starts = [_ReplyStart() for _ in range(n)]
    pending: list[list[TokenInfo]] = [[] for _ in range(n)]
    prompt_tokens = completion_tokens = 0
    try:
        async for ev in job.events():
            if isinstance(ev, PromptStart):
                prompt_tokens += ev.tokens
                for i in range(n):
                    yield {**head, "choices": [{"index": i, "delta": {"role": "assistant", "content": ""},
                                                "logprobs": None, "finish_reason": None}]}
                continue
            i = ev.index
            if ev.token is not None:
                completion_tokens += 1
                if want_logprobs:
                    pending[i].append(ev.token)
            text = starts[i].feed(ev.text)
            if not text and not ev.finish_reason:
                continue
            logprobs = None
            if want_logprobs:
                logprobs = chat_logprobs(pending[i], served.tokenizer)
                pending[i] = []
            yield {**head, "choices": [{"index": i, "delta": {"content": text} if text else {},
                                        "logprobs": logprobs, "finish_reason": ev.finish_reason}]}
        if include_usage:
            yield {**head, "choices": [], "usage": usage(prompt_tokens, completion_tokens)}
    finally:
        job.cancel()
