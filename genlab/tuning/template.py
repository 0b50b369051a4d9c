"""The chat template: a conversation as token ids, and which of them the model learns to produce.

Each message is its role's reserved token, the content's tokens, then the end-of-turn token::

    <|system|>You answer briefly.<|end|><|user|>2026을 한국어로 읽어 줘<|end|><|assistant|>이천이십육<|end|>

Tools (function calling) add two reserved tokens. An assistant turn that calls tools has, after its
(usually empty) content, each call as ``<|tool_call|>`` and the call as JSON; a tool's result is
its own turn; the tools a conversation offers come first, as a system turn of one signature per line
(:mod:`genlab.tuning.tools`)::

    <|system|>Tools:
    calculator(expression: string): Evaluate arithmetic.<|end|><|user|>What is 12*7?<|end|>
    <|assistant|><|tool_call|>{"name": "calculator", "arguments": {"expression": "12*7"}}<|end|>
    <|tool|>84<|end|><|assistant|>84<|end|>

Call ids (``call_…``) are not rendered: results follow their calls in order, and the model never needs
to copy an opaque id. A run fine-tuned before the tool tokens existed lacks them; it chats as before
and refuses tools (:attr:`ChatTemplate.supports_tools`).

Reserved tokens are special ids (``genlab.tokenizers.base.TEMPLATE_TOKENS``), never produced from text, so
a user who types ``<|end|>`` cannot end a turn, and they decode to nothing, so no template token ever
appears in an answer. To answer, the model is given the conversation and ``<|assistant|>`` and decodes
until it produces ``<|end|>``.

The training mask comes from the same function that renders the ids (as nanochat does), so the
template and the loss cannot drift apart: the model learns the assistant's content, its tool calls and
its closing ``<|end|>`` (the "stop here"), for assistant messages of weight 1 only; tool results are
context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genlab.errors import GenlabError
from genlab.tokenizers import Tokenizer
from genlab.tokenizers.base import CHAT_TOKENS, TOOL_TOKENS
from genlab.tuning.tools import ToolCall, ToolSpec, canonical_arguments, describe_tools, parse_call_body

SYSTEM, USER, ASSISTANT, END = CHAT_TOKENS
TOOL_CALL, TOOL = TOOL_TOKENS
ROLE_TOKENS = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT, "tool": TOOL}
#: roles that clients send and that mean one of ours (OpenAI's "developer" is a system message)
ROLE_ALIASES = {"developer": "system"}
FORMAT = "genlab-chat-v1"
NO_TOOL_TOKENS = ("this run was fine-tuned without the chat template's tool tokens, so it cannot call tools "
                  "or read tool results; send the request without tools, or fine-tune the base run again "
                  "(`genlab finetune BASE --data FILE.jsonl --out RUN`) to get a run that can")


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant | tool
    content: str
    weight: int = 1  # assistant messages only: 0 = context, not a training target
    #: an assistant message's tool calls (after its content)
    tool_calls: tuple[ToolCall, ...] = ()
    #: a tool message's answer to which call (not rendered; results follow their calls in order)
    tool_call_id: str | None = None


@dataclass
class Rendered:
    ids: list[int]
    #: 1 where the token is a training target (assistant content, its tool calls and its <|end|>), else 0
    mask: list[int]


class ChatTemplate:
    """Renders conversations into ids (with their loss mask) for one tokenizer, and parses ids back."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        ids = {token: tokenizer.special_id(token) for token in CHAT_TOKENS}
        if any(i is None for i in ids.values()):
            raise GenlabError("this run's tokenizer has no chat tokens; fine-tune it first "
                              "(`genlab finetune BASE --data FILE.jsonl --out RUN`)")
        tool_ids = {token: tokenizer.special_id(token) for token in TOOL_TOKENS}
        self.tokenizer = tokenizer
        self.supports_tools = all(i is not None for i in tool_ids.values())
        self.role_ids = {role: int(ids[token]) for role, token in ROLE_TOKENS.items() if token in ids}
        self.end_id = int(ids[END])
        #: the token that starts a tool call inside an assistant turn (None: the run has no tool tokens)
        self.tool_call_id: int | None = None
        if self.supports_tools:
            self.role_ids["tool"] = int(tool_ids[TOOL])  # type: ignore[arg-type]
            self.tool_call_id = int(tool_ids[TOOL_CALL])  # type: ignore[arg-type]
        self.special_ids = frozenset([*self.role_ids.values(), self.end_id]
                                     + ([self.tool_call_id] if self.tool_call_id is not None else []))

    @staticmethod
    def supported_by(tokenizer: Tokenizer) -> bool:
        return all(tokenizer.special_id(token) is not None for token in CHAT_TOKENS)

    def require_tools(self) -> None:
        if not self.supports_tools:
            raise GenlabError(NO_TOOL_TOKENS)

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = False,
               tools: Sequence[ToolSpec] = ()) -> Rendered:
        """Token ids of ``messages`` and their mask; ``add_generation_prompt`` appends ``<|assistant|>``.

        ``tools``, when given, come first as a system turn listing their signatures.
        """
        ids: list[int] = []
        mask: list[int] = []
        if tools:
            self.require_tools()
            text = self.tokenizer.encode(describe_tools(tools))
            ids += [self.role_ids["system"], *text, self.end_id]
            mask += [0] * (len(text) + 2)
        for message in messages:
            if message.role == "tool" or message.tool_calls:
                self.require_tools()
            if message.role not in self.role_ids:
                raise GenlabError(f"unknown chat role {message.role!r}; use system, user, assistant or tool")
            content = self.tokenizer.encode(message.content)
            for call in message.tool_calls:
                content += [self.tool_call_id, *self.tokenizer.encode(call.body())]  # type: ignore[list-item]
            learn = int(message.role == "assistant" and message.weight == 1)
            ids += [self.role_ids[message.role], *content, self.end_id]
            mask += [0] + [learn] * len(content) + [learn]
        if add_generation_prompt:
            ids.append(self.role_ids["assistant"])
            mask.append(0)
        return Rendered(ids, mask)

    def prompt_ids(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> list[int]:
        """What the model is given to answer: the conversation, then ``<|assistant|>``."""
        return self.render(messages, add_generation_prompt=True, tools=tools).ids

    def parse(self, ids: Sequence[int]) -> list[Message]:
        """Messages back from rendered ids (a final unfinished assistant turn is kept as it is)."""
        roles = {i: role for role, i in self.role_ids.items()}
        messages: list[Message] = []
        role: str | None = None
        turn: list[int] = []
        for token in ids:
            token = int(token)
            if token in roles:
                if role is not None:
                    raise GenlabError(f"malformed conversation: a {roles[token]} turn starts inside a {role} turn")
                role, turn = roles[token], []
            elif token == self.end_id:
                if role is None:
                    raise GenlabError("malformed conversation: <|end|> outside a turn")
                messages.append(self._message(role, turn))
                role = None
            elif role is not None:
                turn.append(token)
        if role is not None:
            messages.append(self._message(role, turn))
        return messages

    def _message(self, role: str, turn: list[int]) -> Message:
        content, bodies = self.split_calls(turn)
        if bodies and role != "assistant":
            raise GenlabError(f"malformed conversation: a tool call inside a {role} turn")
        return Message(role, content, tool_calls=tuple(parse_call_body(b) for b in bodies))

    def split_calls(self, ids: Sequence[int]) -> tuple[str, list[str]]:
        """An assistant turn's ids → its text content and the text of each tool call after it."""
        pieces: list[list[int]] = [[]]
        for token in ids:
            if int(token) == self.tool_call_id:
                pieces.append([])
            else:
                pieces[-1].append(int(token))
        return self.tokenizer.decode(pieces[0]), [self.tokenizer.decode(p) for p in pieces[1:]]

    def stop_ids(self, tools: bool = False) -> tuple[int, ...]:
        """Tokens that end the assistant's turn when generated: ``<|end|>`` and any turn start.

        With ``tools`` (the turn may call them) the tool-call token is not one: a call continues the turn.
        Without, it ends the turn like any other reserved token, as it did before tools existed.
        """
        return tuple(sorted(self.special_ids - ({self.tool_call_id} if tools else set())))


def parse_tool_calls(raw: Any, where: str) -> tuple[ToolCall, ...]:
    """OpenAI's ``tool_calls`` list of an assistant message → calls (problems name ``where``)."""
    if not isinstance(raw, list) or not raw:
        raise GenlabError(f"{where}: 'tool_calls' must be a non-empty list")
    calls = []
    for k, call in enumerate(raw):
        at = f"{where}: tool_calls[{k}]"
        if not isinstance(call, dict) or call.get("type", "function") != "function" \
                or not isinstance(call.get("function"), dict):
            raise GenlabError(f'{at} must be {{"id": …, "type": "function", "function": {{"name", "arguments"}}}}')
        function = call["function"]
        name, call_id = function.get("name"), call.get("id", "")
        if not isinstance(name, str) or not name:
            raise GenlabError(f"{at}.function.name must be a non-empty string")
        if not isinstance(call_id, str):
            raise GenlabError(f"{at}.id must be a string")
        if "arguments" not in function:
            raise GenlabError(f"{at}.function.arguments is missing (a JSON object's text, e.g. \"{{}}\")")
        calls.append(ToolCall(name, canonical_arguments(function["arguments"], f"{at}.function.arguments"), call_id))
    return tuple(calls)


def _text(content: Any) -> str:
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


def normalise(messages: Sequence[dict]) -> list[Message]:
    """OpenAI-style messages (content a string or text parts; assistant ``tool_calls``; ``role: "tool"``
    with ``tool_call_id``) into messages."""
    out = []
    for k, message in enumerate(messages):
        role = str(message.get("role", "user"))
        role = ROLE_ALIASES.get(role, role)
        if role not in ROLE_TOKENS:
            raise GenlabError(f"unknown chat role {role!r}; use system, user, assistant or tool")
        calls: tuple[ToolCall, ...] = ()
        if message.get("tool_calls") is not None:
            if role != "assistant":
                raise GenlabError(f"messages[{k}]: only assistant messages carry 'tool_calls'")
            calls = parse_tool_calls(message["tool_calls"], f"messages[{k}]")
        call_id = message.get("tool_call_id")
        if role == "tool" and not isinstance(call_id, str):
            raise GenlabError(f"messages[{k}]: a tool message needs 'tool_call_id' (the id of the call it answers)")
        if role == "tool":
            calls_before = next((m.tool_calls for m in reversed(out) if m.role != "tool"), ())
            if call_id not in {c.id for c in calls_before}:
                raise GenlabError(f"messages[{k}]: a tool message must answer a call of the assistant message "
                                  f"before it; tool_call_id {call_id!r} names none of its tool_calls")
        out.append(Message(role, _text(message.get("content")), tool_calls=calls,
                           tool_call_id=call_id if role == "tool" else None))
    return out
