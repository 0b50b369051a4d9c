"""Turning a conversation into what a language model continues, for ``genlab chat`` and the server.

A run fine-tuned for chat (``genlab finetune``; its ``config.json`` names a ``chat_template``) is given
the conversation in its chat template — reserved tokens around each turn, then ``<|assistant|>`` — and
its answer ends when it produces the end-of-turn token (see :mod:`genlab.tuning.template`).

A run trained only on plain text has never seen a template, so it gets the simplest text a plain
language model can continue: each message on its own line as ``Role: content``, then ``Assistant:``
for the model to complete, and generation stops when the model starts a new ``User:`` turn::

    System: You are helpful.
    User: 안녕?
    Assistant:
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genlab.errors import GenlabError
from genlab.tokenizers import Tokenizer
from genlab.tuning.tools import ToolSpec

ROLES = {"system": "System", "user": "User", "assistant": "Assistant", "developer": "System", "tool": "Tool"}
STOP = ("\nUser:", "\nSystem:")


def render(messages: Sequence[dict]) -> str:
    """Render OpenAI-style ``[{"role": …, "content": …}]`` messages into the plain-text prompt."""
    lines = []
    for message in messages:
        role = ROLES.get(str(message.get("role", "user")), "User")
        content = message.get("content") or ""
        if isinstance(content, list):  # OpenAI content parts: keep the text ones
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        lines.append(f"{role}: {content}")
    lines.append("Assistant:")
    return "\n".join(lines)


@dataclass(frozen=True)
class ChatPrompt:
    """What to generate from: the prompt (text, or ids in the chat template) and what ends the answer."""

    prompt: str | list[int]
    stop: tuple[str, ...] = ()
    stop_ids: tuple[int, ...] = ()
    templated: bool = False
    #: the template's tool-call token (None: no tools are offered, or the run cannot call any)
    tool_call_id: int | None = None


def has_template(config: dict[str, Any]) -> bool:
    """Whether a run was fine-tuned for chat (its config.json names a chat template)."""
    return bool(config.get("chat_template"))


def chat_prompt(messages: Sequence[dict], tokenizer: Tokenizer, config: dict[str, Any],
                tools: Sequence[ToolSpec] = ()) -> ChatPrompt:
    """The prompt for ``messages``: the run's chat template if it has one, else the plain-text one.

    ``tools`` (and messages with tool calls or tool results) need a run whose template has the tool tokens;
    any other run refuses them with a :class:`GenlabError` that says how to get one.
    """
    if has_template(config):
        from genlab.tuning.template import ChatTemplate, normalise

        template = ChatTemplate(tokenizer)
        return ChatPrompt(template.prompt_ids(normalise(messages), tools=tools),
                          stop_ids=template.stop_ids(tools=bool(tools)), templated=True,
                          tool_call_id=template.tool_call_id if tools else None)
    if tools or any(m.get("role") == "tool" or m.get("tool_calls") for m in messages):
        raise GenlabError("this run was not fine-tuned for chat, so it cannot call tools; send the request without "
                          "tools, or fine-tune it (`genlab finetune RUN --data builtin:skills --out CHAT_RUN`), "
                          "which gives it the chat template's tool tokens")
    return ChatPrompt(render(messages), stop=STOP)
