"""Exact match of generated answers, including a tool call compared by its name and arguments."""

from __future__ import annotations

import torch

from genlab.tokenizers import train
from genlab.tokenizers.base import TEMPLATE_TOKENS
from genlab.tuning.answers import exact_match
from genlab.tuning.chat_data import Conversation
from genlab.tuning.skills import CALCULATOR
from genlab.tuning.template import ChatTemplate, Message
from genlab.tuning.tools import ToolCall, describe_tools


class Scripted:
    """A language model that answers every prompt with the same ids (after the prompt, whatever it is)."""

    def __init__(self, vocab_size: int, script: list[int]) -> None:
        self.vocab_size, self.script = vocab_size, script

    def start(self, batch: int) -> int:
        return -1  # how many answer tokens were fed back (the prompt's steps are -1: not started)

    def prefill(self, tokens: torch.Tensor, state: int):
        return self._logits(tokens.shape[0], 0), 0

    def step(self, tokens: torch.Tensor, state: int):
        return self._logits(tokens.shape[0], state + 1), state + 1

    def _logits(self, batch: int, k: int) -> torch.Tensor:
        logits = torch.zeros(batch, self.vocab_size)
        logits[:, self.script[min(k, len(self.script) - 1)]] = 1.0
        return logits


def test_a_tool_call_answer_scores_by_name_and_arguments():
    body = '{"name":"calculator",  "arguments":{"expression":"12*7"}}'  # other spacing than the data's
    tok = train("char", [body + "12*7? " + describe_tools([CALCULATOR])]).extended((), TEMPLATE_TOKENS)
    template = ChatTemplate(tok)
    question = [Message("user", "12*7?")]

    def conv(arguments: str) -> Conversation:
        call = Message("assistant", "", tool_calls=(ToolCall("calculator", arguments),))
        return Conversation([*question, call], "calculator", "t", tools=(CALCULATOR,))

    model = Scripted(tok.vocab_size, [template.tool_call_id, *tok.encode(body), template.end_id])
    report = exact_match(model, tok, [conv('{"expression": "12*7"}'), conv('{"expression": "7*12"}')])
    assert (report.correct, report.total) == (1, 2)
    assert report.misses[0].answer == '[tool call] {"name": "calculator", "arguments": {"expression": "12*7"}}'
