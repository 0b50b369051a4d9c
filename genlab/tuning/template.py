"""The chat template: a conversation as token ids, and which of them the model learns to produce.

Each message is its role's reserved token, the content's tokens, then the end-of-turn token::

    <|system|>You answer briefly.<|end|><|user|>2026을 한국어로 읽어 줘<|end|><|assistant|>이천이십육<|end|>

Reserved tokens are special ids (``genlab.tokenizers.base.CHAT_TOKENS``), never produced from text, so a
user who types ``<|end|>`` cannot end a turn, and they decode to nothing, so no template token ever
appears in an answer. To answer, the model is given the conversation and ``<|assistant|>`` and decodes
until it produces ``<|end|>``.

The training mask comes from the same function that renders the ids (as nanochat does), so the
template and the loss cannot drift apart: the model learns the assistant's content and its closing
``<|end|>`` (the "stop here"), for assistant messages of weight 1 only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from genlab.errors import GenlabError
from genlab.tokenizers import Tokenizer
from genlab.tokenizers.base import CHAT_TOKENS

SYSTEM, USER, ASSISTANT, END = CHAT_TOKENS
ROLE_TOKENS = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT}
#: roles that clients send and that mean one of ours (OpenAI's "developer" is a system message)
ROLE_ALIASES = {"developer": "system"}
FORMAT = "genlab-chat-v1"


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant
    content: str
    weight: int = 1  # assistant messages only: 0 = context, not a training target


@dataclass
class Rendered:
    ids: list[int]
    #: 1 where the token is a training target (assistant content and its <|end|>), else 0
    mask: list[int]


class ChatTemplate:
    """Renders conversations into ids (with their loss mask) for one tokenizer, and parses ids back."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        ids = {token: tokenizer.special_id(token) for token in CHAT_TOKENS}
        if any(i is None for i in ids.values()):
            raise GenlabError("this run's tokenizer has no chat tokens; fine-tune it first "
                              "(`genlab finetune BASE --data FILE.jsonl --out RUN`)")
        self.tokenizer = tokenizer
        self.role_ids = {role: int(ids[token]) for role, token in ROLE_TOKENS.items()}
        self.end_id = int(ids[END])
        self.special_ids = frozenset(int(i) for i in ids.values())

    @staticmethod
    def supported_by(tokenizer: Tokenizer) -> bool:
        return all(tokenizer.special_id(token) is not None for token in CHAT_TOKENS)

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> Rendered:
        """Token ids of ``messages`` and their mask; ``add_generation_prompt`` appends ``<|assistant|>``."""
        ids: list[int] = []
        mask: list[int] = []
        for message in messages:
            if message.role not in self.role_ids:
                raise GenlabError(f"unknown chat role {message.role!r}; use system, user or assistant")
            content = self.tokenizer.encode(message.content)
            learn = int(message.role == "assistant" and message.weight == 1)
            ids += [self.role_ids[message.role], *content, self.end_id]
            mask += [0] + [learn] * len(content) + [learn]
        if add_generation_prompt:
            ids.append(self.role_ids["assistant"])
            mask.append(0)
        return Rendered(ids, mask)

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """What the model is given to answer: the conversation, then ``<|assistant|>``."""
        return self.render(messages, add_generation_prompt=True).ids

    def parse(self, ids: Sequence[int]) -> list[Message]:
        """Messages back from rendered ids (a final unfinished assistant turn is kept as it is)."""
        roles = {i: role for role, i in self.role_ids.items()}
        messages: list[Message] = []
        role: str | None = None
        content: list[int] = []
        for token in ids:
            token = int(token)
            if token in roles:
                if role is not None:
                    raise GenlabError(f"malformed conversation: a {roles[token]} turn starts inside a {role} turn")
                role, content = roles[token], []
            elif token == self.end_id:
                if role is None:
                    raise GenlabError("malformed conversation: <|end|> outside a turn")
                messages.append(Message(role, self.tokenizer.decode(content)))
                role = None
            elif role is not None:
                content.append(token)
        if role is not None:
            messages.append(Message(role, self.tokenizer.decode(content)))
        return messages

    def stop_ids(self) -> tuple[int, ...]:
        """Tokens that end the assistant's turn when generated: ``<|end|>`` and any turn start."""
        return tuple(sorted(self.special_ids))


def normalise(messages: Sequence[dict]) -> list[Message]:
    """OpenAI-style ``[{"role": …, "content": …}]`` (content a string or text parts) into messages."""
    out = []
    for message in messages:
        role = str(message.get("role", "user"))
        role = ROLE_ALIASES.get(role, role)
        content = message.get("content") or ""
        if isinstance(content, list):  # OpenAI content parts: keep the text ones
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        if role not in ROLE_TOKENS:
            raise GenlabError(f"unknown chat role {role!r}; use system, user or assistant")
        out.append(Message(role, str(content)))
    return out
