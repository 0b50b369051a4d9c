"""``/v1/responses``: OpenAI's Responses API, served by the chat completions path.

``POST`` translates the request into a chat completion (:mod:`genlab.serve.responses_request`), starts
it exactly as ``/v1/chat/completions`` would (same limits, gate, API key, cancellation when the client
goes away), and translates the answer back (:mod:`genlab.serve.responses_output`). With ``store`` (the
default) the response and its conversation are kept in a bounded in-memory store, so a later request's
``previous_response_id`` continues it, ``GET``/``DELETE /v1/responses/{id}`` find it and
``GET /v1/responses/{id}/input_items`` lists what it was asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from genlab.serve.body import read_json_object
from genlab.serve.chat_completions import ChatAnswer, start_chat
from genlab.serve.errors import APIError, bad_request
from genlab.serve.generation import generation_failed
from genlab.serve.responses_output import ResponseEvents, ResponseShape, response_from_chat
from genlab.serve.responses_request import (
    ResponsesRequest,
    chat_request,
    in_responses_terms,
    input_items,
    input_messages,
)
from genlab.serve.schemas import ChatCompletionRequest, parse_request
from genlab.serve.sse import sse_response
from genlab.serve.state import ServeState, require_api_key, serve_state

router = APIRouter(dependencies=[Depends(require_api_key)])


def _not_found(response_id: str) -> APIError:
    return APIError(404, f"Response with id '{response_id}' not found.", param="response_id", code="not_found")


def _history(state: ServeState, req: ResponsesRequest) -> tuple[dict[str, Any], ...]:
    """The conversation a ``previous_response_id`` continues (400 ``previous_response_not_found``, as OpenAI)."""
    if req.previous_response_id is None:
        return ()
    previous = state.responses.get(req.previous_response_id)
    if previous is None:
        raise APIError(400, f"Previous response with id '{req.previous_response_id}' not found.",
                       param="previous_response_id", code="previous_response_not_found")
    return previous.conversation


async def _start(state: ServeState, req: ResponsesRequest, messages: Sequence[dict[str, Any]]) -> ChatAnswer:
    """The chat completion behind this response; the chat path's 400s name the Responses fields."""
    try:
        chat = parse_request(ChatCompletionRequest, chat_request(req, messages))
        return await start_chat(state, chat)
    except APIError as exc:
        raise in_responses_terms(exc) from None


@router.post("/v1/responses")
async def create_response(request: Request) -> Response:
    state = serve_state(request)
    req = parse_request(ResponsesRequest, await read_json_object(request, state.limits.max_body_bytes))
    req.check(state.limits)
    conversation = [*_history(state, req), *input_messages(req.input)]
    items = input_items(req.input)
    answer = await _start(state, req, conversation)  # generating from here: nothing below may refuse the request
    shape = ResponseShape.for_request(req, answer.served.id)

    def keep(response: dict[str, Any], message: dict[str, Any]) -> None:
        if req.store is not False:
            state.responses.put(response, [*conversation, message], items)

    if req.stream:
        return sse_response(_events(answer, shape, keep), answer.job.cancel, typed=True)
    completion = await answer.body(request.is_disconnected)
    if completion is None:
        return Response(status_code=499)  # nginx's "client closed request": nobody reads it
    response, message = response_from_chat(shape, completion)
    keep(response, message)
    return JSONResponse(response)


async def _events(answer: ChatAnswer, shape: ResponseShape,
                  keep: Callable[[dict[str, Any], dict[str, Any]], None]) -> AsyncIterator[dict[str, Any]]:
    """The Responses events for the chat chunks; ``keep`` gets the response once it is complete."""
    events = ResponseEvents(shape)
    for event in events.start():
        yield event
    try:
        async for chunk in answer.chunks():
            for event in events.feed(chunk):
                yield event
    except Exception as exc:  # the 200 is out: the failure becomes the stream's last events
        for event in events.fail(generation_failed(exc)):
            yield event
        return
    closing = events.finish()
    if events.response is not None:  # kept before the last event: a client may continue at once
        keep(events.response, events.assistant_message())
    for event in closing:
        yield event


@router.get("/v1/responses/{response_id}")
async def retrieve_response(response_id: str, request: Request) -> JSONResponse:
    stored = serve_state(request).responses.get(response_id)
    if stored is None:
        raise _not_found(response_id)
    return JSONResponse(stored.response)


@router.delete("/v1/responses/{response_id}")
async def delete_response(response_id: str, request: Request) -> JSONResponse:
    if not serve_state(request).responses.delete(response_id):
        raise _not_found(response_id)
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})


@router.get("/v1/responses/{response_id}/input_items")
async def list_input_items(response_id: str, request: Request, after: str | None = None, limit: int = 20,
                           order: str = "desc") -> JSONResponse:
    """A stored response's own input items, newest first by default (as OpenAI lists them)."""
    stored = serve_state(request).responses.get(response_id)
    if stored is None:
        raise _not_found(response_id)
    if not 1 <= limit <= 100:
        raise bad_request("limit must be between 1 and 100", "limit")
    if order not in ("asc", "desc"):
        raise bad_request("order must be asc or desc", "order")
    items = list(stored.input_items if order == "asc" else reversed(stored.input_items))
    if after is not None:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise bad_request(f"no input item {after!r} in response {response_id!r}", "after")
        items = items[ids.index(after) + 1:]
    page = items[:limit]
    return JSONResponse({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                         "last_id": page[-1]["id"] if page else None, "has_more": len(items) > limit})
