"""One chat turn to generate: the prompt, the tools it may call, and how its answer is read back.

Shared by every endpoint that answers a conversation (``/v1/chat/completions``; the Responses API maps its
``input`` items and ``tools`` onto the same messages and :class:`~genlab.tuning.tools.ToolUse`):

    use = tool_use(tools, tool_choice, parallel_tool_calls)      # genlab.serve.tool_use: 400s name the field
    turn = chat_turn(served, messages, use)                       # 400 when the run cannot do what is asked
    cfg = SamplingConfig(...); turn.configure(cfg)                # end of turn, and the tools' grammar
    job = await state.start(lambda: generate_choices(served, [turn.prompt.prompt], n, cfg))
    reader = turn.reader()                                        # per choice: feed(Delta) → OpenAI deltas;
                                                                  # message() → (message, finish_reason)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genlab import chat
from genlab.errors import GenlabError
from genlab.generate import SamplingConfig
from genlab.serve.errors import APIError
from genlab.serve.registry import ServedModel
from genlab.serve.response_format import check_constraint
from genlab.serve.tool_reply import TurnReader
from genlab.tuning.tools import ToolUse


@dataclass
class ChatTurn:
    served: ServedModel
    prompt: chat.ChatPrompt
    use: ToolUse | None = None

    def configure(self, cfg: SamplingConfig) -> None:
        """The turn's end tokens, and with tools the grammar that keeps every call valid.

        A ``response_format`` grammar already in ``cfg`` becomes the text branch of the tools' grammar (the
        model answers in that JSON, or calls a tool). The constraint is built once here, so a grammar this
        vocabulary cannot write (a tool name with characters a char run lacks) is a 400 before generating.
        """
        cfg.stop_ids = self.prompt.stop_ids
        if self.use is None:
            check_constraint(self.served, cfg)
            return
        from genlab.structured.tool_turn import tool_turn_grammar

        text_schema = json.loads(cfg.grammar.source) if cfg.grammar is not None else None
        cfg.grammar = tool_turn_grammar(self.use, text_schema, self.served.tokenizer)
        try:
            cfg.constraints(self.served.tokenizer, 1)
        except GenlabError as exc:
            raise APIError(400, str(exc), param="tools", code="unsupported_tools") from None

    def reader(self) -> TurnReader:
        """A fresh reader for one choice of this turn."""
        return TurnReader(self.served.tokenizer, self.prompt.tool_call_id, frozenset(self.prompt.stop_ids),
                          self.use)


def chat_turn(served: ServedModel, messages: Sequence[dict[str, Any]], use: ToolUse | None = None) -> ChatTurn:
    """The turn for ``messages`` (OpenAI chat messages, tool calls and tool results included) with ``use``.

    A 400 when the run cannot: a role its template lacks, tools for a run fine-tuned without the tool
    tokens (it cannot be grown while serving: it needs fine-tuning again), a malformed tool call.
    """
    try:
        prompt = chat.chat_prompt(messages, served.tokenizer, served.config, use.tools if use else ())
    except GenlabError as exc:
        param = "tools" if use is not None and "tool tokens" in str(exc) else "messages"
        raise APIError(400, str(exc), param=param, code="invalid_value") from exc
    return ChatTurn(served, prompt, use)
