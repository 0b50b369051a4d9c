"""A ``POST /v1/responses`` body, and its translation into a chat completions request.

The Responses API is served by the chat completions path: its input items become chat messages
(``instructions`` the system message in front, a previous response's conversation before the new
input), ``max_output_tokens`` becomes ``max_tokens``, ``text.format`` becomes ``response_format`` and
its flat function tools become chat tools. So whatever the chat path can do (templates, stops,
constrained decoding, tool calls) the Responses API can too, with nothing decoded twice.

Arguments we cannot honour are refused with a 400 naming them (background mode, reasoning effort,
hosted tools, images, ``truncation: "auto"``); request metadata (``user``, ``metadata``,
``prompt_cache_key``, …) is accepted and echoed. ``seed``, ``top_k`` and ``ignore_eos`` are accepted
as genlab extensions, as on the other endpoints.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from genlab.serve.errors import APIError, bad_request
from genlab.serve.limits import ServeLimits

#: the one ``include`` value genlab can honour: per-token logprobs on the output text
INCLUDE_LOGPROBS = "message.output_text.logprobs"
#: OpenAI's bounds on ``metadata``
MAX_METADATA_PAIRS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 16, 64, 512
#: roles a message item may have
MESSAGE_ROLES = ("user", "system", "developer", "assistant")
#: content parts whose ``text`` is the message (``output_text`` when a client sends earlier output back)
TEXT_PARTS = ("input_text", "output_text", "text")


class TextConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    format: dict[str, Any] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ReasoningConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    effort: str | None = None
    summary: str | None = None
    generate_summary: str | None = None


class ResponsesStreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    include_obfuscation: bool | None = None  # padding against length side channels: nothing to pad here


class ResponsesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stream: bool | None = None
    stream_options: ResponsesStreamOptions | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    text: TextConfig | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_tool_calls: int | None = Field(None, ge=1)
    include: list[str] | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    truncation: Literal["auto", "disabled"] | None = None
    reasoning: ReasoningConfig | None = None
    background: bool | None = None
    # request metadata: accepted and echoed, changes nothing about the output
    metadata: dict[str, str] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    service_tier: str | None = None
    # genlab extensions, as on /v1/chat/completions
    seed: int | None = Field(None, ge=-(2**63), lt=2**64)
    top_k: int | None = None
    ignore_eos: bool | None = None

    def check(self, limits: ServeLimits) -> None:
        """Refuse what the chat path would misread or cannot do, naming the Responses field."""
        if self.input == "" or self.input == []:
            raise bad_request("input must not be empty: send a string or a list of input items", "input")
        if self.max_output_tokens is not None and self.max_output_tokens > limits.max_tokens_cap:
            raise bad_request(f"max_output_tokens is {self.max_output_tokens} but this server allows at most "
                              f"{limits.max_tokens_cap} (--max-tokens-cap)", "max_output_tokens")
        if self.background:
            raise bad_request("background mode is not supported; leave background out or false", "background")
        if self.reasoning is not None and self.reasoning.effort not in (None, "none"):
            raise bad_request("genlab models do not reason: leave reasoning.effort out", "reasoning.effort")
        if self.truncation == "auto":
            raise bad_request("truncation \"auto\" is not supported: genlab never drops input items; leave it "
                              "out or send \"disabled\"", "truncation")
        if self.max_tool_calls is not None:
            raise bad_request("max_tool_calls is not supported; leave it out", "max_tool_calls")
        if self.text is not None and self.text.verbosity not in (None, "medium"):
            raise bad_request("text.verbosity cannot be honoured by genlab models; leave it out or send "
                              "\"medium\"", "text.verbosity")
        for i, name in enumerate(self.include or []):
            if name != INCLUDE_LOGPROBS:
                raise bad_request(f"include value {name!r} is not supported; genlab can include only "
                                  f"{INCLUDE_LOGPROBS!r}", f"include[{i}]")
        if self.stream_options is not None and not self.stream:
            raise bad_request("stream_options is only allowed when stream is true", "stream_options")
        _check_metadata(self.metadata or {})

    @property
    def wants_logprobs(self) -> bool:
        return INCLUDE_LOGPROBS in (self.include or []) or bool(self.top_logprobs)


def _check_metadata(metadata: dict[str, str]) -> None:
    if len(metadata) > MAX_METADATA_PAIRS:
        raise bad_request(f"metadata holds at most {MAX_METADATA_PAIRS} key-value pairs", "metadata")
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY or len(value) > MAX_METADATA_VALUE:
            raise bad_request(f"metadata keys are at most {MAX_METADATA_KEY} characters and values at most "
                              f"{MAX_METADATA_VALUE} (key {key[:80]!r})", "metadata")


# --- input items → chat messages -------------------------------------------------------------------


def _text_of(content: Any, param: str, parts: Sequence[str] = TEXT_PARTS) -> str:
    """A message's text: a string, or the concatenated text of its text parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_request(f"{param} must be a string or a list of content parts", param)
    pieces = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(part, dict):
            raise bad_request(f"{where} must be a content part object", where)
        kind = part.get("type")
        if kind == "refusal":  # an earlier refusal sent back: genlab never writes one, but it is text
            text = part.get("refusal")
        elif kind in parts:
            text = part.get("text")
        else:
            raise bad_request(f"content parts of type {kind!r} are not supported by genlab models; send "
                              f"{' or '.join(repr(p) for p in parts[:2])} parts", f"{where}.type")
        if not isinstance(text, str):
            raise bad_request(f"{where} needs its text as a string", where)
        pieces.append(text)
    return "".join(pieces)


