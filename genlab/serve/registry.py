"""The models one server holds: each trained run, loaded once at start-up and named by its directory.

Requests name a model by id and never by path, so a client cannot make the server open files.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError
from genlab.serve.errors import APIError
from genlab.tokenizers import Tokenizer


@dataclass
class ServedModel:
    id: str
    model: Any
    tokenizer: Tokenizer
    config: dict = field(default_factory=dict)
    device: str = "cpu"
    created: int = field(default_factory=lambda: int(time.time()))
    #: the run directory (feedback is kept there); None for models built in memory
    path: Path | None = None

    @property
    def family(self) -> str:
        return str((self.config.get("model") or {}).get("family", "unknown"))

    @property
    def is_seq2seq(self) -> bool:
        return bool(getattr(self.model, "is_seq2seq", False))

    def card(self) -> dict[str, Any]:
        """The ``/v1/models`` entry: OpenAI's fields, plus what the playground shows about the model."""
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": "genlab",
            "genlab": {
                "family": self.family,
                "kind": "seq2seq" if self.is_seq2seq else "language-model",
                "tokenizer": getattr(self.tokenizer, "kind", "unknown"),
                "vocab_size": int(self.tokenizer.vocab_size),
                "context_size": getattr(self.model, "context_size", None),
            },
        }


class ModelRegistry:
    """Model id → loaded model; unknown ids are a 404 in OpenAI's shape."""

    def __init__(self, models: Sequence[ServedModel]) -> None:
        if not models:
            raise GenlabError("no models to serve: name at least one run directory")
        self._models: dict[str, ServedModel] = {}
        for served in models:
            if served.id in self._models:
                raise GenlabError(f"two runs are both named {served.id!r}: model ids are run directory names, "
                                  "so rename one of the directories")
            self._models[served.id] = served

    def __iter__(self):
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def ids(self) -> list[str]:
        return list(self._models)

    def get(self, model_id: str) -> ServedModel:
        served = self._models.get(model_id)
        if served is None:
            shown = model_id if len(model_id) <= 80 else model_id[:77] + "..."
            raise APIError(404, f"The model `{shown}` does not exist; this server serves: {', '.join(self._models)}",
                           param="model", code="model_not_found")
        return served


def load_runs(runs: Sequence[str | Path], device: str = "cpu", which: str = "best",
              quantize: str = "none", dtype: str = "float32") -> ModelRegistry:
    """Load every run through the model registry (the same loader ``genlab generate`` uses)."""
    from genlab.inference_dtype import cast_for_inference
    from genlab.models import load_model
    from genlab.models.registry import refuse_non_generative

    served = []
    for run in runs:
        path = Path(run)
        model, tokenizer, config = load_model(path, device=device, which=which)
        refuse_non_generative(path, config)  # at start-up, not as an error on every request
        if quantize == "int8" and not getattr(model, "is_seq2seq", False):
            model = _quantize_int8(model)
        if dtype != "float32" and not getattr(model, "is_seq2seq", False):
            model = cast_for_inference(model, dtype, device)
        config_file = path / "config.json"
        created = int(config_file.stat().st_mtime) if config_file.is_file() else int(time.time())
        served.append(ServedModel(path.resolve().name, model, tokenizer, config, device, created, path.resolve()))
    return ModelRegistry(served)


def _quantize_int8(model: Any) -> Any:
    try:
        from genlab.quantize import quantize_int8
    except ModuleNotFoundError as exc:
        raise GenlabError("--quantize int8 is not available in this install (genlab.quantize is missing); "
                          "serve without --quantize") from exc
    return quantize_int8(model)
