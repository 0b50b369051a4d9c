"""An image run directory: everything needed to sample, evaluate or resume, without the original data.

Same conventions as the language-model runs (``genlab.training.task``): ``config.json`` (``{"kind":
"image", "model": {"family": …, every hyperparameter}, "data": {…}, "train": {…}}``),
``model.safetensors`` (latest), ``model-best.safetensors`` (best on validation), ``train_state.pt``
(optimizers, RNG, data position; loaded with ``weights_only=True``), ``metrics.jsonl``, ``loss.png``.
Image runs add ``data.safetensors`` (the exact split, as uint8 levels) and the cached judge
``classifier.safetensors`` used by the metrics.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from genlab.checkpoint import load_numpy, load_tensors, read_json, save_numpy, save_tensors, write_json
from genlab.errors import GenlabError
from genlab.image.data import ImageData, from_arrays, to_arrays
from genlab.image.protocol import family_class
from genlab.training.task import BEST_WEIGHTS, LATEST_WEIGHTS, TRAIN_STATE

CONFIG = "config.json"
DATA = "data.safetensors"
FORMAT = "genlab-image-run"


def build_model(family: str, model_config: dict[str, Any], shape: tuple[int, int, int], levels: int):
    """A fresh model of ``family`` from a (possibly partial) config dict; unknown keys are an error."""
    cls = family_class(family)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    extra = sorted(set(model_config) - fields - {"family"})
    if extra:
        raise GenlabError(f"config.json has settings {extra} that the {family} model does not know; "
                          "was it written by another genlab version?")
    config = cls.Config(**{k: v for k, v in model_config.items() if k in fields})
    return cls(config, tuple(shape), levels)


def model_config_dict(model) -> dict[str, Any]:
    return {"family": model.family, **dataclasses.asdict(model.config)}


def save_data(run: Path, data: ImageData) -> None:
    save_numpy(run / DATA, to_arrays(data))


def load_data(run: Path, config: dict) -> ImageData:
    return from_arrays(load_numpy(Path(run) / DATA), config["data"])


def save_weights(run: Path, model, which: str) -> None:
    name = BEST_WEIGHTS if which == "best" else LATEST_WEIGHTS
    save_tensors(Path(run) / name, model.state_dict(), metadata={"family": model.family})


def read_config(run: str | Path) -> dict:
    run = Path(run)
    if not run.is_dir():
        raise GenlabError(f"run directory {run} not found: train one with `genlab image train {run} --model vae`")
    config = read_json(run / CONFIG)
    if config.get("kind") != "image":
        raise GenlabError(f"{run} is not an image run (no \"kind\": \"image\" in config.json); "
                          "use `genlab generate` for language models")
    return config


def load_run(run: str | Path, which: str = "best", device: str = "cpu"):
    """(model, data, config) of a trained image run; ``best`` falls back to the latest weights."""
    run = Path(run)
    config = read_config(run)
    data = load_data(run, config)
    model_cfg = dict(config["model"])
    model = build_model(model_cfg.pop("family"), model_cfg, data.shape, data.levels)
    path = run / (BEST_WEIGHTS if which == "best" else LATEST_WEIGHTS)
    if which == "best" and not path.is_file():
        path = run / LATEST_WEIGHTS
    if not path.is_file():
        raise GenlabError(f"{run} has no trained weights yet: run `genlab image train {run} …` first")
    state = load_tensors(path)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise GenlabError(f"{path} does not match the model in {run / CONFIG} ({str(exc).splitlines()[0]}); "
                          "retrain or restore the run") from exc
    model.to(device).eval()
    return model, data, config


def write_config(run: Path, config: dict) -> None:
    write_json(Path(run) / CONFIG, config)


def has_checkpoint(run: Path) -> bool:
    return (Path(run) / LATEST_WEIGHTS).is_file() or (Path(run) / TRAIN_STATE).is_file()


def device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device
