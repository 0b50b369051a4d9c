"""A prompt and a response as one token sequence, with the response marked: what preference methods score.

A run fine-tuned for chat sees ``<eos>`` + the prompt in its chat template (ending in ``<|assistant|>``) +
the response + ``<|end|>``; a plain language model sees ``<eos>`` + the prompt text + the response +
``<eos>`` (an empty prompt: the response is a whole document). The mask marks the response's tokens,
including the token that ends it — the tokens a policy is responsible for.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from genlab.tokenizers import EOS_ID, PAD_ID, Tokenizer
from genlab.tuning.template import ChatTemplate, Message


class Renderer:
    def __init__(self, tokenizer: Tokenizer, chat: bool) -> None:
        self.tokenizer = tokenizer
        self.template = ChatTemplate(tokenizer) if chat else None
        self.end_id = self.template.end_id if self.template else EOS_ID

    def prompt_ids(self, prompt: Sequence[Message]) -> list[int]:
        """``<eos>`` then the prompt, ready for the response's first token."""
        if self.template is not None:
            return [EOS_ID, *self.template.prompt_ids(list(prompt))]
        return [EOS_ID, *self.tokenizer.encode("".join(m.content for m in prompt))]

    def sequence(self, prompt: Sequence[Message], response: str) -> tuple[list[int], list[int]]:
        head = self.prompt_ids(prompt)
        tail = [*self.tokenizer.encode(response), self.end_id]
        return head + tail, [0] * len(head) + [1] * len(tail)

    def stop_ids(self) -> tuple[int, ...]:
        return self.template.stop_ids() if self.template is not None else (EOS_ID,)


def pad(sequences: Sequence[tuple[list[int], list[int]]], limit: int | None) -> tuple[torch.Tensor, ...]:
    """Right-padded ``ids [B, T]``, ``mask [B, T]`` and ``lengths [B]``; a sequence longer than ``limit``
    keeps its end (the response)."""
    cut = [(ids[-limit:], mask[-limit:]) if limit and len(ids) > limit else (ids, mask) for ids, mask in sequences]
    width = max(len(ids) for ids, _ in cut)
    ids_t = torch.full((len(cut), width), PAD_ID, dtype=torch.long)
    mask_t = torch.zeros((len(cut), width), dtype=torch.float32)
    for i, (ids, mask) in enumerate(cut):
        ids_t[i, :len(ids)] = torch.tensor(ids)
        mask_t[i, :len(mask)] = torch.tensor(mask, dtype=torch.float32)
    return ids_t, mask_t, torch.tensor([len(ids) for ids, _ in cut])


def token_logprobs(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """``log p(ids[t+1] | ids[≤t])`` for every position: ``[B, T-1]``."""
    logits = model(ids[:, :-1]).float()
    return torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)


def sequence_logprobs(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of the response tokens' log-probabilities per row: ``[B]``."""
    return (token_logprobs(model, ids) * mask[:, 1:]).sum(dim=-1)
