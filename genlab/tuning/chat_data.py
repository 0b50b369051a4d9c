"""Chat data for fine-tuning: OpenAI's fine-tuning JSONL, validated where it is read.

One JSON object per line, either ``{"messages": [{"role": "system"|"user"|"assistant", "content": "…",
"weight": 0|1}, …]}`` (``weight`` only on assistant messages; 0 = context, not a target) or
``{"prompt": "…", "completion": "…"}``. Tool calls are OpenAI's: an assistant message may carry
``"tool_calls": [{"id", "type": "function", "function": {"name", "arguments"}}]`` (its content then empty or
absent), a ``{"role": "tool", "tool_call_id", "content"}`` message answers one of the calls before it, and a
top-level ``"tools"`` list declares the functions (rendered into the prompt, and calls must name one).
An optional ``"skill"`` string labels the example for per-skill
scores; other keys are metadata and are ignored. Every problem is reported with its file and line, and
``skip_bad_lines`` reports and skips such lines instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError
from genlab.tuning.jsonl import read_records
from genlab.tuning.template import Message, parse_tool_calls
from genlab.tuning.tools import ToolSpec, describe_tools, parse_tools, reply_text

ROLES = ("system", "user", "assistant", "tool")
BUILTIN_PREFIX = "builtin:"


@dataclass
class Conversation:
    messages: list[Message]
    skill: str | None = None
    #: where the example came from, for error messages and reports (e.g. "data.jsonl:12")
    source: str = ""
    #: extra labels a report may group by (builtin:skills marks test phrasings "seen" or "unseen")
    tags: dict[str, str] = field(default_factory=dict)
    #: the functions the conversation offers (rendered before its messages)
    tools: tuple[ToolSpec, ...] = ()

    def texts(self) -> list[str]:
        """Every text the template renders for this conversation (for growing a tokenizer)."""
        out = [m.content for m in self.messages] + [c.body() for m in self.messages for c in m.tool_calls]
        return out + ([describe_tools(self.tools)] if self.tools else [])

    def prompt_and_answer(self) -> tuple[list[Message], str]:
        """Everything before the last assistant message, and that message's text (what eval compares;
        a message with tool calls compares as its text and its calls, :func:`~genlab.tuning.tools.reply_text`)."""
        for i in range(len(self.messages) - 1, -1, -1):
            m = self.messages[i]
            if m.role == "assistant":
                return self.messages[:i], reply_text(m.content, [c.body() for c in m.tool_calls]) \
                    if m.tool_calls else m.content
        raise GenlabError(f"{self.source}: no assistant message to compare with")


def _bad(where: str, problem: str) -> GenlabError:
    return GenlabError(f"{where}: {problem}")


def parse_record(record: Any, where: str) -> Conversation:
    """One decoded JSON line → a conversation; problems are errors naming ``where``."""
    if not isinstance(record, dict):
        raise _bad(where, f"expected a JSON object, got {type(record).__name__}")
    skill = record.get("skill")
    if skill is not None and not isinstance(skill, str):
        raise _bad(where, "'skill' must be a string")
    has_messages = "messages" in record
    has_pair = "prompt" in record or "completion" in record
    if has_messages and has_pair:
        raise _bad(where, "has both 'messages' and 'prompt'/'completion'; use one format per line")
    if has_pair:
        prompt, completion = record.get("prompt", ""), record.get("completion")
        if not isinstance(prompt, str) or not isinstance(completion, str):
            raise _bad(where, "'prompt' and 'completion' must be strings")
        if not completion.strip():
            raise _bad(where, "'completion' is empty")
        messages = ([Message("user", prompt)] if prompt.strip() else []) + [Message("assistant", completion)]
        return Conversation(messages, skill, where)
    if not has_messages:
        raise _bad(where, "needs 'messages' (a list of {role, content}) or 'prompt' and 'completion'")
    raw = record["messages"]
    if not isinstance(raw, list) or not raw:
        raise _bad(where, "'messages' must be a non-empty list")
    tools: tuple[ToolSpec, ...] = ()
    if "tools" in record:
        try:
            tools = parse_tools(record["tools"], "'tools'")
        except GenlabError as exc:
            raise _bad(where, str(exc)) from None
    messages = [_message(m, f"message {k}", where, tools) for k, m in enumerate(raw, start=1)]
    _check_tool_results(messages, where)
    if not any(m.role == "assistant" for m in messages):
        raise _bad(where, "has no assistant message to learn from")
    if not any(m.role == "assistant" and m.weight == 1 for m in messages):
        raise _bad(where, "every assistant message has weight 0, so there is nothing to learn")
    return Conversation(messages, skill, where, tools=tools)


def _message(m: Any, at: str, where: str, tools: tuple[ToolSpec, ...]) -> Message:
    """One entry of ``messages``, checked (``at`` names it in errors)."""
    if not isinstance(m, dict):
        raise _bad(where, f"{at} must be an object with 'role' and 'content'")
    role, content = m.get("role"), m.get("content")
    if role not in ROLES:
        raise _bad(where, f"{at} has unknown role {role!r}; use one of {', '.join(ROLES)}")
    calls = ()
    if m.get("tool_calls") is not None:
        if role != "assistant":
            raise _bad(where, f"{at} ({role}): only assistant messages carry 'tool_calls'")
        try:
            calls = parse_tool_calls(m["tool_calls"], at)
        except GenlabError as exc:
            raise _bad(where, str(exc)) from None
        offered = {t.name for t in tools}
        for call in calls:
            if tools and call.name not in offered:
                raise _bad(where, f"{at} calls {call.name!r}, which is not in the line's 'tools' "
                                  f"({', '.join(sorted(offered))})")
        if content is None:
            content = ""
    if not isinstance(content, str):
        raise _bad(where, f"{at} ({role}) needs 'content' as a string")
    if not content.strip() and not calls and role != "tool":
        raise _bad(where, f"{at} ({role}) has empty content")
    call_id = m.get("tool_call_id")
    if role == "tool" and (not isinstance(call_id, str) or not call_id):
        raise _bad(where, f"{at} (tool) needs 'tool_call_id', the id of the assistant's call it answers")
    weight = m.get("weight", 1)
    if "weight" in m and role != "assistant":
        raise _bad(where, f"{at}: 'weight' is only for assistant messages")
    if weight not in (0, 1) or isinstance(weight, bool):
        raise _bad(where, f"{at}: 'weight' must be 0 or 1")
    return Message(role, content, int(weight), calls, call_id if role == "tool" else None)


def _check_tool_results(messages: list[Message], where: str) -> None:
    """Each tool message answers a call of the assistant message before it that is not answered yet."""
    open_ids: set[str] = set()
    for k, m in enumerate(messages, start=1):
        if m.role == "tool":
            if m.tool_call_id not in open_ids:
                raise _bad(where, f"message {k} (tool) answers tool_call_id {m.tool_call_id!r}, but no earlier "
                                  "assistant message has an unanswered call with that id")
            open_ids.discard(m.tool_call_id)  # type: ignore[arg-type]
        elif m.role == "assistant" and m.tool_calls:
            open_ids = {c.id for c in m.tool_calls}
        else:
            open_ids = set()


def read_chat_file(path: str | Path, skip_bad_lines: bool = False) -> list[Conversation]:
    """Every conversation of a JSONL file; blank lines are ignored, bad lines fail (or are skipped)."""
    out = read_records(path, parse_record, "chat data", skip_bad_lines)
    if not out:
        raise GenlabError(f"{path} holds no conversations; each line needs 'messages' or 'prompt'/'completion'")
    return out


def load_chat_data(spec: str, skip_bad_lines: bool = False, seed: int = 0) -> list[Conversation]:
    """A JSONL file, or ``builtin:skills`` (its training conversations)."""
    if spec.startswith(BUILTIN_PREFIX):
        from genlab.tuning.skills import builtin_dataset

        return builtin_dataset(spec[len(BUILTIN_PREFIX):], seed).train
    return read_chat_file(spec, skip_bad_lines)
