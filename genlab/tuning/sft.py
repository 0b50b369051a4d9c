"""Supervised fine-tuning (SFT) as a task of the one training loop: conversations → assistant-token loss.

Each conversation is rendered by the chat template with its loss mask (:mod:`genlab.tuning.template`)
and stored as ``<eos>`` + ids, the same document start every genlab model knows. A batch row packs
random conversations end to end until it holds ``block_size + 1`` tokens (no padding wasted; the last
one is cut at the row's end), and the loss is the mean cross-entropy over the targets whose mask is
1 — the assistant's words and its end of turn. The model starts from the base run's weights
(transfer learning), with its vocabulary grown for the template's tokens and the data's new symbols,
and optionally with LoRA adapters on a frozen base.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genlab.errors import GenlabError
from genlab.tokenizers import EOS_ID, Tokenizer
from genlab.training.task import evaluating
from genlab.tuning.chat_data import Conversation
from genlab.tuning.template import ChatTemplate

#: validation conversations answered greedily at every evaluation (exact match, logged with val loss)
EXACT_MATCH_SAMPLE = 32


@dataclass
class EncodedSplit:
    """Conversations as one flat id array and mask, with each conversation's start offset."""

    ids: np.ndarray  # int64, every conversation's <eos> + rendered ids, end to end
    mask: np.ndarray  # uint8, 1 where the token is a training target
    starts: np.ndarray  # int64, offsets of each conversation (plus the total length at the end)

    def __len__(self) -> int:
        return len(self.starts) - 1

    def conversation(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.starts[i], self.starts[i + 1]
        return self.ids[a:b], self.mask[a:b]

    @property
    def target_tokens(self) -> int:
        return int(self.mask.sum())


def encode_split(template: ChatTemplate, conversations: Sequence[Conversation]) -> EncodedSplit:
    ids: list[int] = []
    mask: list[int] = []
    starts = [0]
    for conv in conversations:
        rendered = template.render(conv.messages, tools=conv.tools)
        ids += [EOS_ID, *rendered.ids]
        mask += [0, *rendered.mask]
        starts.append(len(ids))
    return EncodedSplit(np.asarray(ids, dtype=np.int64), np.asarray(mask, dtype=np.uint8),
                        np.asarray(starts, dtype=np.int64))


def fingerprint(*splits: EncodedSplit) -> str:
    """A short hash of the encoded data, so ``--resume`` can refuse data that changed."""
    digest = hashlib.sha256()
    for split in splits:
        for array in (split.ids, split.mask, split.starts):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def masked_loss(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions where ``mask`` is 1 (a batch with none gives 0).

    Only those positions are scored (``model(inputs, select=...)``): in builtin:skills one token in
    four is an assistant's, and for a 128-wide char GPT (2,900 symbols) the head and its softmax are
    about a third of the arithmetic of each token.
    """
    keep = mask.bool()
    logits = model(inputs, select=keep)  # [N, V]
    return F.cross_entropy(logits.float(), targets[keep], reduction="sum") / keep.sum().clamp(min=1)


class SFTTask:
    """The :class:`genlab.training.task.TrainTask` for fine-tuning a language model on conversations."""

    def __init__(self, family: str, tokenizer: Tokenizer, train: EncodedSplit, val: EncodedSplit,
                 block_size: int, build: Any, val_conversations: Sequence[Conversation] = (),
                 info: dict[str, Any] | None = None) -> None:
        self.family = family
        self.tokenizer = tokenizer
        self.template = ChatTemplate(tokenizer)
        self.splits = {"train": train, "val": val}
        self.block_size = block_size
        self._build = build  # model_config -> the starting model (base weights, grown, maybe with LoRA)
        self._sample = list(val_conversations)[:EXACT_MATCH_SAMPLE]
        self._info = dict(info or {})

    @property
    def tokenizer_fingerprint(self) -> str:
        return self.tokenizer.fingerprint()

    @property
    def train_tokens(self) -> int:
        """Target tokens in one pass over the training conversations (turns ``--epochs`` into steps)."""
        return self.splits["train"].target_tokens

    def run_info(self) -> dict[str, Any]:
        """Lineage and template, recorded in the run's config.json."""
        return self._info

    def model_config(self, args: argparse.Namespace) -> dict[str, Any]:
        raise GenlabError("a fine-tuning run takes its model config from its base run")

    def build_model(self, model_config: dict[str, Any]) -> nn.Module:
        return self._build(model_config)

    def batch(self, split: str, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """``batch_size`` rows of packed conversations: (inputs, targets, target mask), each ``[B, T]``."""
        data = self.splits[split]
        if len(data) == 0:
            raise GenlabError(f"the {split} split has no conversations; give more data or lower --val-fraction")
        width = self.block_size + 1
        rows = np.zeros((batch_size, width), dtype=np.int64)
        masks = np.zeros((batch_size, width), dtype=np.uint8)
        for r in range(batch_size):
            filled = 0
            while filled < width:
                ids, mask = data.conversation(int(rng.integers(len(data))))
                ids, mask = ids[-width:], mask[-width:]  # longer than the context: keep its end (the answer)
                take = min(len(ids), width - filled)
                rows[r, filled:filled + take] = ids[:take]
                masks[r, filled:filled + take] = mask[:take]
                filled += take
        chunk, mask = torch.from_numpy(rows), torch.from_numpy(masks)
        return chunk[:, :-1], chunk[:, 1:], mask[:, 1:]

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y, mask = batch
        return masked_loss(model, x, y, mask)

    def count_tokens(self, batch: tuple[torch.Tensor, ...]) -> int:
        return int(batch[2].sum())

    def extra_metrics(self, model: nn.Module) -> dict[str, float]:
        """Greedy exact match on a fixed sample of validation conversations."""
        if not self._sample:
            return {}
        from genlab.tuning.answers import exact_match

        with evaluating(model) as inner:
            device = str(next(inner.parameters()).device)
            report = exact_match(inner, self.tokenizer, self._sample, device=device, max_tokens=40)
        return {"exact_match": report.accuracy}


def split_conversations(conversations: Sequence[Conversation], val_fraction: float,
                        seed: int) -> tuple[list[Conversation], list[Conversation]]:
    """A deterministic train/validation split with at least one conversation in each."""
    if not 0 < val_fraction < 1:
        raise GenlabError("--val-fraction must be between 0 and 1 (exclusive)")
    n = len(conversations)
    if n < 2:
        raise GenlabError(f"fine-tuning needs at least 2 conversations (one to validate on); the data has {n}")
    n_val = min(n - 1, max(1, round(val_fraction * n)))
    order = np.random.default_rng([seed, 17]).permutation(n)
    val = sorted(order[:n_val].tolist())
    chosen = set(val)
    return [c for i, c in enumerate(conversations) if i not in chosen], [conversations[i] for i in val]
