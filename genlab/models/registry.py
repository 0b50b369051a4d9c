"""Model families by name, and loading any trained run back as a language model.

Each family module provides ``load(run_dir, config, device) -> model``; the run's ``config.json``
names the family under ``config["model"]["family"]``. Families import lazily, so ``genlab --help``
and the Markov chain never pay for modules they do not use.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from genlab.checkpoint import config_errors, read_config, run_dir
from genlab.errors import GenlabError

#: family name -> "module:function" that rebuilds a trained model from its run directory
FAMILIES: dict[str, str] = {
    "markov": "genlab.models.markov:load",
    "rnn": "genlab.models.rnn:load",
    "lstm": "genlab.models.rnn:load",
    "gru": "genlab.models.rnn:load",
    "gpt": "genlab.models.gpt:load",
    "bert": "genlab.models.bert:load",
    "rnn-attn": "genlab.models.seq2seq:load",
    "transformer": "genlab.models.seq2seq:load",
    "reward": "genlab.tuning.reward:load",
}


def _resolve(target: str):
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def load_model(run: str | Path, device: str = "cpu", which: str = "best") -> tuple[Any, Any, dict]:
    """Rebuild the trained model of a run: returns ``(model, tokenizer, config)``.

    ``which`` picks ``best`` or ``latest`` weights where a family keeps both.
    The tokenizer must be the one the model was trained with (checked by fingerprint).
    """
    from genlab.tokenizers import load as load_tokenizer

    path = run_dir(run)
    if not (path / "config.json").is_file():
        raise GenlabError(f"{path} has no trained model (config.json missing): run `genlab train {path}` first")
    config = read_config(path)
    family = (config.get("model") or {}).get("family")
    if family == "classifier":
        raise GenlabError(f"{path} holds a text classifier: use `genlab classify eval|predict {path}`")
    if family not in FAMILIES:
        raise GenlabError(f"{path}/config.json names an unknown model family {family!r}")
    tokenizer = load_tokenizer(path / "tokenizer.json")
    expected = config.get("tokenizer_fingerprint")
    if expected and expected != tokenizer.fingerprint():
        raise GenlabError(f"{path}/tokenizer.json is not the tokenizer this model was trained with; "
                          "restore the run's own tokenizer.json or retrain")
    with config_errors(path):
        model = _resolve(FAMILIES[family])(path, config, device=device, which=which)
    return model, tokenizer, config
