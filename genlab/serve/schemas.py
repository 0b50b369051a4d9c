"""Request bodies of the OpenAI API, checked field by field before any generation starts.

Field names, types and ranges follow OpenAI's API reference, so a client that works against OpenAI
works here. Two honest differences: arguments we cannot honour (penalties, ``logit_bias``, ``echo``,
JSON mode with a schema keyword the grammar cannot enforce) are refused with a 400 that says so, never
silently ignored; and widely used extensions are accepted: ``top_k`` and ``ignore_eos`` (as in vLLM), and
``response_format`` on completions too (structured outputs: :mod:`genlab.serve.response_format`). Tools:
:mod:`genlab.serve.tool_use`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from genlab.generate import SamplingConfig
from genlab.serve.errors import bad_request
from genlab.serve.limits import ServeLimits
from genlab.serve.response_format import response_grammar
from genlab.serve.tool_use import ToolUse, tool_use

#: below this, sampling is greedy to within float precision; taken as 0 (greedy) to keep the scores finite
MIN_TEMPERATURE = 1e-6
#: below this, the nucleus is the top token alone (greedy); smaller values would underflow in float32
MIN_TOP_P = 1e-6


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    include_usage: bool | None = None


class _SamplingRequest(BaseModel):
    """The fields completions and chat completions share."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str
    max_tokens: int | None = Field(None, ge=0)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    top_k: int | None = None
    n: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=-(2**63), lt=2**64)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    ignore_eos: bool | None = None
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    response_format: dict[str, Any] | None = None
    # request metadata: accepted, changes nothing about the output
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None

    def _check_common(self, limits: ServeLimits, choices: int) -> None:
        if self.max_tokens is not None and self.max_tokens > limits.max_tokens_cap:
            raise bad_request(f"max_tokens is {self.max_tokens} but this server allows at most "
                              f"{limits.max_tokens_cap} (--max-tokens-cap)", "max_tokens")
        if choices > limits.max_choices:
            raise bad_request(f"this request asks for {choices} choices (prompts × n); this server allows at most "
                              f"{limits.max_choices}", "n")
        if self.top_k is not None and self.top_k < -1:
            raise bad_request("top_k must be ≥ 1, or -1 / 0 for no top-k filtering", "top_k")
        stops = self.stop_list()
        if len(stops) > 4:
            raise bad_request("stop takes up to 4 sequences", "stop")
        for name in ("frequency_penalty", "presence_penalty"):
            if getattr(self, name):
                raise bad_request(f"{name} is not supported by genlab models; leave it out or set it to 0", name)
        if self.logit_bias:
            raise bad_request("logit_bias is not supported by genlab models; leave it out", "logit_bias")
        if self.stream_options is not None and not self.stream:
            raise bad_request("stream_options is only allowed when stream is true", "stream_options")

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def sampling(self, default_max_tokens: int, top_logprobs: int, extra_stops: Sequence[str] = ()) -> SamplingConfig:
        """The generation settings; a missing seed gets a fresh random one so each request has its own RNG."""
        temperature = 1.0 if self.temperature is None else float(self.temperature)
        if temperature < MIN_TEMPERATURE:  # dividing scores by a near-zero temperature overflows to NaN
            temperature = 0.0
        top_p = None if self.top_p is None or self.top_p >= 1 else float(self.top_p)
        if top_p is not None and top_p < MIN_TOP_P:  # the smallest nucleus is the single most likely token
            temperature, top_p = 0.0, None
        return SamplingConfig(
            max_tokens=default_max_tokens if self.max_tokens is None else self.max_tokens,
            temperature=temperature,
            top_k=self.top_k if self.top_k and self.top_k > 0 else None,
            top_p=top_p,
            seed=secrets.randbits(63) if self.seed is None else int(self.seed) % 2**64,
            stop=tuple(self.stop_list()) + tuple(extra_stops),
            stop_at_eos=not self.ignore_eos,
            top_logprobs=top_logprobs,
            grammar=response_grammar(self.response_format),
        )

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


Prompt = str | list[int]


