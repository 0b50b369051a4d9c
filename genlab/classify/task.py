"""Training a classifier with the one loop: labelled texts → padded batches → cross-entropy.

Batches draw texts at random (with replacement, from the loop's seeded generator), so ``--epochs``
means "this many texts' worth of draws". Each evaluation also measures accuracy on every validation
text, and that accuracy — not the loss — picks the best checkpoint (``best_by``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genlab.classify.head import hidden_states
from genlab.classify.model import pad, probabilities

if TYPE_CHECKING:  # built only for --aux-lm (the CLI imports it then)
    from genlab.classify.auxiliary import AuxiliaryLM


@dataclass
class EncodedTexts:
    rows: list[np.ndarray]  # token ids per text
    labels: np.ndarray  # class index per text

    def __len__(self) -> int:
        return len(self.rows)


class ClassificationTask:
    """The :class:`genlab.training.task.TrainTask` for a text classifier."""

    family = "classifier"
    count_unit = "texts"  # what count_tokens, the loss's mean and --epochs count
    best_by = "val_accuracy"

    def __init__(self, tokenizer_fingerprint: str, train: EncodedTexts, val: EncodedTexts,
                 build: Callable[[dict[str, Any]], nn.Module], info: dict[str, Any],
                 auxiliary: AuxiliaryLM | None = None) -> None:
        self.tokenizer_fingerprint = tokenizer_fingerprint
        self.auxiliary = auxiliary
        self.splits = {"train": train, "val": val}
        self._build = build
        self._info = info
        self.best_accuracy = 0.0

    @property
    def train_tokens(self) -> int:
        """Texts in one pass over the training set (``count_tokens`` counts texts, so ``--epochs`` works)."""
        return len(self.splits["train"])

    def model_config(self, args: Any) -> dict[str, Any]:
        raise NotImplementedError("the classify CLI builds the model config itself")

    def build_model(self, model_config: dict[str, Any]) -> nn.Module:
        return self._build(model_config)

    def batch(self, split: str, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        data = self.splits[split]
        take = rng.integers(0, len(data), size=batch_size)
        tokens, mask = pad([data.rows[i] for i in take])
        labels = torch.from_numpy(data.labels[take])
        if self.auxiliary is None or split != "train":  # validation scores the classifier on clean texts
            return tokens, mask, labels
        inputs, targets = self.auxiliary.targets(tokens.numpy(), rng)  # the same generator: seeded, resumable
        return torch.from_numpy(inputs), mask, labels, torch.from_numpy(targets)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        tokens, mask, labels = batch[:3]
        if len(batch) == 3:
            return F.cross_entropy(model(tokens, mask).float(), labels)
        hidden = hidden_states(model.backbone, tokens, mask)
        task = F.cross_entropy(model.scores(hidden, mask).float(), labels)
        return task + self.auxiliary.weight * self.auxiliary.loss(model.backbone, hidden, batch[3])

    def count_tokens(self, batch: tuple[torch.Tensor, ...]) -> int:
        return len(batch[2])  # texts (count_unit): the loss is a mean over texts

    def extra_metrics(self, model: nn.Module) -> dict[str, float]:
        """Accuracy on every validation text."""
        val = self.splits["val"]
        device = str(next(model.parameters()).device)
        guess = probabilities(model, val.rows, device=device).argmax(axis=1)
        accuracy = float((guess == val.labels).mean())
        self.best_accuracy = max(self.best_accuracy, accuracy)
        return {"val_accuracy": accuracy}

    def run_info(self) -> dict[str, Any]:
        return self._info
