"""AdamW with decoupled weight decay, applied only where it means "prefer smaller weights".

Decay goes on the weight matrices of linear and recurrent layers. It is left off biases and
LayerNorm gains (shrinking them toward 0 only distorts the scale they exist to set) and off
embeddings (a rare token's row is seldom updated, so decay would erase what little it learned; with
tied weights the head is the embedding). Everything else is PyTorch's ``AdamW``.
"""

from __future__ import annotations

import torch
from torch import nn

#: devices where this torch has a fused AdamW kernel
FUSED_DEVICES = ("cpu", "cuda", "mps", "xpu")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weight matrices (decayed) and everything else (not), each parameter once."""
    no_decay: set[int] = set()
    for module in model.modules():
        if isinstance(module, (nn.Embedding, nn.LayerNorm)):
            no_decay.update(id(p) for p in module.parameters(recurse=False))
    decay, other = [], []
    for p in model.parameters():  # parameters() already yields a tied tensor once
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 and id(p) not in no_decay else other).append(p)
    return [{"params": decay, "weight_decay": weight_decay, "name": "decay"},
            {"params": other, "weight_decay": 0.0, "name": "no_decay"}]


def build_optimizer(model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float],
                    device: str) -> torch.optim.Optimizer:
    """AdamW over :func:`param_groups`; the fused kernel where the device has one.

    Fused AdamW updates every tensor in one kernel. Measured on a 2-core CPU for the 0.8M-parameter
    ``gpt-tiny``: 0.6 ms per step, against 7.9 ms for the ``foreach`` and 56 ms for the per-tensor
    implementation — a tenth of nanoGPT's whole step time on that machine.
    """
    fused = device.split(":")[0] in FUSED_DEVICES
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=betas, fused=fused or None,
                             foreach=None if fused else True)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
