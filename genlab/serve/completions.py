"""``POST /v1/completions``: continue a prompt, as OpenAI's (legacy) completions endpoint does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from genlab.generate import TokenInfo
from genlab.serve.body import read_json_object
from genlab.serve.generation import GenerationJob, PromptStart, collect_answer, generate_choices
from genlab.serve.logprobs import TextOffsets, completion_logprobs
from genlab.serve.registry import ServedModel
from genlab.serve.response_format import check_constraint
from genlab.serve.schemas import CompletionRequest, parse_request
from genlab.serve.shapes import response_head, usage
from genlab.serve.sse import sse_response
from genlab.serve.state import require_api_key, serve_state

#: OpenAI's default ``max_tokens`` for this endpoint
DEFAULT_MAX_TOKENS = 16

router = APIRouter(dependencies=[Depends(require_api_key)])


@router.post("/v1/completions")
async def create_completion(request: Request) -> Response:
    state = serve_state(request)
    req = parse_request(CompletionRequest, await read_json_object(request, state.limits.max_body_bytes))
    served = state.language_model(req.model)
    req.check(state.limits, served.tokenizer.vocab_size)
    prompts, n = req.prompts(), req.n or 1
    want_logprobs = req.logprobs is not None
    cfg = req.sampling(DEFAULT_MAX_TOKENS, top_logprobs=req.logprobs or 0)
    check_constraint(served, cfg)
    job = await state.start(lambda: generate_choices(served, prompts, n, cfg))
    head = response_head("cmpl", "text_completion", served.id)
    if req.stream:
        return sse_response(_chunks(job, head, served, n, want_logprobs, req.include_usage), job.cancel)
    result = await collect_answer(job, n, request.is_disconnected)
    if result is None:
        return Response(status_code=499)  # nginx's "client closed request": nobody reads it
    choices = []
    for c in result.choices:
        logprobs = None
        if want_logprobs:
            offsets = TextOffsets(served.tokenizer, c.prompt_text_length)
            logprobs = completion_logprobs(c.tokens, [offsets.next(t.id) for t in c.tokens])
        choices.append({"text": "".join(c.text), "index": c.index, "logprobs": logprobs,
                        "finish_reason": c.finish_reason})
    return JSONResponse({**head, "choices": choices, "usage": usage(result.prompt_tokens, result.completion_tokens)})


async def _chunks(job: GenerationJob, head: dict[str, Any], served: ServedModel, n: int, want_logprobs: bool,
                  include_usage: bool) -> AsyncIterator[dict[str, Any]]:
    """One chunk per piece of final text; with logprobs, each chunk carries the tokens behind its text."""
    offsets: list[TextOffsets] = []
    pending: list[list[tuple[TokenInfo, int]]] = []
    prompt_tokens = completion_tokens = 0
    try:
        async for ev in job.events():
            if isinstance(ev, PromptStart):
                prompt_tokens += ev.tokens
                offsets.extend(TextOffsets(served.tokenizer, ev.text_length) for _ in range(n))
                pending.extend([] for _ in range(n))
                continue
            i = ev.index
            if ev.token is not None:
                completion_tokens += 1
                if want_logprobs:
                    pending[i].append((ev.token, offsets[i].next(ev.token.id)))
            if not ev.text and not ev.finish_reason:
                continue  # held back (part of a character, or maybe a stop sequence): wait for more
            logprobs = None
            if want_logprobs:
                logprobs = completion_logprobs([t for t, _ in pending[i]], [o for _, o in pending[i]])
                pending[i] = []
            yield {**head, "choices": [{"text": ev.text, "index": i, "logprobs": logprobs,
                                        "finish_reason": ev.finish_reason}]}
        if include_usage:
            yield {**head, "choices": [], "usage": usage(prompt_tokens, completion_tokens)}
    finally:
        job.cancel()
