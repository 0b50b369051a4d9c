"""Reading a generated chat turn that may call tools: its text, then each call, as OpenAI returns them.

The model writes a call as the tool-call token followed by ``{"name": …, "arguments": {…}}`` (see
:mod:`genlab.tuning.template`). The token decodes to nothing, so the turn is read by token id: the
text before the first marker is the reply's ``content``; each marker starts a call. Streamed, a call
becomes OpenAI's ``delta.tool_calls`` chunks — one with the call's index, id, type and name as soon as
the name is known, then pieces of ``function.arguments`` whose concatenation is the arguments' JSON
text (the wrapper's closing ``}`` is held back until the call ends, so it is never sent as an argument).

Whether a finished call is real is checked here, not trusted: its name must be a tool the turn may
call and its arguments must validate against that tool's parameters (``jsonschema``). Constrained
decoding makes that always true for a turn that ended by itself; a turn cut by ``max_tokens`` keeps
``finish_reason: "length"`` and its partial arguments, as OpenAI's API does.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from genlab.errors import GenlabError
from genlab.generate import Delta, _complete_utf8_prefix
from genlab.serve.tool_use import ToolUse
from genlab.tokenizers import Tokenizer
from genlab.tuning.tools import ToolCall, parse_call_body

#: the start of a call's body, up to where its arguments begin
_HEAD = re.compile(r'\s*\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"arguments"\s*:\s*(?=\S)')


def call_id() -> str:
    """A fresh call id in OpenAI's shape (``call_`` and 24 characters)."""
    return "call_" + secrets.token_hex(12)


@dataclass
class _Call:
    ids: list[int] = field(default_factory=list)
    id: str = ""
    name: str | None = None
    args_start: int = 0  # where the arguments begin in the body's text
    args_sent: int = 0  # characters of the arguments already streamed


