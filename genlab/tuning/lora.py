"""LoRA: fine-tune a few low-rank matrices beside frozen weights (Hu et al. 2021).

A linear layer ``y = x Wᵀ + b`` becomes ``y = x Wᵀ + b + (α/r) · x Aᵀ Bᵀ`` with ``A`` (r × in) and ``B``
(out × r); only ``A`` and ``B`` train. ``B`` starts at zero, so training starts exactly at the base
model, and ``merge()`` folds ``(α/r) · B A`` into ``W`` so the saved run is an ordinary model: eval,
generate and serve need nothing new. What it saves is memory: no gradients and no AdamW moments
for the frozen weights (AdamW keeps two floats per trained parameter).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

from genlab.errors import GenlabError

#: the linears LoRA adapts in a GPT: attention (q, k, v together, and its output) and the MLP
GPT_TARGETS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
ADAPTER_PREFIX = "lora_"


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update; ``merge()`` returns a plain ``nn.Linear``."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.rank = rank
        self.scale = alpha / rank
        self.lora_A = nn.Parameter(base.weight.new_empty(rank, base.in_features))
        self.lora_B = nn.Parameter(base.weight.new_zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as nn.Linear initialises its weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_A.t() @ self.lora_B.t()) * self.scale

    def delta(self) -> torch.Tensor:
        """The update the adapter adds to the weight: ``scale · B A`` (out × in)."""
        return (self.lora_B @ self.lora_A) * self.scale

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):  # type: ignore[override]
        """The merged ``weight`` and ``bias`` under a plain linear's names: a LoRA model's saved weights
        are an ordinary model's (the adapters themselves travel in the training state, see ``adapter_state``)."""
        if destination is None:
            destination = {}
        with torch.no_grad():
            destination[prefix + "weight"] = self.base.weight + self.delta()
            if self.base.bias is not None:
                destination[prefix + "bias"] = self.base.bias.detach()
        return destination

    def merge(self) -> nn.Linear:
        merged = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None,
                           device=self.base.weight.device, dtype=self.base.weight.dtype)
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + self.delta())
            if self.base.bias is not None:
                merged.bias.copy_(self.base.bias)
        return merged


def _targets(model: nn.Module) -> Iterator[tuple[nn.Module, str, nn.Linear]]:
    """(parent, attribute, linear) for every linear LoRA adapts; recurrent models have none to adapt."""
    for name, module in model.named_modules():
        for target in GPT_TARGETS:
            if name.endswith(target) and isinstance(module, nn.Linear):
                parent_name, _, attr = name.rpartition(".")
                yield model.get_submodule(parent_name), attr, module


def apply_lora(model: nn.Module, rank: int, alpha: float | None = None) -> nn.Module:
    """Freeze every weight of ``model`` and wrap its attention and MLP linears in adapters (in place)."""
    if rank < 1:
        raise GenlabError("--lora-rank must be ≥ 1")
    targets = list(_targets(model))
    if not targets:
        raise GenlabError("--lora-rank adapts a GPT's attention and MLP layers; this model has none "
                          "(fine-tune an rnn/lstm/gru run without --lora-rank)")
    for p in model.parameters():
        p.requires_grad_(False)
    for parent, attr, linear in targets:
        setattr(parent, attr, LoRALinear(linear, rank, float(alpha if alpha is not None else 2 * rank)))
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every adapter by its merged ``nn.Linear`` (in place): an ordinary model again."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            parent_name, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent_name), attr, module.merge())
    return model


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the trainable adapter tensors, by name (what a LoRA checkpoint must keep)."""
    return {name: p.detach() for name, p in model.named_parameters() if ADAPTER_PREFIX in name}


def trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
