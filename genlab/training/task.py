"""What the one training loop (``genlab.training.loop``) needs from a kind of model: a *task*.

A language model task cuts (input, target) windows from a token store; an encoder–decoder task cuts
(source, target) pairs from a pairs store. The loop itself — init, forward, loss, backward, clip,
step, schedule, evaluation, checkpoints, resume, DDP — never asks which one it runs.

Run-directory files written by the loop (every family's ``load`` reads them back):
``config.json`` (``{"model": {... "family": NAME}, "train": {...}, "tokenizer_fingerprint": ...}``),
``model.safetensors`` (latest weights), ``model-best.safetensors`` (best on validation),
``train_state.pt`` (optimizer, schedule, RNG, data position; loaded with ``weights_only=True``),
``metrics.jsonl`` and ``loss.png``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
import torch

LATEST_WEIGHTS = "model.safetensors"
BEST_WEIGHTS = "model-best.safetensors"
TRAIN_STATE = "train_state.pt"


def weights_file(which: str) -> str:
    """``best`` or ``latest`` → file name; ``best`` falls back to latest in the loader if absent."""
    return BEST_WEIGHTS if which == "best" else LATEST_WEIGHTS


class TrainTask(Protocol):
    #: the model family written to config.json["model"]["family"] (a key of models.registry.FAMILIES)
    family: str

    def model_config(self, args: argparse.Namespace) -> dict[str, Any]:
        """The complete model config (presets, then explicit flags); must include ``"family"``."""
        ...

    def build_model(self, model_config: dict[str, Any]) -> torch.nn.Module:
        """A freshly, randomly initialised model (the caller seeds torch first)."""
        ...

    def batch(self, split: str, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """One batch of CPU tensors from ``split`` (``train``/``val``), drawn with ``rng``."""
        ...

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Mean cross-entropy over the batch's target tokens (a scalar)."""
        ...

    def count_tokens(self, batch: tuple[torch.Tensor, ...]) -> int:
        """Target tokens in the batch: what its mean loss averages over (micro-batches and ranks are weighted
        by it) and what the progress bar's speed counts. A task whose loss averages over whole examples
        (texts, preference pairs) counts those instead and names them in a ``count_unit`` attribute;
        ``--epochs`` then counts passes over ``train_tokens`` of that same unit."""
        ...

    def extra_metrics(self, model: torch.nn.Module) -> dict[str, float]:
        """Task-specific numbers logged at each evaluation (e.g. exact match); may be empty."""
        ...


@contextlib.contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The bare model (DDP and ``torch.compile`` wrappers removed) in eval mode, restored afterwards.

    What a task's ``extra_metrics`` scores with: generation and scoring run on the module itself.
    """
    inner = getattr(model, "module", model)
    inner = getattr(inner, "_orig_mod", inner)
    was_training = inner.training
    inner.eval()
    try:
        yield inner
    finally:
        inner.train(was_training)
