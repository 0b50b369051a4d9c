"""Training a language model (rnn, lstm, gru, gpt): windows of the token store → next-token loss.

Each batch is ``batch_size`` random windows of ``block_size + 1`` tokens read straight from the
split's file (only the batch itself is copied; see :class:`WindowReader`); inputs are the first
``block_size`` tokens and targets the same shifted by one, so every position is a next-token
prediction. The loss is the mean cross-entropy over all targets — its exponential is the perplexity
that ``genlab eval`` reports.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genlab.errors import GenlabError
from genlab.models.presets import preset_for
from genlab.tokens import TokenStore, WindowReader

#: flag name → model config field, for the flags that shape a language model
MODEL_FLAGS = ("n_layer", "n_head", "n_embd", "block_size", "dropout", "tie_weights", "rnn_impl", "positions",
               "qk_norm", "activation")
#: flags that shape only some Transformers (positions, attention, MLP) → the families they are for
TRANSFORMER_FLAGS = {"positions": ("gpt", "bert"), "qk_norm": ("gpt", "bert"), "activation": ("gpt", "bert")}
RECURRENT = ("rnn", "lstm", "gru")


class LanguageModelTask:
    """The :class:`genlab.training.task.TrainTask` for decoder-only language models.

    ``init_from`` (a run directory) starts from that run's weights instead of random ones: continued
    pretraining on a new corpus (domain adaptation). ``augment`` (a :class:`genlab.augment.text.TextAugment`)
    adds augmented copies of the training documents, in memory, before training.
    """

    families: tuple[str, ...] = (*RECURRENT, "gpt")

    def __init__(self, run_dir: str | Path, family: str, augment: Any = None, init_from: Any = None) -> None:
        if family not in self.families:
            raise GenlabError(f"--model {family} is not a language model trained by this loop")
        self.family = family
        self.store = TokenStore(run_dir)
        self.block_size: int | None = None
        self._readers: dict[str, WindowReader] = {}
        self.augment = augment
        self.init_from = init_from
        self._augment_info: dict[str, Any] | None = None
        if augment is not None:
            self._augment_train()

    def _augment_train(self) -> None:
        """Decode the training documents, add ``copies`` augmented versions of each, re-encode (in memory)."""
        tok = self.store.tokenizer
        data = np.asarray(self.store.split("train"), dtype=np.int64)
        ends = np.flatnonzero(data == tok.eos_id)
        docs = [tok.decode(d) for d in np.split(data, ends + 1)[:len(ends)]]
        extra = self.augment.texts(docs)
        stream = tok.encode_stream(extra, tok.eos_id, np.int64)
        self._readers["train"] = WindowReader(np.concatenate([data, stream]))
        self._augment_info = {**self.augment.describe(), "documents": len(docs), "added_tokens": int(stream.size)}
        print(f"augmented the training split: {len(docs):,} documents + {len(extra):,} augmented copies "
              f"({self.augment.spec()})")

    def run_info(self) -> dict[str, Any]:
        """Lineage written into config.json: where the weights came from, how the data was augmented."""
        info: dict[str, Any] = {}
        if self.init_from is not None:
            info["init_from"] = self.init_from.describe()
        if self._augment_info is not None:
            info["augment"] = self._augment_info
        return info

    @property
    def tokenizer_fingerprint(self) -> str:
        return self.store.tokenizer.fingerprint()

    @property
    def train_tokens(self) -> int:
        """Tokens in one pass over the training split (turns ``--epochs`` into steps)."""
        return len(self._split("train"))

    def model_config(self, args: argparse.Namespace) -> dict[str, Any]:
        """Dataclass defaults ← the preset (``--preset`` or the family's default) ← explicit flags."""
        _, preset = preset_for(self.family, getattr(args, "preset", None))
        config = self._defaults()
        config.update({k: v for k, v in preset["model"].items() if k != "family"})
        for flag in MODEL_FLAGS:
            value = getattr(args, flag, None)
            if value is None:
                continue
            if flag == "n_head" and self.family not in ("gpt", "bert"):
                raise GenlabError("--n-head is for --model gpt (a recurrent layer has no heads)")
            if self.family not in TRANSFORMER_FLAGS.get(flag, (self.family,)):
                raise GenlabError(f"--{flag.replace('_', '-')} is for --model {' or '.join(TRANSFORMER_FLAGS[flag])}")
            if flag == "rnn_impl" and self.family in ("gpt", "bert"):
                raise GenlabError("--rnn-impl is for --model rnn|lstm|gru")
            config["impl" if flag == "rnn_impl" else flag] = value
        config["vocab_size"] = self.store.vocab_size
        return {"family": self.family, **config}

    def _defaults(self) -> dict[str, Any]:
        from dataclasses import asdict

        if self.family == "gpt":
            from genlab.models.gpt import GPTConfig

            return asdict(GPTConfig())
        from genlab.models.rnn import RNNConfig

        values = asdict(RNNConfig(cell=self.family))
        values.pop("cell")
        return values

    def build_model(self, model_config: dict[str, Any]) -> nn.Module:
        if model_config.get("vocab_size") != self.store.vocab_size:
            raise GenlabError(f"the model's vocabulary ({model_config.get('vocab_size')}) differs from the "
                              f"run's tokenizer ({self.store.vocab_size}); the run was re-prepared — retrain "
                              "without --resume")
        build = self._builder()
        self.block_size = int(model_config["block_size"])
        if self.init_from is not None:
            return self.init_from.model(model_config, self.store.tokenizer, build)
        return build(model_config)

    def _builder(self):
        if self.family == "gpt":
            from genlab.models.gpt import build
        else:
            from genlab.models.rnn import build
        return build

    def _split(self, name: str) -> np.ndarray:
        return self._reader(name).data

    def _reader(self, name: str) -> WindowReader:
        if name not in self._readers:
            self._readers[name] = WindowReader(self.store.split(name))
        return self._readers[name]

    def batch(self, split: str, batch_size: int, rng: np.random.Generator,
              rows: slice | None = None) -> tuple[torch.Tensor, ...]:
        """``batch_size`` random windows; with ``rows``, only those rows are read from the store.

        The generator draws all ``batch_size`` positions either way, so processes that share a seed
        agree on the global batch while each reads only its own part (see training.distributed).
        """
        assert self.block_size is not None, "build_model first"
        reader = self._reader(split)
        if len(reader) < self.block_size + 1:
            raise GenlabError(f"the {split} split has {len(reader):,} tokens, fewer than --block-size "
                              f"{self.block_size} + 1; use a smaller --block-size or a larger corpus")
        # the same positions as genlab.tokens.random_windows draws from the same generator
        starts = rng.integers(0, len(reader) - self.block_size, size=batch_size)
        if rows is not None:
            starts = starts[rows]
        chunk = torch.from_numpy(reader.read(starts, self.block_size + 1))
        return chunk[:, :-1], chunk[:, 1:]

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y = batch
        logits = model(x)  # (B, T, V)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1))

    def count_tokens(self, batch: tuple[torch.Tensor, ...]) -> int:
        return batch[1].numel()

    def extra_metrics(self, model: nn.Module) -> dict[str, float]:
        return {}
