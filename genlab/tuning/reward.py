"""The reward model of RLHF: a pretrained GPT that reads a prompt and a response and outputs one number.

The network is the base run's GPT (its Transformer, not its next-token head) with a linear head on the
hidden state of the sequence's last token — the end of the response, which under causal attention has
seen all of it. It learns from preference pairs with the Bradley–Terry loss
``−log σ(r(chosen) − r(rejected))``: only differences of rewards matter, so the model learns to rank.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genlab.errors import GenlabError
from genlab.models.gpt import GPT, GPTConfig
from genlab.training.task import evaluating
from genlab.tuning.prefs_data import PreferencePair
from genlab.tuning.sequences import Renderer, pad

#: held-out pairs scored at every evaluation (pairwise accuracy)
ACCURACY_SAMPLE = 512


class RewardModel(nn.Module):
    """A GPT body and a scalar head on the last token's hidden state."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.backbone = GPT(config)
        self.head = nn.Linear(config.n_embd, 1)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        self.block_size = config.block_size

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Rewards ``[B]`` for right-padded ``ids [B, T]`` whose real lengths are ``lengths``."""
        hidden = self.backbone._run(ids)  # (B, T, C), after the final LayerNorm
        last = hidden[torch.arange(ids.shape[0], device=ids.device), lengths.to(ids.device) - 1]  # (B, C)
        return self.head(last).squeeze(-1)

    # --- not a language model: what generate/chat/eval call fails in one line --------------------
    def _not_generative(self, *args: Any, **kwargs: Any) -> Any:
        raise GenlabError("this run holds a reward model: it scores answers but does not generate text; use "
                          "`genlab score RUN` (or `genlab rlhf POLICY --reward RUN`)")

    logits = start = step = prefill = _not_generative


def gpt_config(model_config: dict[str, Any]) -> GPTConfig:
    names = {f.name for f in fields(GPTConfig)}
    return GPTConfig(**{k: v for k, v in model_config.items() if k in names})


def build(model_config: dict[str, Any]) -> RewardModel:
    return RewardModel(gpt_config(model_config))


def load(run_dir: Path, config: dict, device: str = "cpu", which: str = "best") -> RewardModel:
    """Rebuild a trained reward model for the registry (``genlab score``)."""
    from genlab.models.weights import load_weights, weights_path

    model = build(config["model"])
    load_weights(model, weights_path(Path(run_dir), which))
    return model.to(device).eval()


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """``mean(−log σ(r_chosen − r_rejected))``."""
    return -F.logsigmoid(chosen - rejected).mean()


class RewardTask:
    """The :class:`genlab.training.task.TrainTask` that fits a reward model to preference pairs."""

    cross_entropy_loss = False  # its val loss is no cross-entropy: no perplexity is reported

    family = "reward"
    count_unit = "pairs"  # what count_tokens, the loss's mean and --epochs count

    def __init__(self, renderer: Renderer, train: list[PreferencePair], val: list[PreferencePair],
                 block_size: int, build_model: Any, info: dict[str, Any]) -> None:
        self.renderer = renderer
        self.splits = {"train": [self._encode(p) for p in train], "val": [self._encode(p) for p in val]}
        self.block_size = block_size
        self._build = build_model
        self._info = info

    def _encode(self, pair: PreferencePair) -> tuple[tuple[list[int], list[int]], tuple[list[int], list[int]]]:
        return self.renderer.sequence(pair.prompt, pair.chosen), self.renderer.sequence(pair.prompt, pair.rejected)

    @property
    def tokenizer_fingerprint(self) -> str:
        return self.renderer.tokenizer.fingerprint()

    @property
    def train_tokens(self) -> int:
        return len(self.splits["train"])  # --epochs counts passes over the pairs

    def run_info(self) -> dict[str, Any]:
        return self._info

    def model_config(self, args: argparse.Namespace) -> dict[str, Any]:
        raise GenlabError("a reward model takes its config from its base run")

    def build_model(self, model_config: dict[str, Any]) -> nn.Module:
        return self._build(model_config)

    def _tensors(self, pairs: list) -> tuple[torch.Tensor, ...]:
        chosen = pad([c for c, _ in pairs], self.block_size)
        rejected = pad([r for _, r in pairs], self.block_size)
        return chosen[0], chosen[2], rejected[0], rejected[2]

    def batch(self, split: str, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        data = self.splits[split]
        if not data:
            raise GenlabError(f"no {split} preference pairs; give more pairs or change --val-fraction")
        return self._tensors([data[i] for i in rng.integers(len(data), size=batch_size)])

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        c_ids, c_len, r_ids, r_len = batch
        return bradley_terry_loss(model(c_ids, c_len), model(r_ids, r_len))

    def count_tokens(self, batch: tuple[torch.Tensor, ...]) -> int:
        return int(batch[0].shape[0])  # pairs (count_unit)

    def extra_metrics(self, model: nn.Module) -> dict[str, float]:
        return {"pairwise_accuracy": pairwise_accuracy(model, self, self.splits["val"][:ACCURACY_SAMPLE])}


def pairwise_accuracy(model: nn.Module, task: RewardTask, pairs: list) -> float:
    """Share of pairs whose chosen answer gets the higher reward."""
    right = 0
    with evaluating(model) as inner, torch.inference_mode():
        device = next(inner.parameters()).device
        for start in range(0, len(pairs), 64):
            c_ids, c_len, r_ids, r_len = task._tensors(pairs[start:start + 64])
            right += int((inner(c_ids.to(device), c_len) > inner(r_ids.to(device), r_len)).sum())
    return right / max(len(pairs), 1)


def reward_config(base_config: dict[str, Any]) -> dict[str, Any]:
    """A reward run's model config: the base GPT's, under the family name ``reward``."""
    return {**asdict(gpt_config(base_config["model"])), "family": "reward", "backbone": "gpt"}


def init_from_base(base: Path, model_config: dict[str, Any]) -> RewardModel:
    """A reward model whose body is the base run's trained GPT (its head starts near zero)."""
    from genlab.models import load_model

    gpt, _, _ = load_model(base, device="cpu", which="best")
    model = build(model_config)
    model.backbone.load_state_dict(gpt.state_dict())
    return model.train()
