"""``--ema DECAY``: evaluate and keep an exponential moving average of the weights (Polyak averaging).

With few examples (a classifier fine-tuned on a few thousand labels) the weights after any one step
carry that step's noise, and the best checkpoint is then picked on a small validation split, which
adds noise of its own. The average of the recent weights sits nearer the middle of the valley the
optimizer wanders in: the same run scores steadier, and usually higher, on held-out data.

The average starts as the initial weights and follows ``avg ← d·avg + (1 − d)·w`` after every update,
with ``d = min(DECAY, (1 + n) / (10 + n))`` after ``n`` updates, so the first steps' random or
pretrained weights do not anchor it for long. Evaluation, the best checkpoint
(``model-best.safetensors``) and the final weights a user scores use the average;
``model.safetensors`` keeps the live weights the optimizer resumes from, and the average itself is
saved in ``train_state.pt`` so ``--resume`` continues the same curve.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from genlab.errors import GenlabError


def warmed_decay(decay: float, n: int) -> float:
    """``min(decay, (1 + n) / (10 + n))``: an average's decay, short while it has seen few updates.

    Shared with the image generators' sampling copy (``genlab.image.ema``), which counts ``n`` from 1.
    """
    return min(decay, (1.0 + n) / (10.0 + n))


class WeightAverage:
    """An EMA of ``model``'s trainable parameters, kept in float32 beside them."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise GenlabError(f"--ema {decay:g} must be between 0 and 1 (e.g. 0.999); 0 turns it off")
        self.decay = decay
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.average: list[torch.Tensor] = []
        self.restart()

    def restart(self) -> None:
        """Start the average again from the weights in the model now (resuming a run that had none)."""
        self.average = [p.detach().float().clone() for p in self.params]

    def rate(self, updates: int) -> float:
        """The decay after ``updates`` updates (short at first, ``decay`` later)."""
        return warmed_decay(self.decay, updates)

    @torch.no_grad()
    def update(self, updates: int) -> None:
        """Fold the current weights in; ``updates`` counts the updates before this one."""
        weight = 1.0 - self.rate(updates)
        live = [p.detach().float() for p in self.params]
        torch._foreach_lerp_(self.average, live, weight)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """The averaged weights in the model for the ``with`` block; the live ones back afterwards.

        Decoding plans hold packed copies of the weights, so they are dropped at each swap.
        """
        from genlab.models.gpt_decode import forget_plans

        with torch.no_grad():
            saved = [p.detach().clone() for p in self.params]
            for p, a in zip(self.params, self.average):
                p.copy_(a)
        forget_plans()
        try:
            yield
        finally:
            with torch.no_grad():
                for p, s in zip(self.params, saved):
                    p.copy_(s)
            forget_plans()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: a.detach().cpu() for name, a in zip(self.names, self.average)}

    def load_state_dict(self, state: dict[str, torch.Tensor], where: str) -> None:
        if set(state) != set(self.names):
            raise GenlabError(f"{where} holds a weight average of other parameters; resume with the same model, "
                              "or start again without --resume")
        for i, name in enumerate(self.names):
            if state[name].shape != self.average[i].shape:
                raise GenlabError(f"{where}: the averaged {name} has another shape; start again without --resume")
            self.average[i] = state[name].to(self.average[i].device, torch.float32).clone()
