"""Pooling and a linear head on any genlab sequence model: the reusable part of a classifier.

A sequence model gives one vector per position; a classifier needs one per text. BERT reads the
vector at the first position (``<bos>``, its ``[CLS]``), which bidirectional attention lets see the
whole text; a left-to-right model (GPT, RNN/LSTM/GRU) reads the *last* real position, the only one
that has seen everything; ``mean`` averages the real positions. A linear layer then maps that vector
to ``n_out`` scores — class logits for a classifier, one scalar for a reward model.
"""

from __future__ import annotations

import torch
from torch import nn

POOLINGS = ("first", "last", "mean")
#: the pooling each family reads best by default
DEFAULT_POOLING = {"bert": "first", "gpt": "last", "rnn": "last", "lstm": "last", "gru": "last"}


def hidden_states(backbone: nn.Module, tokens: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
    """``[B, T]`` → ``[B, T, C]``; only an encoder needs the mask (a causal model never looks right)."""
    if getattr(backbone, "is_encoder", False):
        return backbone.hidden(tokens, key_mask)
    return backbone.hidden(tokens)


def pool(hidden: torch.Tensor, key_mask: torch.Tensor, how: str) -> torch.Tensor:
    """One vector per row ``[B, C]`` from ``hidden[B, T, C]``; ``key_mask[B, T]`` marks the real tokens."""
    if how == "first":
        return hidden[:, 0]
    if how == "last":
        last = key_mask.long().sum(dim=1).clamp(min=1) - 1  # right padding: the last real position
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    weights = key_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class SequenceClassifier(nn.Module):
    """backbone → pooled vector → dropout → ``Linear(C, n_out)``."""

    def __init__(self, backbone: nn.Module, width: int, n_out: int, pooling: str, dropout: float = 0.1) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}")
        self.backbone = backbone
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(width, n_out)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, tokens: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """``tokens[B, T]`` (right-padded), ``key_mask[B, T]`` → scores ``[B, n_out]``."""
        return self.scores(hidden_states(self.backbone, tokens, key_mask), key_mask)

    def scores(self, hidden: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """The head on the backbone's ``hidden[B, T, C]`` (a loss that also reads them needs one forward pass)."""
        return self.head(self.dropout(pool(hidden, key_mask, self.pooling)))
