"""Chat data for fine-tuning: OpenAI's fine-tuning JSONL, validated where it is read.

One JSON object per line, either ``{"messages": [{"role": "system"|"user"|"assistant", "content": "…",
"weight": 0|1}, …]}`` (``weight`` only on assistant messages; 0 = context, not a target) or
``{"prompt": "…", "completion": "…"}``. An optional ``"skill"`` string labels the example for per-skill
scores; other keys are metadata and are ignored. Every problem is reported with its file and line, and
``skip_bad_lines`` reports and skips such lines instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError
from genlab.tuning.jsonl import read_records
from genlab.tuning.template import Message

ROLES = ("system", "user", "assistant")
BUILTIN_PREFIX = "builtin:"


@dataclass
class Conversation:
    messages: list[Message]
    skill: str | None = None
    #: where the example came from, for error messages and reports (e.g. "data.jsonl:12")
    source: str = ""
    #: extra labels a report may group by (builtin:skills marks test phrasings "seen" or "unseen")
    tags: dict[str, str] = field(default_factory=dict)

    def prompt_and_answer(self) -> tuple[list[Message], str]:
        """Everything before the last assistant message, and that message's text (what eval compares)."""
        for i in range(len(self.messages) - 1, -1, -1):
            if self.messages[i].role == "assistant":
                return self.messages[:i], self.messages[i].content
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
    messages = []
    for k, m in enumerate(raw, start=1):
        at = f"message {k}"
        if not isinstance(m, dict):
            raise _bad(where, f"{at} must be an object with 'role' and 'content'")
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise _bad(where, f"{at} has unknown role {role!r}; use one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise _bad(where, f"{at} ({role}) needs 'content' as a string")
        if not content.strip():
            raise _bad(where, f"{at} ({role}) has empty content")
        weight = m.get("weight", 1)
        if "weight" in m and role != "assistant":
            raise _bad(where, f"{at}: 'weight' is only for assistant messages")
        if weight not in (0, 1) or isinstance(weight, bool):
            raise _bad(where, f"{at}: 'weight' must be 0 or 1")
        messages.append(Message(role, content, int(weight)))
    if not any(m.role == "assistant" for m in messages):
        raise _bad(where, "has no assistant message to learn from")
    if not any(m.role == "assistant" and m.weight == 1 for m in messages):
        raise _bad(where, "every assistant message has weight 0, so there is nothing to learn")
    return Conversation(messages, skill, where)


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
