"""A chat completion's answer in the Responses API's shapes: the Response object, and its stream of events.

The chat path produces one assistant message (text and, with tools, ``tool_calls``) and a
``finish_reason``; the Responses API lists the same as output items — a ``message`` with an
``output_text`` part, then one ``function_call`` item per call — with a status (``completed``, or
``incomplete`` with ``incomplete_details.reason: "max_output_tokens"`` when the token budget ran out).
Streamed, the chat chunks become the Responses events in their order, each with its
``sequence_number``: ``response.created``, ``response.in_progress``, per item ``output_item.added`` …
``output_item.done`` (with ``content_part``/``output_text`` events for a message and
``function_call_arguments`` events for a call), then ``response.completed`` or ``response.incomplete``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from genlab.serve.errors import APIError
from genlab.serve.responses_request import ResponsesRequest


def new_id(prefix: str) -> str:
    """An id in OpenAI's style (``resp_…``, ``msg_…``, ``fc_…``)."""
    return f"{prefix}_{uuid.uuid4().hex}"


def outcome(finish_reason: str | None) -> tuple[str, dict[str, str] | None]:
    """The response's status and ``incomplete_details`` for the chat answer's ``finish_reason``."""
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def response_usage(chat_usage: dict[str, int] | None) -> dict[str, Any] | None:
    """Chat completions' ``usage`` under the Responses API's names (nothing is cached, nothing reasoned)."""
    if chat_usage is None:
        return None
    return {"input_tokens": chat_usage["prompt_tokens"],
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": chat_usage["completion_tokens"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": chat_usage["total_tokens"]}


@dataclass
class ResponseShape:
    """What every Response object of one request repeats: its id and time, the model, and the request's
    settings as OpenAI echoes them (defaults filled in)."""

    model: str
    echo: dict[str, Any]
    id: str = field(default_factory=lambda: new_id("resp"))
    created_at: int = field(default_factory=lambda: int(time.time()))

    @classmethod
    def for_request(cls, req: ResponsesRequest, model_id: str) -> ResponseShape:
        text_format = (req.text.format if req.text else None) or {"type": "text"}
        echo = {
            "instructions": req.instructions,
            "max_output_tokens": req.max_output_tokens,
            "max_tool_calls": None,
            "metadata": req.metadata or {},
            "parallel_tool_calls": True if req.parallel_tool_calls is None else req.parallel_tool_calls,
            "previous_response_id": req.previous_response_id,
            "prompt_cache_key": req.prompt_cache_key,
            "reasoning": {"effort": None, "summary": None},
            "safety_identifier": req.safety_identifier,
            "service_tier": "default",
            "store": True if req.store is None else req.store,
            "temperature": 1.0 if req.temperature is None else float(req.temperature),
            "text": {"format": text_format, "verbosity": "medium"},
            "tool_choice": "auto" if req.tool_choice is None else req.tool_choice,
            "tools": list(req.tools or []),
            "top_logprobs": req.top_logprobs or 0,
            "top_p": 1.0 if req.top_p is None else float(req.top_p),
            "truncation": "disabled",
            "user": req.user,
        }
        return cls(model_id, echo)

    def response(self, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None = None,
                 incomplete_details: dict[str, str] | None = None,
                 error: dict[str, Any] | None = None) -> dict[str, Any]:
        done = status in ("completed", "incomplete", "failed")
        return {"id": self.id, "object": "response", "created_at": self.created_at, "status": status,
                "background": False, "completed_at": int(time.time()) if status == "completed" else None,
                "error": error, "incomplete_details": incomplete_details, "model": self.model,
                "output": output, "usage": usage if done else None, **self.echo}


def _text_part(text: str, logprobs: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs or []}


