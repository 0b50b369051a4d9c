"""An image run directory: everything needed to sample, evaluate or resume, without the original data.

Same conventions as the language-model runs (``genlab.training.task``): ``config.json`` (``{"kind":
"image", "model": {"family": …, every hyperparameter}, "data": {…}, "train": {…}}``),
``model.safetensors`` (latest), ``model-best.safetensors`` (best on validation), ``train_state.pt``
(optimizers, RNG, data position; loaded with ``weights_only=True``), ``metrics.jsonl``, ``loss.png``.
Image runs add ``data.safetensors`` (the exact split, as uint8 levels) and the cached judge
``classifier.safetensors`` used by the metrics.

Audio and video runs (``genlab.audio``, ``genlab.video``) are the same directory with another
``"kind"``: a ``RunKind`` names what differs — the model families, the data class, the judge that
selects GAN checkpoints and the pictures drawn at the end — and every function here takes one
(default: images), so one trainer and one run format serve images, sounds and clips.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genlab.checkpoint import load_numpy, load_tensors, read_json, save_numpy, save_tensors, write_json
from genlab.errors import GenlabError
from genlab.image.data import ImageData, from_arrays, to_arrays
from genlab.image.protocol import FAMILIES
from genlab.training.task import BEST_WEIGHTS, LATEST_WEIGHTS, TRAIN_STATE

CONFIG = "config.json"
DATA = "data.safetensors"
FORMAT = "genlab-image-run"


def _resolve(target: str):
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class RunKind:
    """What differs between image, audio and video runs; everything else (loop, files, resume) is shared.

    Targets are ``"module:name"`` strings, imported only when used, so ``genlab image`` never loads
    audio code and the other way round.
    """

    name: str  # config.json's "kind"
    families: dict[str, str]  # family -> "module:Class"
    data_class: str = "genlab.image.data:ImageData"  # rebuilt from data.safetensors by ``from_arrays``
    judge: str = "genlab.image.classifier:load_or_train"  # (run, data) -> object with features(), fid_name
    pictures: str = "genlab.image.plots:training_pictures"  # (run) -> written files
    unit: str = "images"  # what one training example is called in progress bars and metrics.jsonl
    select_samples: int = 500  # samples per checkpoint-selection FID (families without a validation loss)

    def family_class(self, family: str) -> type:
        """The model class of a family (imported lazily: a family's code loads only when used)."""
        if family not in self.families:
            raise GenlabError(f"unknown {self.name} model {family!r}; choose one of {', '.join(self.families)}")
        return _resolve(self.families[family])

    def load_judge(self, run: Path | None, data):
        return _resolve(self.judge)(run, data)

    def training_pictures(self, run: Path) -> list[Path]:
        return _resolve(self.pictures)(run)


IMAGE = RunKind("image", FAMILIES)


def build_model(family: str, model_config: dict[str, Any], shape: tuple[int, ...], levels: int,
                kind: RunKind = IMAGE):
    """A fresh model of ``family`` from a (possibly partial) config dict; unknown keys are an error."""
    cls = kind.family_class(family)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    extra = sorted(set(model_config) - fields - {"family"})
    if extra:
        raise GenlabError(f"config.json has settings {extra} that the {family} model does not know; "
                          "was it written by another genlab version?")
    config = cls.Config(**{k: v for k, v in model_config.items() if k in fields})
    return cls(config, tuple(shape), levels)


def saved_model_config(config: dict[str, Any], kind: RunKind = IMAGE) -> tuple[str, dict[str, Any]]:
    """The family and settings of a saved run's model. A setting that an older genlab did not write yet
    takes the value that version built with (the family's ``before_settings``), not today's default."""
    model_cfg = dict(config["model"])
    family = model_cfg.pop("family")
    before = getattr(kind.family_class(family), "before_settings", {})
    return family, {**before, **model_cfg}


def model_config_dict(model) -> dict[str, Any]:
    return {"family": model.family, **dataclasses.asdict(model.config)}


def save_data(run: Path, data: ImageData) -> None:
    save_numpy(run / DATA, to_arrays(data))


def load_data(run: Path, config: dict, kind: RunKind = IMAGE) -> ImageData:
    return from_arrays(load_numpy(Path(run) / DATA), config["data"], cls=_resolve(kind.data_class))


def save_weights(run: Path, model, which: str) -> None:
    name = BEST_WEIGHTS if which == "best" else LATEST_WEIGHTS
    save_tensors(Path(run) / name, model.state_dict(), metadata={"family": model.family})


def read_config(run: str | Path, kind: RunKind = IMAGE) -> dict:
    run = Path(run)
    example = next(iter(kind.families))
    if run.exists() and not run.is_dir():
        raise GenlabError(f"{run} is a file, not a run directory: pass the folder `genlab {kind.name} train` "
                          "wrote")
    if not run.is_dir():
        raise GenlabError(f"run directory {run} not found: train one with "
                          f"`genlab {kind.name} train {run} --model {example}`")
    config = read_json(run / CONFIG)
    if not isinstance(config, dict) or config.get("kind") != kind.name:
        found = config.get("kind") if isinstance(config, dict) else None
        other = f"`genlab {found} …`" if found in ("image", "audio", "video") else "`genlab generate`"
        raise GenlabError(f"{run} is not an {kind.name} run (no \"kind\": \"{kind.name}\" in config.json); "
                          f"use {other} for it")
    return config


def load_run(run: str | Path, which: str = "best", device: str = "cpu", kind: RunKind = IMAGE):
    """(model, data, config) of a trained run; ``best`` falls back to the latest weights."""
    run = Path(run)
    config = read_config(run, kind)
    data = load_data(run, config, kind)
    family, model_cfg = saved_model_config(config, kind)
    model = build_model(family, model_cfg, data.shape, data.levels, kind)
    path = run / (BEST_WEIGHTS if which == "best" else LATEST_WEIGHTS)
    if which == "best" and not path.is_file():
        path = run / LATEST_WEIGHTS
    if not path.is_file():
        raise GenlabError(f"{run} has no trained weights yet: run `genlab {kind.name} train {run} …` first")
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