class TurnReader:
    """One choice's turn, fed its events in order (``feed``); ``message`` gives the finished reply.

    ``leading_strip``: drop whitespace before the first visible text (the plain-text template leaves a
    blank after ``Assistant:``).
    """

    def __init__(self, tokenizer: Tokenizer, tool_call_id: int | None, stop_ids: frozenset[int],
                 use: ToolUse | None) -> None:
        self.tokenizer, self.marker, self.stop_ids, self.use = tokenizer, tool_call_id, stop_ids, use
        self.text: list[str] = []  # the content as the stream released it
        self.content_ids: list[int] = []
        self.calls: list[_Call] = []
        self.finish_reason: str | None = None
        self._started = False

    def _visible(self, text: str) -> str:
        if not self._started:
            text = text.lstrip()
            self._started = bool(text)
        return text

    def feed(self, ev: Delta) -> list[dict[str, Any]]:
        """The streamed ``delta`` objects this event makes (none, content, or tool-call pieces)."""
        out: list[dict[str, Any]] = []
        token = ev.token.id if ev.token is not None else None
        if ev.finish_reason:
            self.finish_reason = ev.finish_reason
        if token is not None and token == self.marker and self.marker is not None:
            if not self.calls:  # the content is complete: whatever the stream still held back goes now
                rest = self.tokenizer.decode(self.content_ids)[len("".join(self.text)):]
                self.text.append(rest)
                rest = self._visible(rest)
                if rest:
                    out.append({"content": rest})
            else:
                out += self._call_delta(self.calls[-1], final=True)
            self.calls.append(_Call(id=call_id()))
            return out
        if not self.calls:
            if token is not None and token not in self.stop_ids:
                self.content_ids.append(token)
            self.text.append(ev.text)
            text = self._visible(ev.text)
            return [{"content": text}] if text else []
        call = self.calls[-1]
        if token is not None and token not in self.stop_ids:
            call.ids.append(token)
        return self._call_delta(call, final=bool(ev.finish_reason))

    def _body(self, call: _Call, final: bool) -> str:
        if final:
            return self.tokenizer.decode(call.ids)
        raw = _complete_utf8_prefix(self.tokenizer.decode_bytes(call.ids)).decode("utf-8", errors="replace")
        hold = self.tokenizer.stream_holdback
        return raw[:len(raw) - hold] if hold else raw

    def _call_delta(self, call: _Call, final: bool) -> list[dict[str, Any]]:
        """The pieces of ``call`` that became known since the last event."""
        body = self._body(call, final)
        out: list[dict[str, Any]] = []
        index = len(self.calls) - 1 if call is self.calls[-1] else self.calls.index(call)
        if call.name is None:
            head = _HEAD.match(body)
            if head is None:
                return out
            try:
                call.name = json.loads(head.group(1))
            except ValueError:
                call.name = head.group(1).strip('"')
            call.args_start = head.end()
            out.append({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                                        "function": {"name": call.name, "arguments": ""}}]})
        args = body[call.args_start:]
        end = len(args.rstrip())
        if end and args[:end].endswith("}"):  # maybe the wrapper's closing brace: held back until the end
            end -= 1
        if end > call.args_sent:
            piece = args[call.args_sent:end]
            call.args_sent = end
            out.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        return out

    def tool_calls(self) -> list[ToolCall]:
        """The turn's calls, each checked; a :class:`GenlabError` names the first that is not a valid call."""
        calls = []
        for call in self.calls:
            parsed = parse_call_body(self.tokenizer.decode(call.ids))
            spec = self.use.spec(parsed.name) if self.use is not None else None
            if spec is None:
                raise GenlabError(f"the model called {parsed.name!r}, which this request does not let it call")
            from jsonschema import Draft202012Validator

            problem = next(iter(Draft202012Validator(spec.schema).iter_errors(json.loads(parsed.arguments))), None)
            if problem is not None:
                raise GenlabError(f"the model's arguments for {parsed.name!r} do not match its parameters: "
                                  f"{problem.message}")
            calls.append(ToolCall(parsed.name, parsed.arguments, call.id))
        return calls

    def message(self) -> tuple[dict[str, Any], str]:
        """The reply as ``choices[i].message`` and its ``finish_reason``."""
        reason = self.finish_reason or "length"
        content = "".join(self.text).lstrip() if not self.calls else self.tokenizer.decode(self.content_ids).strip()
        if not self.calls:
            return {"role": "assistant", "content": content, "refusal": None}, reason
        if reason == "length":  # cut inside the last call: its partial arguments, as OpenAI returns them
            calls = [call for call in map(self._cut_call, self.calls) if call is not None]
            if not calls:  # cut before the first call had a name: nothing to call
                return {"role": "assistant", "content": content, "refusal": None}, reason
            return {"role": "assistant", "content": content or None, "refusal": None, "tool_calls": calls}, reason
        try:
            calls = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                     for c in self.tool_calls()]
        except GenlabError:  # not a call after all (only without constrained decoding): the text as it is
            text = content + "".join(self.tokenizer.decode(c.ids) for c in self.calls)
            return {"role": "assistant", "content": text.strip(), "refusal": None}, reason
        return {"role": "assistant", "content": content or None, "refusal": None, "tool_calls": calls}, "tool_calls"

    def _cut_call(self, call: _Call) -> dict[str, Any] | None:
        """A call of a turn cut by ``max_tokens``: a finished one as it was written (the calls before the last
        ended at the next marker), the cut one with its partial arguments, one cut before its name not at all."""
        body = self.tokenizer.decode(call.ids)
        try:
            parsed = parse_call_body(body)
            name, arguments = parsed.name, parsed.arguments
        except GenlabError:
            head = _HEAD.match(body)
            if head is None:
                return None
            name, arguments = call.name or head.group(1).strip('"'), body[head.end():]
        return {"id": call.id, "type": "function", "function": {"name": name, "arguments": arguments}}
