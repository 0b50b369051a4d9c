"""Pretraining BERT: windows of the token store with 15 % of the tokens hidden → masked-LM loss.

BERT's recipe (Devlin et al. 2019): choose 15 % of the positions; of those, 80 % become ``<mask>``,
10 % a random token and 10 % stay as they are (so the model cannot learn that only ``<mask>`` needs
predicting); the loss is the cross-entropy at the chosen positions only — the label is ``-100``
(ignored) everywhere else. Special tokens (``<eos>`` between documents, …) are never chosen. The
``<mask>`` token is an *added* special token of the run's tokenizer (ids 0–3 and every other id keep
their meaning, so the token store stays valid); the task adds it the first time BERT trains on a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genlab.checkpoint import read_json, write_json
from genlab.errors import GenlabError
from genlab.models.bert import MASK_TOKEN
from genlab.tokenizers import Tokenizer
from genlab.tokenizers.base import id_dtype
from genlab.training.lm_task import LanguageModelTask

IGNORE = -100
MASK_RATE, MASK_AS_MASK, MASK_AS_RANDOM = 0.15, 0.8, 0.1
#: validation windows scored for masked-token accuracy at each evaluation
ACCURACY_BATCHES = 8


def ensure_mask_token(run: Path) -> Tokenizer:
    """The run's tokenizer with ``<mask>`` (added once, written back with the store's metadata)."""
    from genlab.tokenizers import load as load_tokenizer

    tokenizer = load_tokenizer(run / "tokenizer.json")
    if tokenizer.special_id(MASK_TOKEN) is not None:
        return tokenizer
    grown = tokenizer.extended((), [MASK_TOKEN])
    meta_path = run / "meta.json"
    meta = read_json(meta_path)
    if meta.get("tokenizer_fingerprint") != tokenizer.fingerprint():
        raise GenlabError(f"{run}/tokenizer.json does not match the token store; re-run prepare")
    if id_dtype(grown.vocab_size) != np.dtype(meta["dtype"]):
        raise GenlabError("adding <mask> would overflow the token store's id type; prepare with a smaller "
                          "--vocab-size")
    grown.save(run / "tokenizer.json")
    write_json(meta_path, {**meta, "tokenizer_fingerprint": grown.fingerprint(), "vocab_size": grown.vocab_size})
    print(f"added the special token {MASK_TOKEN} to {run}/tokenizer.json (id {grown.special_id(MASK_TOKEN)}; "
          "every other id is unchanged)")
    return grown


def mask_tokens(ids: np.ndarray, rng: np.random.Generator, mask_id: int, special: np.ndarray,
                vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """BERT's masking of ``ids[B, T]`` → (inputs, labels); labels are ``-100`` except at chosen positions.

    ``special`` lists ids never chosen. Every row with a maskable token gets at least one chosen
    position, so no batch has an empty loss.
    """
    ids = np.asarray(ids, dtype=np.int64)
    maskable = ~np.isin(ids, special)
    chosen = (rng.random(ids.shape) < MASK_RATE) & maskable
    for r in np.flatnonzero(~chosen.any(axis=1) & maskable.any(axis=1)):
        chosen[r, rng.choice(np.flatnonzero(maskable[r]))] = True
    how = rng.random(ids.shape)
    random_ids = rng.integers(0, vocab_size, size=ids.shape)
    random_ids = np.where(np.isin(random_ids, special), ids, random_ids)  # a random *ordinary* token
    inputs = ids.copy()
    inputs[chosen & (how < MASK_AS_MASK)] = mask_id
    swap = chosen & (how >= MASK_AS_MASK) & (how < MASK_AS_MASK + MASK_AS_RANDOM)
    inputs[swap] = random_ids[swap]
    labels = np.where(chosen, ids, IGNORE)
    return inputs, labels


def special_ids(tokenizer: Tokenizer) -> np.ndarray:
    """The fixed ids 0–3 and every added special token: never masked, never drawn as a random token."""
    added = [tokenizer.special_id(t) for t in tokenizer.added_specials]
    return np.array(sorted({0, 1, 2, 3, *[i for i in added if i is not None]}), dtype=np.int64)


class MaskedLMTask(LanguageModelTask):
    """The :class:`genlab.training.task.TrainTask` for BERT: masked windows, loss at masked positions."""

    families = ("bert",)

    def __init__(self, run_dir: str | Path, family: str = "bert", augment: Any = None, init_from: Any = None) -> None:
        self.tokenizer = ensure_mask_token(Path(run_dir))
        super().__init__(run_dir, family, augment=augment, init_from=init_from)
        self.mask_id = int(self.tokenizer.special_id(MASK_TOKEN))
        self.special = special_ids(self.tokenizer)

    def _defaults(self) -> dict[str, Any]:
        from dataclasses import asdict

        from genlab.models.bert import BertConfig

        return asdict(BertConfig())

    def _builder(self):
        from genlab.models.bert import build

        return build

    def batch(self, split: str, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """``batch_size`` random windows of ``block_size`` tokens, masked with the same generator."""
        assert self.block_size is not None, "build_model first"
        reader = self._reader(split)
        if len(reader) < self.block_size:
            raise GenlabError(f"the {split} split has {len(reader):,} tokens, fewer than --block-size "
                              f"{self.block_size}; use a smaller --block-size or a larger corpus")
        starts = rng.integers(0, len(reader) - self.block_size + 1, size=batch_size)
        ids = reader.read(starts, self.block_size)
        inputs, labels = mask_tokens(ids, rng, self.mask_id, self.special, self.store.vocab_size)
        return torch.from_numpy(inputs), torch.from_numpy(labels)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y = batch
        chosen = y != IGNORE
        logits = model.mlm_logits(model.hidden(x)[chosen])  # only the chosen positions: (N, V)
        return F.cross_entropy(logits.float(), y[chosen])

    def count_tokens(self, batch: tuple[torch.Tensor, ...]) -> int:
        return int((batch[1] != IGNORE).sum())  # masked positions: the loss is their mean

    @property
    def train_tokens(self) -> int:
        """Masked positions expected in one pass over the training split, the unit ``count_tokens`` counts:
        ``--epochs`` then counts passes over the text (counting every token would plan ~7× too many steps)."""
        return max(1, round(super().train_tokens * MASK_RATE))

    def extra_metrics(self, model: nn.Module) -> dict[str, float]:
        """Masked-token accuracy on fixed validation windows (the same windows and masks each time)."""
        rng = np.random.default_rng([ACCURACY_BATCHES, 11])
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        right = total = 0
        with torch.inference_mode():
            for _ in range(ACCURACY_BATCHES):
                x, y = (t.to(device) for t in self.batch("val", 16, rng))
                chosen = y != IGNORE
                guess = model.mlm_logits(model.hidden(x)[chosen]).argmax(-1)
                right += int((guess == y[chosen]).sum())
                total += int(chosen.sum())
        model.train(was_training)
        return {"masked_accuracy": right / max(total, 1)}