def message_item(item_id: str, status: str, text: str | None,
                 logprobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An assistant ``message`` output item; ``text`` None: just opened, no content part yet."""
    content = [] if text is None else [_text_part(text, logprobs)]
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def function_call_item(item_id: str, status: str, call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name, "arguments": arguments,
            "status": status}


def output_items(message: dict[str, Any], finish_reason: str | None,
                 logprobs: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """A chat answer's assistant ``message`` as output items: its text (when it has some, or when it
    calls nothing), then its tool calls."""
    status, _ = outcome(finish_reason)
    calls = message.get("tool_calls") or []
    items = []
    if message.get("content") or not calls:
        items.append(message_item(new_id("msg"), status, message.get("content") or "", logprobs))
    for call in calls:  # a call cut by max_output_tokens is "incomplete": its arguments are not whole JSON yet
        items.append(function_call_item(new_id("fc"), "completed" if _whole_json(call["function"]["arguments"])
                                        else "incomplete", call["id"], call["function"]["name"],
                                        call["function"]["arguments"]))
    return items


def _whole_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def assistant_message(text: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer as a chat message, kept in the conversation for ``previous_response_id``."""
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def response_from_chat(shape: ResponseShape, completion: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Response object for a (non-streamed) ``chat.completion``, and the assistant message it holds."""
    choice = completion["choices"][0]
    message = choice["message"]
    logprobs = (choice.get("logprobs") or {}).get("content")
    status, details = outcome(choice["finish_reason"])
    response = shape.response(status, output_items(message, choice["finish_reason"], logprobs),
                              response_usage(completion.get("usage")), details)
    return response, assistant_message(message.get("content") or "", list(message.get("tool_calls") or []))


def failure_code(error: APIError) -> str:
    """``response.error.code`` for an error: OpenAI's codes say whose fault it was."""
    return "server_error" if error.status >= 500 else "invalid_prompt"


class ResponseEvents:
    """Turns a chat completion's chunks into the Responses API's stream of events.

    :meth:`start` gives the opening events, :meth:`feed` the events for each chunk, :meth:`finish` the
    closing ones (and sets :attr:`response`, the final Response object), :meth:`fail` those that end a
    stream that broke. Each event gets the next ``sequence_number``.
    """

    def __init__(self, shape: ResponseShape) -> None:
        self.shape = shape
        self.sequence = 0
        self.items: list[dict[str, Any]] = []  # output items, in order, as they stand
        self._message: dict[str, Any] | None = None  # the message item taking text now
        self._message_logprobs: list[dict[str, Any]] = []  # of the message's tokens so far
        self._calls: dict[int, dict[str, Any]] = {}  # chat tool-call index → its function_call item
        self._finish_reason: str | None = None
        self._usage: dict[str, int] | None = None
        self.response: dict[str, Any] | None = None

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event

    def start(self) -> list[dict[str, Any]]:
        opening = self.shape.response("in_progress", [])
        return [self._event("response.created", response=opening),
                self._event("response.in_progress", response=opening)]

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        events: list[dict[str, Any]] = []
        for choice in chunk.get("choices", []):
            delta = choice.get("delta") or {}
            logprobs = (choice.get("logprobs") or {}).get("content") or []
            if delta.get("content"):
                events += self._text(delta["content"], logprobs)
            else:  # tokens that showed no text (an end-of-turn token): the message's logprobs still list them
                self._message_logprobs += logprobs
            for call in delta.get("tool_calls") or []:
                events += self._tool_call(call)
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return events

    def _open_message(self) -> list[dict[str, Any]]:
        self._message = message_item(new_id("msg"), "in_progress", None)
        self.items.append(self._message)
        index = len(self.items) - 1
        added = self._event("response.output_item.added", output_index=index,
                            item=message_item(self._message["id"], "in_progress", None))
        self._message["content"].append(_text_part("", None))
        return [added, self._event("response.content_part.added", item_id=self._message["id"], output_index=index,
                                   content_index=0, part=_text_part("", None))]

    def _text(self, text: str, logprobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        events = self._open_message() if self._message is None else []
        assert self._message is not None
        self._message["content"][0]["text"] += text
        self._message_logprobs += logprobs
        events.append(self._event("response.output_text.delta", item_id=self._message["id"],
                                  output_index=self.items.index(self._message), content_index=0, delta=text,
                                  logprobs=logprobs))
        return events

    def _close_message(self, status: str) -> list[dict[str, Any]]:
        message, self._message = self._message, None
        if message is None:
            return []
        index = self.items.index(message)
        text = message["content"][0]["text"]
        logprobs, self._message_logprobs = self._message_logprobs, []
        message["status"] = status
        message["content"][0] = part = _text_part(text, logprobs)
        return [self._event("response.output_text.done", item_id=message["id"], output_index=index,
                            content_index=0, text=text, logprobs=logprobs),
                self._event("response.content_part.done", item_id=message["id"], output_index=index,
                            content_index=0, part=part),
                self._event("response.output_item.done", output_index=index, item=dict(message))]

    def _tool_call(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        events = self._close_message("completed")
        function = call.get("function") or {}
        item = self._calls.get(call.get("index", 0))
        if item is None:
            item = function_call_item(new_id("fc"), "in_progress", call.get("id") or new_id("call"),
                                      function.get("name") or "", "")
            self._calls[call.get("index", 0)] = item
            self.items.append(item)
            events.append(self._event("response.output_item.added", output_index=len(self.items) - 1,
                                      item=dict(item)))
        if function.get("arguments"):
            item["arguments"] += function["arguments"]
            events.append(self._event("response.function_call_arguments.delta", item_id=item["id"],
                                      output_index=self.items.index(item), delta=function["arguments"]))
        return events

    def _close_calls(self) -> list[dict[str, Any]]:
        events = []
        for item in self._calls.values():
            index = self.items.index(item)
            item["status"] = "completed"
            events.append(self._event("response.function_call_arguments.done", item_id=item["id"],
                                      output_index=index, name=item["name"], arguments=item["arguments"]))
            events.append(self._event("response.output_item.done", output_index=index, item=dict(item)))
        self._calls = {}
        return events

    def finish(self) -> list[dict[str, Any]]:
        """The closing events; an answer with no text and no call still gets its (empty) message."""
        status, details = outcome(self._finish_reason)
        events = []
        if not self.items:
            events += self._open_message()
        events += self._close_message(status) + self._close_calls()
        self.response = self.shape.response(status, [dict(item) for item in self.items],
                                            response_usage(self._usage), details)
        events.append(self._event(f"response.{status}", response=self.response))
        return events

    def fail(self, error: APIError) -> list[dict[str, Any]]:
        """An ``error`` event, then ``response.failed`` with what was produced so far."""
        failed = self.shape.response("failed", [dict(item) for item in self.items], response_usage(self._usage),
                                     error={"code": failure_code(error), "message": error.message})
        return [self._event("error", code=error.code, message=error.message, param=error.param),
                self._event("response.failed", response=failed)]

    def assistant_message(self) -> dict[str, Any]:
        text = "".join(item["content"][0]["text"] for item in self.items
                       if item["type"] == "message" and item["content"])
        calls = [{"id": item["call_id"], "type": "function",
                  "function": {"name": item["name"], "arguments": item["arguments"]}}
                 for item in self.items if item["type"] == "function_call"]
        return assistant_message(text, calls)
