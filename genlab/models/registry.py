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


#: what a run of each family holds, in words for messages ("RUN holds a Markov chain")
FAMILY_WORDS: dict[str, str] = {
    "markov": "a Markov chain", "rnn": "an RNN language model", "lstm": "an LSTM language model",
    "gru": "a GRU language model", "gpt": "a GPT language model", "bert": "a BERT encoder",
    "rnn-attn": "an rnn-attn encoder-decoder", "transformer": "a transformer encoder-decoder",
    "reward": "a reward model", "classifier": "a text classifier",
}
#: families whose runs hold no text generator, and what they do instead
NOT_GENERATIVE: dict[str, str] = {"bert": "it fills in <mask> tokens", "reward": "it scores answers"}


def run_kind(config: dict[str, Any]) -> str:
    """What a run holds, from its ``config.json``, in words: "a GPT language model", "a GPT chat model", …"""
    family = (config.get("model") or {}).get("family")
    words = FAMILY_WORDS.get(family, f"a {family} model")
    if config.get("chat_template") and words.endswith("language model"):
        words = words.replace("language model", "chat model")
    return words


def command_for(run: str | Path, config: dict[str, Any]) -> str:
    """The command that uses a run for what it was trained to do (for advice in messages)."""
    family = (config.get("model") or {}).get("family")
    if family == "bert":
        return f'genlab fill {run} "… <mask> …"'
    if family == "reward":
        return f"genlab score {run} < answers.txt"
    if family in ("rnn-attn", "transformer"):
        return f"genlab translate {run}"
    if family == "classifier":
        return f"genlab classify predict {run} FILE"
    return f"genlab chat {run}" if config.get("chat_template") else f"genlab generate {run}"


def refuse_non_generative(run: str | Path, config: dict[str, Any]) -> None:
    """A :class:`GenlabError` for a run that cannot generate text (BERT, reward model), naming what can use it."""
    family = (config.get("model") or {}).get("family")
    if family in NOT_GENERATIVE:
        raise GenlabError(f"{run} holds {run_kind(config)}: {NOT_GENERATIVE[family]} but does not generate text; "
                          f"use `{command_for(run, config)}`")


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
