"""``--init-from RUN``: start a model from another run's weights (transfer learning, the course's remedy
for data shortage).

The new run must speak the source run's tokenizer: the same one, or one grown from it by new symbols
(``genlab prepare --tokenizer-from RUN``). Every old token keeps its embedding row, found by its
string (:mod:`genlab.models.resize`); new tokens start at the mean row. A tokenizer that lacks some
of the source's tokens is refused — the weights would be read as other tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from genlab.checkpoint import read_config, run_dir
from genlab.errors import GenlabError
from genlab.tokenizers import Tokenizer

#: fields of a model config that decide its weights' shapes; --init-from takes them from the source
ARCHITECTURE = ("n_layer", "n_head", "n_embd", "block_size", "bias", "tie_weights", "impl")


class InitFrom:
    """A source run: its config, tokenizer and best weights, to start a new model from."""

    def __init__(self, run: str | Path, families: tuple[str, ...] | None = None) -> None:
        from genlab.tokenizers import load as load_tokenizer

        self.path = run_dir(run)
        if not (self.path / "config.json").is_file():
            raise GenlabError(f"--init-from {self.path}: no trained model there (config.json missing); train it "
                              "first or pass another run")
        self.config = read_config(self.path)
        self.family = str((self.config.get("model") or {}).get("family"))
        if families is not None and self.family not in families:
            raise GenlabError(f"--init-from {self.path} holds a {self.family} model; this needs one of "
                              f"{', '.join(families)}")
        self.tokenizer: Tokenizer = load_tokenizer(self.path / "tokenizer.json")

    def model_config(self, vocab_size: int, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """The source's architecture with the new vocabulary size (and e.g. a new dropout)."""
        config = {**self.config["model"], **(overrides or {}), "vocab_size": vocab_size}
        return config

    def check_tokenizer(self, tokenizer: Tokenizer) -> list[int | None]:
        """Where each new id's row comes from; a tokenizer that is not the source's (or grown from it) is refused."""
        from genlab.models.resize import row_sources

        try:
            return row_sources(self.tokenizer.token_strings(), tokenizer.token_strings())
        except GenlabError as exc:
            raise GenlabError(f"--init-from {self.path}: this run's tokenizer is not that run's nor grown from it "
                              f"({exc}); prepare the data with `genlab prepare --tokenizer-from {self.path}`") from exc

    def model(self, model_config: dict[str, Any], tokenizer: Tokenizer, build: Any) -> nn.Module:
        """The source's best weights in a model of ``model_config`` (vocabulary grown to ``tokenizer``)."""
        from genlab.models import load_model
        from genlab.models.resize import grown_model

        self.check_tokenizer(tokenizer)
        source, _, _ = load_model(self.path, device="cpu", which="best")
        grown, _ = grown_model(source, self.config["model"], self.tokenizer.token_strings(),
                               tokenizer.token_strings(), build)
        model = build(model_config)
        missing, unexpected = model.load_state_dict(grown.state_dict(), strict=False)
        if missing or unexpected:
            raise GenlabError(f"--init-from {self.path}: its weights do not fit this model (missing "
                              f"{sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
        return model.train()

    def describe(self) -> dict[str, Any]:
        return {"run": str(self.path), "family": self.family, "tokenizer_fingerprint": self.tokenizer.fingerprint()}
