"""An exponential moving average of a network's weights, for sampling.

GAN generators and diffusion denoisers jitter from step to step; the average of their recent weights
draws visibly cleaner samples (and scores a lower FID) than any single step. The copy is a submodule,
so it is saved and loaded with the model's own weights.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from genlab.training.weight_average import warmed_decay


class EMA(nn.Module):
    def __init__(self, net: nn.Module, decay: float) -> None:
        super().__init__()
        self.decay = decay
        self.net = copy.deepcopy(net)
        self.net.requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        """shadow ← d·shadow + (1 − d)·weights, with d warming up as (1 + n) / (10 + n) early on."""
        self.updates += 1
        d = warmed_decay(self.decay, int(self.updates.item()))
        for shadow, live in zip(self.net.parameters(), net.parameters()):
            shadow.lerp_(live, 1 - d)
        for shadow, live in zip(self.net.buffers(), net.buffers()):
            shadow.copy_(live)  # e.g. BatchNorm statistics: take the current ones

    @torch.no_grad()
    def standing(self, feed: Callable[[nn.Module], None]) -> nn.Module:
        """A copy of the average whose BatchNorm statistics are its own ("standing statistics", Brock et al.
        2019): ``feed(net)`` runs the copy on inputs in training mode and each BatchNorm layer keeps the
        plain mean over those batches. ``update`` takes the live network's statistics, which belong to
        the live weights, not to their average; re-measured, the average draws cleaner samples. The
        copy is in eval mode; the average itself is not changed."""
        net = copy.deepcopy(self.net)
        norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative mean over the batches fed
        net.train()
        feed(net)
        return net.eval()