def _string_field(item: dict[str, Any], name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value:
        raise bad_request(f"Missing required parameter: '{where}.{name}' (a non-empty string)", f"{where}.{name}")
    return value


def input_messages(input: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The chat messages for a request's ``input``.

    A string is one user message. A list holds message items (``{"role", "content"}``, with or without
    ``"type": "message"``), the model's earlier ``function_call`` items (consecutive ones join the
    assistant message before them, as chat completions' ``tool_calls`` do) and ``function_call_output``
    items (a ``role: "tool"`` message each).
    """
    if isinstance(input, str):
        return [{"role": "user", "content": input}]
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(input):
        where = f"input[{i}]"
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in MESSAGE_ROLES:
                raise bad_request(f"{where}.role must be one of {', '.join(MESSAGE_ROLES)}; got {role!r}",
                                  f"{where}.role")
            if "content" not in item:
                raise bad_request(f"Missing required parameter: '{where}.content'", f"{where}.content")
            messages.append({"role": role, "content": _text_of(item["content"], f"{where}.content")})
        elif kind == "function_call":
            arguments = item.get("arguments")
            if not isinstance(arguments, str):
                raise bad_request(f"{where}.arguments must be the call's arguments as a JSON string",
                                  f"{where}.arguments")
            call = {"id": _string_field(item, "call_id", where), "type": "function",
                    "function": {"name": _string_field(item, "name", where), "arguments": arguments}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            if output is None:
                raise bad_request(f"Missing required parameter: '{where}.output'", f"{where}.output")
            messages.append({"role": "tool", "tool_call_id": _string_field(item, "call_id", where),
                             "content": _text_of(output, f"{where}.output", ("input_text", "output_text"))})
        else:
            raise bad_request(f"input items of type {kind!r} are not supported by genlab; send message, "
                              "function_call or function_call_output items", f"{where}.type")
    return messages


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def input_items(input: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The request's input as the items ``GET /v1/responses/{id}/input_items`` lists: each with an id (the
    client's, when it sent one) and its text in content parts. ``input`` has passed :func:`input_messages`."""
    if isinstance(input, str):
        input = [{"role": "user", "content": input}]
    items = []
    for item in input:
        kind = item.get("type", "message")
        if kind == "message":
            part = "output_text" if item["role"] == "assistant" else "input_text"
            text = _text_of(item["content"], "input")
            content = {"type": part, "text": text, **({"annotations": []} if part == "output_text" else {})}
            items.append({"type": "message", "id": item.get("id") or _new_id("msg"), "role": item["role"],
                          "status": "completed", "content": [content]})
        elif kind == "function_call":
            items.append({"type": "function_call", "id": item.get("id") or _new_id("fc"), "call_id": item["call_id"],
                          "name": item["name"], "arguments": item["arguments"], "status": "completed"})
        else:
            items.append({"type": "function_call_output", "id": item.get("id") or _new_id("fco"),
                          "call_id": item["call_id"], "status": "completed",
                          "output": _text_of(item["output"], "input", ("input_text", "output_text"))})
    return items


# --- text.format, tools and tool_choice → their chat completions forms -----------------------------


def chat_response_format(text_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """``text.format`` as chat completions' ``response_format``.

    The Responses API puts a JSON schema's ``name``/``schema``/``strict`` beside ``type``; chat
    completions nests them under ``json_schema``. ``text`` (the default) needs no response format.
    """
    if text_format is None:
        return None
    kind = text_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = {k: v for k, v in text_format.items() if k != "type"}
        if not isinstance(schema.get("name"), str):
            raise bad_request("Missing required parameter: 'text.format.name'", "text.format.name")
        if not isinstance(schema.get("schema"), dict):
            raise bad_request("Missing required parameter: 'text.format.schema' (a JSON Schema object)",
                              "text.format.schema")
        return {"type": "json_schema", "json_schema": schema}
    raise bad_request(f"text.format.type must be text, json_object or json_schema; got {kind!r}",
                      "text.format.type")


def chat_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Flat function tools (``{"type": "function", "name", "parameters", …}``) as chat tools; hosted
    tools (web search, file search, …) have nothing behind them here and are refused."""
    if not tools:
        return None
    out = []
    for i, tool in enumerate(tools):
        kind = tool.get("type")
        if kind != "function":
            raise bad_request(f"tools of type {kind!r} are not supported by genlab; only function tools are",
                              f"tools[{i}].type")
        name = _string_field(tool, "name", f"tools[{i}]")
        function = {"name": name, **{k: tool[k] for k in ("description", "parameters", "strict")
                                     if tool.get(k) is not None}}
        out.append({"type": "function", "function": function})
    return out


def chat_tool_choice(choice: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
    """``auto``/``none``/``required`` as they are; ``{"type": "function", "name"}`` in the chat form."""
    if choice is None or isinstance(choice, str):
        return choice
    if choice.get("type") == "function":
        return {"type": "function", "function": {"name": _string_field(choice, "name", "tool_choice")}}
    raise bad_request(f"tool_choice of type {choice.get('type')!r} is not supported; send auto, none, required "
                      "or {\"type\": \"function\", \"name\": …}", "tool_choice")


def chat_request(req: ResponsesRequest, messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The chat completions body that generates this response, over ``messages`` (the whole conversation)."""
    body: dict[str, Any] = {"model": req.model, "messages": list(messages)}
    if req.instructions:
        body["messages"].insert(0, {"role": "system", "content": req.instructions})
    fields = {
        "max_tokens": req.max_output_tokens,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "seed": req.seed,
        "top_k": req.top_k,
        "ignore_eos": req.ignore_eos,
        "response_format": chat_response_format(req.text.format if req.text else None),
        "tools": chat_tools(req.tools),
        "tool_choice": chat_tool_choice(req.tool_choice),
        "parallel_tool_calls": req.parallel_tool_calls,
    }
    body.update({k: v for k, v in fields.items() if v is not None})
    if req.wants_logprobs:
        body["logprobs"] = True
        if req.top_logprobs:
            body["top_logprobs"] = req.top_logprobs
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # the final event carries the usage
    return body


#: chat completions' names for what a Responses request calls otherwise
CHAT_TO_RESPONSES_PARAM = {"max_tokens": "max_output_tokens", "messages": "input", "response_format": "text.format",
                           "logprobs": "include"}
#: a chat tool's fields sit under ``function``; a Responses tool's at its top
_CHAT_TOOL_FIELD = re.compile(r"\btools\[(\d+)\]\.function\.")


def in_responses_terms(error: APIError) -> APIError:
    """A 400 the chat path raised, with its ``param`` (and the text) in the Responses fields the client sent."""
    if error.status != 400 or not error.param:
        return error
    name = CHAT_TO_RESPONSES_PARAM.get(error.param.split(".", 1)[0].split("[", 1)[0])
    if name is not None:
        message = f"{error.message} (the Responses field {name!r})"
    else:
        name = _CHAT_TOOL_FIELD.sub(r"tools[\1].", error.param)
        message = _CHAT_TOOL_FIELD.sub(r"tools[\1].", error.message)
        if (name, message) == (error.param, error.message):
            return error
    return APIError(error.status, message, type=error.type, param=name, code=error.code, headers=error.headers)
