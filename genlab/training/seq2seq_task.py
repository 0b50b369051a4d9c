"""Training an encoder–decoder (rnn-attn, transformer): sentence pairs → target-token loss.

The :class:`genlab.training.task.TrainTask` for translation: a batch is padded (source, target)
pairs from the run's pairs store, the loss ignores padding, and each evaluation also reports greedy
exact match on a fixed sample of validation sentences.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genlab.errors import GenlabError
from genlab.models.seq2seq import DEFAULTS, PRESETS, build, config_from_dict, validate
from genlab.pairs import pad_batch
from genlab.tokenizers import BOS_ID, EOS_ID, PAD_ID
from genlab.training.task import evaluating

#: CLI flag (argparse dest) -> model-config field
FLAG_FIELDS = {"n_embd": "n_embd", "n_layer": "n_layer", "n_head": "n_head", "dropout": "dropout", "cell": "cell",
               "attention": "attention", "teacher_forcing": "teacher_forcing", "positions": "positions",
               "tie_weights": "share_embeddings", "block_size": "max_positions"}

#: training defaults for encoder-decoders: sentences are short, so batches are larger than LM windows
TRAIN_DEFAULTS: dict[str, Any] = {"batch_size": 64, "lr": 2e-3, "min_lr": 1e-4, "warmup_steps": 100,
                                  "eval_interval": 200, "eval_batches": 10}

EXACT_MATCH_SAMPLE = 200


class Seq2SeqTask:
    """What ``genlab.training.loop`` needs to train an encoder–decoder on a run's pairs store.

    A batch is ``(src [B, S], tgt_in [B, T], tgt_out [B, T])``: ``tgt_in`` = ``<bos>`` + target,
    ``tgt_out`` = target + ``<eos>``, both right-padded with ``<pad>``, which the loss ignores.
    """

    def __init__(self, run_dir: str | Path, args: argparse.Namespace) -> None:
        from genlab.pairs import PairStore

        self.run_dir = Path(run_dir)
        self.store = PairStore(self.run_dir)
        self.family = getattr(args, "model", None) or "rnn-attn"
        if self.family not in DEFAULTS:
            raise GenlabError(f"--model {self.family} is not an encoder-decoder; use rnn-attn or transformer")
        self.tokenizer = self.store.target_tokenizer
        self.source_tokenizer = self.store.source_tokenizer
        self._sample: tuple[list[str], list[list[str]]] | None = None

    def model_config(self, args: argparse.Namespace) -> dict[str, Any]:
        cfg = dict(DEFAULTS[self.family])
        preset = getattr(args, "preset", None)
        if preset:
            if preset not in PRESETS or PRESETS[preset]["family"] != self.family:
                names = ", ".join(p for p, v in PRESETS.items() if v["family"] == self.family)
                raise GenlabError(f"unknown --preset {preset!r} for {self.family}; choose one of {names}")
            cfg.update(PRESETS[preset])
        meta = self.store.meta
        cfg["src_vocab_size"] = int(meta["source_vocab_size"])
        cfg["tgt_vocab_size"] = int(meta["target_vocab_size"])
        if self.family == "transformer":
            # room for the longest stored sentence (plus <bos>) and for longer inputs at translation time
            cfg["max_positions"] = max(cfg["max_positions"], 2 * (max(meta["max_source_tokens"],
                                                                      meta["max_target_tokens"]) + 1))
            cfg["share_embeddings"] = bool(meta.get("shared_vocab", True))
        for flag, name in FLAG_FIELDS.items():
            value = getattr(args, flag, None)
            if value is not None and name in cfg:
                cfg[name] = value
        cfg["family"] = self.family
        validate(config_from_dict(cfg))
        return cfg

    def build_model(self, model_config: dict[str, Any]) -> nn.Module:
        return build(model_config)

    @property
    def tokenizer_fingerprint(self) -> str:
        """Of the target tokenizer (``tokenizer.json``), which ``models.registry`` checks on load."""
        return str(self.store.meta["tokenizer_fingerprint"])

    @property
    def train_tokens(self) -> int:
        """Target tokens in the training split (``--epochs`` counts passes over them)."""
        return int(self.store.meta["splits"]["train"]["target_tokens"])

    def train_defaults(self) -> dict[str, Any]:
        """Training values that suit short sentence pairs (flags still override them)."""
        return dict(TRAIN_DEFAULTS)

    def batch(self, split: str, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        src, tgt = self.store.examples(split)
        if not src:
            raise GenlabError(f"split {split} of {self.run_dir} has no pairs; re-run prepare with another --split")
        idx = rng.integers(0, len(src), size=batch_size)
        return (pad_batch([src[i] for i in idx]), pad_batch([tgt[i] for i in idx], prefix=BOS_ID),
                pad_batch([tgt[i] for i in idx], suffix=EOS_ID))

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        src, tgt_in, tgt_out = batch
        logits = model(src, tgt_in)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tgt_out.reshape(-1),
                               ignore_index=PAD_ID)

    def count_tokens(self, batch: tuple[torch.Tensor, ...]) -> int:
        return int((batch[2] != PAD_ID).sum())

    def extra_metrics(self, model: nn.Module) -> dict[str, float]:
        """Greedy exact match on a fixed sample of validation sources (any of their references counts)."""
        from genlab.beam import translate_texts

        if self._sample is None:
            sources, refs = self.store.references("val")
            self._sample = (sources[:EXACT_MATCH_SAMPLE], refs[:EXACT_MATCH_SAMPLE])
        sources, refs = self._sample
        if not sources:
            return {}
        with evaluating(model) as inner:
            device = next(inner.parameters()).device
            hyps = translate_texts(inner, self.source_tokenizer, self.tokenizer, sources, beam_size=1,
                                   device=str(device))
        return {"exact_match": sum(h in r for h, r in zip(hyps, refs)) / len(sources)}
