"""A classifier run's model: its backbone (any genlab sequence model) and head, built and loaded.

``config.json["model"]`` of a classifier run: ``{"family": "classifier", "backbone": {…the backbone's
own config, family included…}, "labels": [...], "pooling": ..., "max_length": ...}``. The weights
file holds the backbone's tensors under ``backbone.`` and the head's under ``head.``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.checkpoint import config_errors, read_config, run_dir
from genlab.classify.head import SequenceClassifier
from genlab.errors import GenlabError
from genlab.models.registry import run_kind
from genlab.tokenizers import Tokenizer

#: backbone family → "module:build" (a randomly initialised model from its config)
BACKBONES = {"bert": "genlab.models.bert:build", "gpt": "genlab.models.gpt:build", "rnn": "genlab.models.rnn:build",
             "lstm": "genlab.models.rnn:build", "gru": "genlab.models.rnn:build"}


def backbone_builder(family: str):
    if family not in BACKBONES:
        raise GenlabError(f"a {family} model cannot be the backbone of a classifier; use one of "
                          f"{', '.join(BACKBONES)}")
    module, func = BACKBONES[family].split(":")
    return getattr(importlib.import_module(module), func)


def build_classifier(config: dict[str, Any], backbone: torch.nn.Module | None = None) -> SequenceClassifier:
    """A classifier of ``config`` (``backbone``: an already built one, e.g. with pretrained weights)."""
    spec = config["backbone"]
    if backbone is None:
        backbone = backbone_builder(spec["family"])(spec)
    return SequenceClassifier(backbone, int(spec["n_embd"]), len(config["labels"]), config["pooling"],
                              float(config.get("head_dropout", 0.1)))


def encode_texts(tokenizer: Tokenizer, texts: list[str], max_length: int) -> list[np.ndarray]:
    """``<bos>`` + tokens + ``<eos>``, cut to ``max_length`` (the text's beginning is kept)."""
    out = []
    for ids in tokenizer.encode_batch(texts):
        ids = np.asarray(ids, dtype=np.int64)[:max_length - 2]
        out.append(np.concatenate([[tokenizer.bos_id], ids, [tokenizer.eos_id]]).astype(np.int64))
    return out


def pad(rows: list[np.ndarray], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``tokens[B, T]`` and ``key_mask[B, T]`` (True at real tokens)."""
    width = max(len(r) for r in rows)
    tokens = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=bool)
    for i, r in enumerate(rows):
        tokens[i, :len(r)] = r
        mask[i, :len(r)] = True
    return torch.from_numpy(tokens), torch.from_numpy(mask)


def probabilities(model: SequenceClassifier, rows: list[np.ndarray], batch_size: int = 64,
                  device: str = "cpu") -> np.ndarray:
    """Class probabilities ``[N, K]``, batches of similar length so little is padding."""
    order = np.argsort([len(r) for r in rows], kind="stable")
    out = np.zeros((len(rows), model.head.out_features), dtype=np.float64)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            take = order[start:start + batch_size]
            tokens, mask = pad([rows[i] for i in take])
            logits = model(tokens.to(device), mask.to(device))
            out[take] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    model.train(was_training)
    return out


def _classifier_advice(path: Path, config: dict[str, Any]) -> str:
    """How to get a classifier from the run at ``path``: start from it if it can be a backbone, else say what can."""
    if (config.get("model") or {}).get("family") in BACKBONES:
        return f"train one from it with `genlab classify train RUN --init-from {path} --data LABELS`"
    *others, last = BACKBONES
    advice = (f"a classifier starts from a {', '.join(others)} or {last} run "
              "(`genlab classify train RUN --init-from BASE --data LABELS`")
    base = config.get("init_from") or {}
    if base.get("family") in BACKBONES and base.get("run"):  # e.g. the GPT a reward model was trained on
        return f"{advice}), e.g. {base['run']}, the {base['family']} run {path} was made from"
    return f"{advice}, or --init-from none)"


def load_classifier(run: str | Path, which: str = "best", device: str = "cpu"
                    ) -> tuple[SequenceClassifier, Tokenizer, dict[str, Any]]:
    """A trained classifier run → (model, tokenizer, config); the tokenizer is checked by fingerprint."""
    from genlab.models.weights import load_weights, weights_path
    from genlab.tokenizers import load as load_tokenizer

    path = run_dir(run)
    if not (path / "config.json").is_file():
        raise GenlabError(f"{path} has no trained classifier (config.json missing): run `genlab classify train` first")
    config = read_config(path)
    family = (config.get("model") or {}).get("family")
    if family != "classifier":
        raise GenlabError(f"{path} holds {run_kind(config)}, not a classifier; {_classifier_advice(path, config)}")
    tokenizer = load_tokenizer(path / "tokenizer.json")
    if config.get("tokenizer_fingerprint") not in (None, tokenizer.fingerprint()):
        raise GenlabError(f"{path}/tokenizer.json is not the tokenizer this classifier was trained with")
    with config_errors(path):
        model = build_classifier(config["model"])
        labels, max_length = config["model"]["labels"], int(config["model"]["max_length"])
        if not (isinstance(labels, list) and len(labels) >= 2 and max_length >= 1):
            raise ValueError("labels must list at least 2 classes and max_length be at least 1")
    load_weights(model, weights_path(path, which))
    return model.to(device).eval(), tokenizer, config
