"""AdamW with decoupled weight decay, applied only where it means "prefer smaller weights"; or Muon.

Decay goes on the weight matrices of linear and recurrent layers. It is left off biases and
LayerNorm gains (shrinking them toward 0 only distorts the scale they exist to set) and off
embeddings (a rare token's row is seldom updated, so decay would erase what little it learned; with
tied weights the head is the embedding). Everything else is PyTorch's ``AdamW``.

``--optimizer muon`` updates the hidden weight matrices (those AdamW decays) with Muon instead
(:mod:`genlab.training.muon`: momentum, then the update's matrix orthogonalised), and everything else
with AdamW as above: one :class:`MuonAdamW` that the loop treats as one optimizer.

``--embed-lr-scale K`` gives the embeddings (token and learned-position tables, and a head tied to
them) K times the learning rate. A row of the token embedding moves only when its token occurs, so
with a large vocabulary most rows get few, small updates. Measured on Korean reviews (char tokens,
2,292 of them; ``benchmarks/korean_lm.py``, the 4-layer rotary GPT, tied head, Muon 3e-3, 300 CPU-s on
one thread, validation loss at step 500): 3.019 with K = 1, 3.005 with K = 3, 3.012 with K = 10;
on a second seed 2.985 with K = 1 and 2.966 with K = 3 (docs/speed.md).

``--scalar-lr-scale K`` does the same for the vectors: LayerNorm gains and biases. A gain scales a
whole feature of every position, so one entry carries as much as a row of a matrix; at the matrices'
rate it moves slowly.
"""

from __future__ import annotations

import torch
from torch import nn

#: devices where this torch has a fused AdamW kernel
FUSED_DEVICES = ("cpu", "cuda", "mps", "xpu")


def param_groups(model: nn.Module, weight_decay: float, embed_lr_scale: float = 1.0,
                 scalar_lr_scale: float = 1.0) -> list[dict]:
    """Two groups: weight matrices (decayed) and everything else (not), each parameter once; with
    ``embed_lr_scale`` ≠ 1 the embeddings (undecayed) form a group whose rate is that multiple of the
    others' (``lr_scale``, which :func:`set_learning_rate` applies), and with ``scalar_lr_scale`` ≠ 1 the
    other undecayed vectors (gains, biases) one of theirs. Only then, so optimizer states saved with two
    groups still load."""
    no_decay: set[int] = set()
    embeddings: set[int] = set()
    for module in model.modules():
        if isinstance(module, (nn.Embedding, nn.LayerNorm)):
            no_decay.update(id(p) for p in module.parameters(recurse=False))
        if isinstance(module, nn.Embedding) and embed_lr_scale != 1.0:
            embeddings.update(id(p) for p in module.parameters(recurse=False))
    decay, embed, other, scalars = [], [], [], []
    for p in model.parameters():  # parameters() already yields a tied tensor once
        if not p.requires_grad:
            continue
        if id(p) in embeddings:
            embed.append(p)
        elif p.dim() >= 2 and id(p) not in no_decay:
            decay.append(p)
        else:
            (scalars if p.dim() < 2 and scalar_lr_scale != 1.0 else other).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay, "name": "decay"},
              {"params": other, "weight_decay": 0.0, "name": "no_decay"}]
    if embed:
        groups.append({"params": embed, "weight_decay": 0.0, "name": "embeddings", "lr_scale": embed_lr_scale})
    if scalars:
        groups.append({"params": scalars, "weight_decay": 0.0, "name": "scalars", "lr_scale": scalar_lr_scale})
    return groups


OPTIMIZERS = ("adamw", "muon")


def build_optimizer(model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float],
                    device: str, kind: str = "adamw", embed_lr_scale: float = 1.0,
                    scalar_lr_scale: float = 1.0) -> torch.optim.Optimizer:
    """AdamW over :func:`param_groups` (the fused kernel where the device has one), or :class:`MuonAdamW`.

    Fused AdamW updates every tensor in one kernel. Measured on a 2-core CPU for the 0.8M-parameter
    ``gpt-tiny``: 0.6 ms per step, against 7.9 ms for the ``foreach`` and 56 ms for the per-tensor
    implementation — a tenth of nanoGPT's whole step time on that machine.
    """
    groups = param_groups(model, weight_decay, embed_lr_scale, scalar_lr_scale)
    if kind == "muon":  # the output head is a classifier over the vocabulary, not a hidden map: AdamW's
        from genlab.training.muon import Muon

        heads = {id(p) for name, m in model.named_modules() if name.endswith("lm_head") for p in m.parameters()}
        hidden = [p for p in groups[0]["params"] if id(p) not in heads]
        head = [p for p in groups[0]["params"] if id(p) in heads]
        muon = Muon([{**groups[0], "params": hidden}], lr=lr, weight_decay=weight_decay)
        adamw = ([{**groups[0], "params": head, "name": "decay"}] if head else []) + groups[1:]
        return MuonAdamW(muon, _adamw(adamw, lr, betas, device))  # type: ignore[return-value]
    return _adamw(groups, lr, betas, device)


def _adamw(groups: list[dict], lr: float, betas: tuple[float, float], device: str) -> torch.optim.AdamW:
    from genlab.training.lean_torch import AdamW  # PyTorch's, without importing its compiler when unused

    fused = device.split(":")[0] in FUSED_DEVICES
    return AdamW(groups, lr=lr, betas=betas, fused=fused or None, foreach=None if fused else True)


class MuonAdamW:
    """Muon for the hidden weight matrices and AdamW for the rest, stepped, cleared and saved as one.

    ``param_groups`` lists both optimizers' groups (the loop sets the learning rate and clips through
    it); the state dict holds both, so ``--resume`` continues exactly.
    """

    def __init__(self, muon: torch.optim.Optimizer, adamw: torch.optim.Optimizer) -> None:
        self.muon, self.adamw = muon, adamw

    @property
    def param_groups(self) -> list[dict]:
        return [*self.muon.param_groups, *self.adamw.param_groups]

    @property
    def state(self) -> dict:
        return {**self.muon.state, **self.adamw.state}

    def step(self, closure: None = None) -> None:
        self.muon.step()
        self.adamw.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none=set_to_none)
        self.adamw.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"kind": "muon+adamw", "muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state.get("kind") != "muon+adamw":
            raise ValueError("the saved optimizer is not Muon + AdamW (was the run trained with --optimizer adamw?)")
        self.muon.load_state_dict(state["muon"])
        self.adamw.load_state_dict(state["adamw"])


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """The schedule's rate on every group, times the group's own ``lr_scale`` where it has one."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