class CompletionRequest(_SamplingRequest):
    prompt: str | list[str] | list[int] | list[list[int]]
    logprobs: int | None = Field(None, ge=0)
    echo: bool | None = None
    suffix: str | None = None
    best_of: int | None = Field(None, ge=1)

    def prompts(self) -> list[Prompt]:
        """One entry per prompt: text, or token ids (OpenAI accepts both, singly or as a list)."""
        p = self.prompt
        if isinstance(p, str):
            return [p]
        if p and all(isinstance(x, int) for x in p):
            return [list(p)]  # type: ignore[arg-type]
        return list(p)  # type: ignore[arg-type]

    def check(self, limits: ServeLimits, vocab_size: int) -> None:
        prompts = self.prompts()
        if not prompts or any(len(p) == 0 for p in prompts):
            raise bad_request("prompt must not be empty", "prompt")
        for p in prompts:
            if isinstance(p, list) and any(not 0 <= t < vocab_size for t in p):
                raise bad_request(f"prompt token ids must be in [0, {vocab_size}) for this model", "prompt")
        self._check_common(limits, len(prompts) * (self.n or 1))
        if self.logprobs is not None and self.logprobs > limits.max_top_logprobs:
            raise bad_request(f"logprobs must be between 0 and {limits.max_top_logprobs}", "logprobs")
        if self.echo:
            raise bad_request("echo is not supported; prepend the prompt yourself", "echo")
        if self.suffix:
            raise bad_request("suffix (insertion) is not supported by left-to-right genlab models", "suffix")
        if self.best_of is not None and self.best_of != (self.n or 1):
            raise bad_request("best_of is not supported (it must equal n or be left out)", "best_of")


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    # extra fields (name, refusal, annotations, …) are what clients echo back from earlier replies
    model_config = ConfigDict(extra="ignore", strict=True)
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        content = self.content
        if isinstance(content, list):
            for part in content:
                if part.type != "text" or part.text is None:
                    raise bad_request(f"content parts of type {part.type!r} are not supported; send text",
                                      "messages")
            content = "".join(part.text or "" for part in content)
        out: dict[str, Any] = {"role": self.role, "content": content or ""}
        if self.tool_calls is not None:
            out["tool_calls"] = self.tool_calls
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


class ChatCompletionRequest(_SamplingRequest):
    messages: list[ChatMessage]
    max_completion_tokens: int | None = Field(None, ge=0)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None

    def check(self, limits: ServeLimits) -> None:
        if not self.messages:
            raise bad_request("messages must hold at least one message", "messages")
        if self.max_completion_tokens is not None:
            if self.max_tokens is not None and self.max_tokens != self.max_completion_tokens:
                raise bad_request("max_tokens and max_completion_tokens disagree; send one of them",
                                  "max_completion_tokens")
            self.max_tokens = self.max_completion_tokens
        self._check_common(limits, self.n or 1)
        if self.top_logprobs is not None:
            if not self.logprobs:
                raise bad_request("top_logprobs needs logprobs set to true", "top_logprobs")
            if self.top_logprobs > limits.max_top_logprobs:
                raise bad_request(f"top_logprobs must be between 0 and {limits.max_top_logprobs}", "top_logprobs")

    def message_dicts(self) -> list[dict[str, Any]]:
        return [m.as_dict() for m in self.messages]

    def tool_use(self) -> ToolUse | None:
        """The checked ``tools`` / ``tool_choice`` / ``parallel_tool_calls`` (None: no tools offered)."""
        return tool_use(self.tools, self.tool_choice, self.parallel_tool_calls)


@dataclass
class _ErrorPlace:
    param: str | None
    message: str


_VARIANT_TAGS = {"str", "int", "float", "bool", "list", "dict", "none"}


def _describe(error: dict[str, Any]) -> _ErrorPlace:
    parts: list[str] = []
    for item in error.get("loc", ()):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif "[" in item or item.lower() in _VARIANT_TAGS or item.startswith("function-"):
            continue  # a union variant's name, not a field
        else:
            parts.append(("." if parts else "") + item)
    param = "".join(parts) or None
    kind = error.get("type")
    if kind == "extra_forbidden":
        return _ErrorPlace(param, f"Unrecognized request argument supplied: {param}")
    if kind == "missing":
        return _ErrorPlace(param, f"Missing required parameter: '{param}'")
    return _ErrorPlace(param, f"Invalid value for '{param}': {error.get('msg', 'invalid value')}")


RequestT = TypeVar("RequestT", bound=BaseModel)


def parse_request(cls: type[RequestT], data: dict[str, Any]) -> RequestT:
    """Validate a JSON object into ``cls``; the first problem becomes a 400 naming the field."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        place = _describe(exc.errors(include_url=False, include_input=False)[0])
        raise bad_request(place.message, place.param) from None
