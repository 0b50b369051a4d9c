"""``POST /v1/chat/completions``: the conversation in the run's chat template, and the model's answer.

A run fine-tuned for chat gets its own template (reserved tokens around each turn) and answers until
its end-of-turn token (``finish_reason: "stop"``); a plain language model gets the plain-text template
(``User: …`` lines, then ``Assistant:``) and answers up to the next ``User:`` turn. See
:mod:`genlab.chat`. With ``response_format`` the answer is constrained to JSON, and the end of turn is
allowed only once the JSON is complete. The reply starts at its first non-blank character, streamed or not.

With ``tools``, a run whose template has the tool tokens answers either in text or with tool calls, kept
valid by constrained decoding (:mod:`genlab.structured.tool_turn`); the reply then carries
``message.tool_calls`` (streamed: ``delta.tool_calls``) and ``finish_reason: "tool_calls"``. A following
request with that assistant message and ``role: "tool"`` results continues the conversation
(:mod:`genlab.serve.chat_turn`, :mod:`genlab.serve.tool_reply`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from genlab.generate import TokenInfo
from genlab.serve.body import read_json_object
from genlab.serve.chat_turn import ChatTurn, chat_turn
from genlab.serve.generation import GenerationJob, JobEvents, PromptStart, collect_answer, generate_choices
from genlab.serve.logprobs import chat_logprobs
from genlab.serve.registry import ServedModel
from genlab.serve.schemas import ChatCompletionRequest, parse_request
from genlab.serve.shapes import response_head, usage
from genlab.serve.sse import sse_response
from genlab.serve.state import ServeState, require_api_key, serve_state

router = APIRouter(dependencies=[Depends(require_api_key)])


@dataclass
class ChatAnswer:
    """A chat completion that has started generating: read it whole (:meth:`body`) or as chunks (:meth:`chunks`).

    ``/v1/chat/completions`` sends either as it is; ``/v1/responses`` translates them into its own shapes,
    so both endpoints share one path from request to tokens.
    """

    job: JobEvents
    turn: ChatTurn
    head: dict[str, Any]
    n: int
    want_logprobs: bool
    include_usage: bool

    @property
    def served(self) -> ServedModel:
        return self.turn.served

    async def body(self, disconnected: Callable[[], Awaitable[bool]]) -> dict[str, Any] | None:
        """The ``chat.completion`` object; None when the client went away first."""
        result = await collect_answer(self.job, self.n, disconnected)
        if result is None:
            return None
        choices = []
        for c in result.choices:
            reader = self.turn.reader()
            for delta in c.deltas:
                reader.feed(delta)
            message, finish_reason = reader.message()
            choices.append({"index": c.index, "message": message,
                            "logprobs": chat_logprobs(c.tokens, self.served.tokenizer) if self.want_logprobs else None,
                            "finish_reason": finish_reason})
        return {**self.head, "choices": choices, "usage": usage(result.prompt_tokens, result.completion_tokens)}

    def chunks(self) -> AsyncIterator[dict[str, Any]]:
        """The ``chat.completion.chunk`` objects, as they are generated."""
        chunk_head = {**self.head, "object": "chat.completion.chunk"}
        return _chunks(self.job, chunk_head, self.turn, self.n, self.want_logprobs, self.include_usage)


async def start_chat(state: ServeState, req: ChatCompletionRequest) -> ChatAnswer:
    """Check ``req``, put the conversation in the model's template and start generating (429/503 when full)."""
    served = state.language_model(req.model)
    req.check(state.limits)
    turn = chat_turn(served, req.message_dicts(), req.tool_use())
    n = req.n or 1
    cfg = req.sampling(state.limits.max_tokens_cap, top_logprobs=req.top_logprobs or 0, extra_stops=turn.prompt.stop)
    turn.configure(cfg)
    job = await state.start(lambda: generate_choices(served, [turn.prompt.prompt], n, cfg))
    head = response_head("chatcmpl", "chat.completion", served.id)
    return ChatAnswer(job, turn, head, n, bool(req.logprobs), req.include_usage)


@router.post("/v1/chat/completions")
async def create_chat_completion(request: Request) -> Response:
    state = serve_state(request)
    req = parse_request(ChatCompletionRequest, await read_json_object(request, state.limits.max_body_bytes))
    answer = await start_chat(state, req)
    if req.stream:
        return sse_response(answer.chunks(), answer.job.cancel)
    body = await answer.body(request.is_disconnected)
    if body is None:
        return Response(status_code=499)  # nginx's "client closed request": nobody reads it
    return JSONResponse(body)


async def _chunks(job: GenerationJob, head: dict[str, Any], turn: ChatTurn, n: int, want_logprobs: bool,
                  include_usage: bool) -> AsyncIterator[dict[str, Any]]:
    """A first chunk with the role per choice, then content or ``tool_calls`` deltas, the last one with
    ``finish_reason``."""
    readers = [turn.reader() for _ in range(n)]
    pending: list[list[TokenInfo]] = [[] for _ in range(n)]
    prompt_tokens = completion_tokens = 0
    tokenizer = turn.served.tokenizer
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
            deltas = readers[i].feed(ev)
            finish = readers[i].message()[1] if ev.finish_reason else None
            if not deltas and not finish:
                continue
            logprobs = None
            if want_logprobs:
                logprobs = chat_logprobs(pending[i], tokenizer)
                pending[i] = []
            deltas = deltas or [{}]
            for k, delta in enumerate(deltas):
                last = k == len(deltas) - 1
                yield {**head, "choices": [{"index": i, "delta": delta, "logprobs": logprobs if k == 0 else None,
                                            "finish_reason": finish if last else None}]}
        if include_usage:
            yield {**head, "choices": [], "usage": usage(prompt_tokens, completion_tokens)}
    finally:
        job.cancel()
