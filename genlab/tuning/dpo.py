"""Direct Preference Optimization (Rafailov et al. 2023): RLHF's objective without RL or a reward model.

For a pair (chosen ``y_w``, rejected ``y_l``) the loss is
``−log σ(β · [(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))])``: it raises the chosen
answer's probability relative to the reference model (the policy at the start) more than the rejected
one's. β plays the role of the KL penalty's weight: a large β keeps the policy at the reference. The
reference log-probabilities never change, so they are computed once, before training.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genlab.errors import GenlabError
from genlab.training.task import evaluating
from genlab.tuning.prefs_data import PreferencePair
from genlab.tuning.sequences import Renderer, pad, sequence_logprobs


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """The sigmoid DPO loss, averaged over the pairs."""
    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin).mean()


class DPOTask:
    """The :class:`genlab.training.task.TrainTask` for DPO on a policy run (chat or plain)."""

    cross_entropy_loss = False  # its val loss is no cross-entropy: no perplexity is reported
    count_unit = "pairs"  # what count_tokens, the loss's mean and --epochs count

    def __init__(self, family: str, renderer: Renderer, train: list[PreferencePair], val: list[PreferencePair],
                 block_size: int, beta: float, build_model: Any, info: dict[str, Any]) -> None:
        if beta <= 0:
            raise GenlabError("--beta must be positive")
        self.family = family
        self.renderer = renderer
        self.beta = beta
        self.block_size = block_size
        self.splits = {name: [(renderer.sequence(p.prompt, p.chosen), renderer.sequence(p.prompt, p.rejected))
                              for p in pairs] for name, pairs in (("train", train), ("val", val))}
        self.reference: dict[str, torch.Tensor] = {}
        self._build = build_model
        self._info = info

    @property
    def tokenizer_fingerprint(self) -> str:
        return self.renderer.tokenizer.fingerprint()

    @property
    def train_tokens(self) -> int:
        return len(self.splits["train"])

    def run_info(self) -> dict[str, Any]:
        return self._info

    def model_config(self, args: argparse.Namespace) -> dict[str, Any]:
        raise GenlabError("a DPO run takes its model config from its policy run")

    def build_model(self, model_config: dict[str, Any]) -> nn.Module:
        """The policy's starting weights, which are also the reference: score every pair with them once."""
        model = self._build(model_config)
        model.eval()
        with torch.inference_mode():
            for split, pairs in self.splits.items():
                scores = []
                for start in range(0, len(pairs), 32):
                    part = pairs[start:start + 32]
                    c_ids, c_mask, _ = pad([c for c, _ in part], self.block_size + 1)
                    r_ids, r_mask, _ = pad([r for _, r in part], self.block_size + 1)
                    scores.append(torch.stack([sequence_logprobs(model, c_ids, c_mask),
                                               sequence_logprobs(model, r_ids, r_mask)], dim=-1))
                self.reference[split] = torch.cat(scores) if scores else torch.zeros(0, 2)
        model.train()
        return model

    def batch(self, split: str, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        pairs = self.splits[split]
        if not pairs:
            raise GenlabError(f"no {split} preference pairs; give more pairs or change --val-fraction")
        idx = rng.integers(len(pairs), size=batch_size)
        c_ids, c_mask, _ = pad([pairs[i][0] for i in idx], self.block_size + 1)
        r_ids, r_mask, _ = pad([pairs[i][1] for i in idx], self.block_size + 1)
        ref = self.reference[split][torch.from_numpy(idx)]
        return c_ids, c_mask, r_ids, r_mask, ref[:, 0], ref[:, 1]

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        c_ids, c_mask, r_ids, r_mask, ref_c, ref_r = batch
        return dpo_loss(sequence_logprobs(model, c_ids, c_mask), sequence_logprobs(model, r_ids, r_mask),
                        ref_c, ref_r, self.beta)

    def count_tokens(self, batch: tuple[torch.Tensor, ...]) -> int:
        """Pairs: the loss is a mean over pairs, and ``--epochs`` counts passes over them."""
        return int(batch[0].shape[0])

    def extra_metrics(self, model: nn.Module) -> dict[str, float]:
        """Implicit-reward accuracy and margin on the validation pairs."""
        pairs, ref = self.splits["val"][:256], self.reference["val"][:256]
        margins = []
        with evaluating(model) as inner, torch.inference_mode():
            device = next(inner.parameters()).device
            for start in range(0, len(pairs), 32):
                part = pairs[start:start + 32]
                c_ids, c_mask, _ = pad([c for c, _ in part], self.block_size + 1)
                r_ids, r_mask, _ = pad([r for _, r in part], self.block_size + 1)
                pc = sequence_logprobs(inner, c_ids.to(device), c_mask.to(device)).cpu()
                pr = sequence_logprobs(inner, r_ids.to(device), r_mask.to(device)).cpu()
                margins.append(self.beta * ((pc - ref[start:start + 32, 0]) - (pr - ref[start:start + 32, 1])))
        m = torch.cat(margins) if margins else torch.zeros(0)
        return {"reward_accuracy": float((m > 0).float().mean()) if len(m) else 0.0,
                "reward_margin": float(m.mean()) if len(m) else 0.0}
