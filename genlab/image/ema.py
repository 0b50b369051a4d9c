"""An exponential moving average of a network's weights, for sampling.

GAN generators and diffusion denoisers jitter from step to step; the average of their recent weights
draws visibly cleaner samples (and scores a lower FID) than any single step. The copy is a submodule,
so it is saved and loaded with the model's own weights.
"""

from __future__ import annotations

import copy

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
