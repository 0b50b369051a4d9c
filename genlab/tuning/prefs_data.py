"""Preference data: which of two answers to the same prompt is better, validated where it is read.

Two formats per JSONL line, as the ecosystem writes them:

- TRL's: ``{"prompt": …, "chosen": …, "rejected": …}``. Each is a string or a list of messages; the
  prompt may be empty or absent (an *implicit* prompt: then ``chosen`` and ``rejected`` are whole
  conversations and their shared beginning is the prompt). An empty prompt in plain text means
  "start of a document".
- OpenAI's: ``{"input": {"messages": [...]}, "preferred_output": [{"role": "assistant", "content": …}],
  "non_preferred_output": [...]}``.

Every problem names the file and line (exit 2), or is skipped with ``skip_bad_lines``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError
from genlab.tuning.jsonl import read_records
from genlab.tuning.template import Message

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class PreferencePair:
    #: the prompt: a conversation (chat runs) or, as one user message's text, plain text to continue
    prompt: tuple[Message, ...]
    chosen: str
    rejected: str
    source: str = ""

    @property
    def prompt_text(self) -> str:
        """The prompt as plain text (for runs without a chat template): the messages' contents joined."""
        return "".join(m.content for m in self.prompt)


def _bad(where: str, problem: str) -> GenlabError:
    return GenlabError(f"{where}: {problem}")


def _messages(value: Any, where: str, field: str) -> list[Message]:
    if not isinstance(value, list) or not value:
        raise _bad(where, f"'{field}' must be a string or a non-empty list of messages")
    out = []
    for k, m in enumerate(value, start=1):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise _bad(where, f"'{field}' message {k} needs a role ({', '.join(ROLES)}) and string content")
        out.append(Message(m["role"], m["content"]))
    return out


def _answer(value: Any, where: str, field: str) -> tuple[list[Message], str]:
    """(messages before the answer, the answer text) of a chosen/rejected value."""
    if isinstance(value, str):
        if not value.strip():
            raise _bad(where, f"'{field}' is empty")
        return [], value
    messages = _messages(value, where, field)
    if messages[-1].role != "assistant" or not messages[-1].content.strip():
        raise _bad(where, f"'{field}' must end with a non-empty assistant message")
    return messages[:-1], messages[-1].content


def parse_pair(record: Any, where: str) -> PreferencePair:
    if not isinstance(record, dict):
        raise _bad(where, f"expected a JSON object, got {type(record).__name__}")
    if "preferred_output" in record or "non_preferred_output" in record:
        inputs = record.get("input")
        if not isinstance(inputs, dict):
            raise _bad(where, "'input' must be an object with 'messages'")
        prompt = _messages(inputs.get("messages"), where, "input.messages")
        _, chosen = _answer(record.get("preferred_output"), where, "preferred_output")
        _, rejected = _answer(record.get("non_preferred_output"), where, "non_preferred_output")
        return PreferencePair(tuple(prompt), chosen, rejected, where)
    if "chosen" not in record or "rejected" not in record:
        raise _bad(where, "needs 'chosen' and 'rejected' (TRL) or 'input', 'preferred_output' and "
                   "'non_preferred_output' (OpenAI)")
    before_c, chosen = _answer(record["chosen"], where, "chosen")
    before_r, rejected = _answer(record["rejected"], where, "rejected")
    prompt_value = record.get("prompt")
    if prompt_value is None or prompt_value == "":
        if before_c != before_r:  # an implicit prompt is the conversation both answers continue
            raise _bad(where, "'chosen' and 'rejected' continue different conversations; give an explicit 'prompt'")
        prompt = before_c
    elif isinstance(prompt_value, str):
        prompt = [Message("user", prompt_value)] + before_c
    else:
        prompt = _messages(prompt_value, where, "prompt") + before_c
    if chosen == rejected:
        raise _bad(where, "'chosen' and 'rejected' are the same answer")
    return PreferencePair(tuple(prompt), chosen, rejected, where)


@dataclass(frozen=True)
class Rating:
    """A 👍/👎 on one answer (the playground's feedback): not a pair until paired with an opposite rating."""

    prompt: tuple[Message, ...]
    completion: str
    liked: bool


def parse_line(record: Any, where: str) -> PreferencePair | Rating:
    if isinstance(record, dict) and "label" in record and "completion" in record:
        prompt, completion, label = record.get("prompt", ""), record["completion"], record["label"]
        if not isinstance(completion, str) or not isinstance(label, bool):
            raise _bad(where, "a rating needs a string 'completion' and a true/false 'label'")
        if isinstance(prompt, list):
            return Rating(tuple(_messages(prompt, where, "prompt")), completion, label)
        if not isinstance(prompt, str):
            raise _bad(where, "a rating's 'prompt' must be text or a list of messages")
        return Rating((Message("user", prompt),) if prompt else (), completion, label)
    return parse_pair(record, where)


def read_preferences(path: str | Path, skip_bad_lines: bool = False) -> list[PreferencePair]:
    """Every preference pair of a JSONL file; blank lines are ignored, bad lines fail (or are skipped).

    Lines of the playground's feedback file that rate a single answer (``{"prompt", "completion",
    "label"}``) are not pairs: a liked and a disliked answer to the same prompt are paired up.
    """
    records = read_records(path, parse_line, "preference data", skip_bad_lines)
    pairs = [r for r in records if isinstance(r, PreferencePair)]
    rated: dict[tuple[Message, ...], dict[bool, list[str]]] = {}
    for r in records:
        if isinstance(r, Rating):
            rated.setdefault(r.prompt, {True: [], False: []})[r.liked].append(r.completion)
    for prompt, by_label in rated.items():
        for good in by_label[True]:
            for bad in by_label[False]:
                if good != bad:
                    pairs.append(PreferencePair(prompt, good, bad, f"{path}: a liked and a disliked answer"))
    if not pairs:
        raise GenlabError(f"{path} holds no preference pairs; each line needs 'chosen' and 'rejected'")
    return pairs
