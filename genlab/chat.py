"""The plain-text chat template shared by ``genlab chat`` and the server's chat endpoint.

Our models are trained on plain text, not on chat transcripts, so the template is the simplest one a
plain language model can continue: each message on its own line as ``Role: content``, then
``Assistant:`` for the model to complete. Generation stops when the model starts a new ``User:`` turn.

    System: You are helpful.
    User: 안녕?
    Assistant:
"""

from __future__ import annotations

from collections.abc import Sequence

ROLES = {"system": "System", "user": "User", "assistant": "Assistant", "developer": "System", "tool": "Tool"}
STOP = ("\nUser:", "\nSystem:")


def render(messages: Sequence[dict]) -> str:
    """Render OpenAI-style ``[{"role": …, "content": …}]`` messages into the prompt text."""
    lines = []
    for message in messages:
        role = ROLES.get(str(message.get("role", "user")), "User")
        content = message.get("content") or ""
        if isinstance(content, list):  # OpenAI content parts: keep the text ones
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        lines.append(f"{role}: {content}")
    lines.append("Assistant:")
    return "\n".join(lines)
