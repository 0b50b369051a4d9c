"""Recurrent language models — RNN, LSTM, GRU (course step 3: 순환 신경망과 그 개선).

Read top to bottom as the lecture draws it: token embedding (step 2c) → a stack of recurrent layers
that carry a hidden state through time → a linear head that scores the next token. Dropout sits
between the layers; the head can share the embedding matrix (weight tying), which saves parameters
and usually helps small models.

The recurrent core is PyTorch's fused ``nn.RNN``/``nn.LSTM``/``nn.GRU`` (``impl="torch"``, fast) or
the hand-written cells of :mod:`genlab.models.cells` (``impl="reference"``, readable; same weights).

Protocol (``genlab.models.protocol``): the decoding state is the hidden state (``h``, or ``(h, c)``
for an LSTM), so generation costs one step per token, and the context is unbounded
(``context_size = None``); ``block_size`` in the config is only the training window length
(truncated back-propagation through time).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.models.cells import ReferenceRecurrence
from genlab.models.weights import load_weights, weights_path

CELLS = ("rnn", "lstm", "gru")


@dataclass
class RNNConfig:
    cell: str = "lstm"  # rnn (tanh) | lstm | gru
    vocab_size: int = 256
    n_layer: int = 2
    n_embd: int = 256  # embedding size = hidden size (so the head can be tied to the embedding)
    block_size: int = 128  # training window: how far back-propagation through time reaches
    dropout: float = 0.0
    tie_weights: bool = True
    impl: str = "torch"  # torch (fused kernels) | reference (hand-written cells)

    def validate(self) -> None:
        if self.cell not in CELLS:
            raise GenlabError(f"unknown recurrent cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        if self.impl not in ("torch", "reference"):
            raise GenlabError(f"unknown --rnn-impl {self.impl!r}; choose torch or reference")
        if not 0 <= self.dropout < 1:
            raise GenlabError("--dropout must be in [0, 1)")


class RecurrentLM(nn.Module):
    """Embedding → recurrent layers → linear head: a next-token model with a hidden state."""

    def __init__(self, config: RNNConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.vocab_size = config.vocab_size
        self.context_size = None  # the hidden state summarises the whole past
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        between = config.dropout if config.n_layer > 1 else 0.0
        if config.impl == "reference":
            self.core = ReferenceRecurrence(config.cell, config.n_embd, config.n_embd, config.n_layer, between)
        else:
            module = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[config.cell]
            self.core = module(config.n_embd, config.n_embd, num_layers=config.n_layer, dropout=between,
                               batch_first=True)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size)
        # small uniform embeddings and head, as in the classic word-level LSTM language models: the
        # default N(0, 1) embedding would make the first logits (through a tied head) far too large
        nn.init.uniform_(self.wte.weight, -0.1, 0.1)
        nn.init.uniform_(self.lm_head.weight, -0.1, 0.1)
        nn.init.zeros_(self.lm_head.bias)
        if config.tie_weights:
            self.lm_head.weight = self.wte.weight

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def run(self, tokens: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """``tokens[B, T]`` and a state → (``logits[B, T, V]``, the state after the last token)."""
        x = self.drop(self.wte(tokens))  # (B, T, C)
        out, state = self.core(x, state)  # (B, T, C)
        return self.lm_head(self.drop(out)), state

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """The last layer's outputs ``[B, T, C]`` from a zero state: what a classification head pools."""
        out, _ = self.core(self.drop(self.wte(tokens)), None)
        return out

    def forward(self, tokens: torch.Tensor, select: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced logits from a zero state (what training and perplexity use).

        ``select[B, T]`` (bool) scores only those positions, ``-> [N, V]`` (as :meth:`GPT.forward`).
        """
        if select is None:
            return self.run(tokens)[0]
        return self.lm_head(self.drop(self.hidden(tokens)[select]))

    # --- the language-model protocol -------------------------------------------------------------
    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.run(tokens)[0]

    def start(self, batch_size: int) -> Any:
        weight = self.wte.weight
        h = weight.new_zeros(self.config.n_layer, batch_size, self.config.n_embd)
        return (h, h.clone()) if self.config.cell == "lstm" else h

    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        logits, state = self.run(tokens[:, None], state)
        return logits[:, -1], state

    def prefill(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        logits, state = self.run(tokens, state)
        return logits[:, -1], state


def build(model_config: dict[str, Any]) -> RecurrentLM:
    """A randomly initialised model from a ``config.json["model"]`` dict (``family`` names the cell)."""
    names = {f.name for f in fields(RNNConfig)}
    values = {k: v for k, v in model_config.items() if k in names}
    values["cell"] = model_config.get("family", values.get("cell", "lstm"))
    return RecurrentLM(RNNConfig(**values))


def model_config_dict(config: RNNConfig) -> dict[str, Any]:
    return {"family": config.cell, **asdict(config)}


def load(run_dir: Path, config: dict, device: str = "cpu", which: str = "best") -> RecurrentLM:
    """Rebuild a trained run's model for the registry (``best`` falls back to the latest weights)."""
    model = build(config["model"])
    load_weights(model, weights_path(Path(run_dir), which))
    return model.to(device).eval()
