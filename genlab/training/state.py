"""Checkpoints that resume *the same curve*: weights, optimizer, schedule position and every RNG.

Resuming exactly needs everything that decides the next step: the weights (``model.safetensors``),
AdamW's moment estimates, the step count (it sets the learning rate), the NumPy generator that
draws the next batch windows (the data position), and PyTorch's generator (dropout). They go in
``train_state.pt`` as plain tensors, numbers and strings, read back with ``weights_only=True``
(never arbitrary pickle). Both files are written atomically, weights first; the step is recorded in
both, so a crash between the two writes is detected instead of resuming a mismatched pair.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genlab.checkpoint import torch_load, torch_save
from genlab.errors import GenlabError
from genlab.models.weights import load_weights, save_weights
from genlab.training.task import LATEST_WEIGHTS, TRAIN_STATE
from genlab.training.weight_average import WeightAverage

STATE_FORMAT = "genlab-train-state"
#: parameters with this in their name are low-rank adapters (``genlab.tuning.lora``): a checkpoint saves
#: the merged weights for everyone, and the adapters themselves for resuming
ADAPTER_MARK = "lora_"


@dataclass
class Progress:
    """Where training stands; saved in ``train_state.pt`` and restored on resume."""

    step: int = 0  # optimizer steps done
    tokens: int = 0  # target tokens trained on
    elapsed: float = 0.0  # training wall time in seconds, across resumes
    lr_scale: float = 1.0  # halved by each batch skipped with --on-nan skip
    skipped: int = 0
    best_val_loss: float = math.inf
    best_step: int = -1
    last_val_loss: float = math.nan
    evals_since_best: int = 0
    #: what picks the best checkpoint when a task names a metric (``best_by``): minus that metric
    best_score: float = math.inf
    #: running sums for the next metrics line (so a resumed run logs the same averages)
    window: dict[str, float] = field(default_factory=dict)
    #: what a task keeps between steps (an RL task's KL coefficient and sample cache), if it keeps anything
    task_state: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scaler: torch.amp.GradScaler | None, progress: Progress, rng: np.random.Generator,
                    average: WeightAverage | None = None) -> None:
    """Write ``model.safetensors`` then ``train_state.pt`` (both atomic); ``average``: ``--ema``'s weights."""
    save_weights(run_dir / LATEST_WEIGHTS, model, metadata={"step": str(progress.step)})
    adapters = {name: p.detach().cpu() for name, p in model.named_parameters() if ADAPTER_MARK in name}
    state: dict[str, Any] = {
        "format": STATE_FORMAT,
        "version": 1,
        "progress": asdict(progress),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "numpy_rng": json.dumps(rng.bit_generator.state),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    if adapters:
        state["adapters"] = adapters
    if average is not None:
        state["weight_average"] = average.state_dict()
    torch_save(run_dir / TRAIN_STATE, state)


def _weights_step(path: Path) -> int | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # safetensors raises several types for a damaged header
        raise GenlabError(f"{path} is corrupted or truncated ({exc}); retrain or restore it") from exc
    return int(meta["step"]) if meta.get("step", "").isdigit() else None


def require_checkpoint(run_dir: Path) -> None:
    """Fail early (before building anything) when there is nothing to resume."""
    if not (run_dir / TRAIN_STATE).is_file() or not (run_dir / LATEST_WEIGHTS).is_file():
        raise GenlabError(f"{run_dir} has no checkpoint to resume ({TRAIN_STATE} and {LATEST_WEIGHTS}); "
                          "train without --resume first")


def load_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scaler: torch.amp.GradScaler | None,
                    average: WeightAverage | None = None) -> tuple[Progress, np.random.Generator]:
    """Restore model, optimizer and RNGs in place; returns the progress and the batch generator.

    ``average`` (``--ema``) gets the saved average; a run that had none starts it from the live weights.
    """
    require_checkpoint(run_dir)
    state_path, weights = run_dir / TRAIN_STATE, run_dir / LATEST_WEIGHTS
    state = torch_load(state_path)
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise GenlabError(f"{state_path} is not a genlab training state; retrain without --resume")
    progress = Progress(**state["progress"])
    saved_step = _weights_step(weights)
    if saved_step is not None and saved_step != progress.step:
        raise GenlabError(f"{weights} (step {saved_step}) and {state_path} (step {progress.step}) disagree — "
                          "a save was interrupted; retrain, or restore both files from a backup")
    if state.get("adapters"):
        _load_adapters(model, state["adapters"], weights)
    else:
        load_weights(model, weights)
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError, RuntimeError) as exc:
        raise GenlabError(f"{state_path} does not match this model's optimizer ({exc}); retrain") from exc
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    if average is not None:
        if state.get("weight_average"):
            average.load_state_dict(state["weight_average"], str(state_path))
        else:
            average.restart()
    rng = np.random.default_rng()
    rng.bit_generator.state = json.loads(state["numpy_rng"])
    torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return progress, rng


def _load_adapters(model: nn.Module, adapters: dict[str, torch.Tensor], weights: Path) -> None:
    """Resume a LoRA run: the frozen base is rebuilt from its base run, then the adapters are restored.

    The merged result must equal the saved weights; if it does not, the base run changed since training
    started, and resuming would silently train something else.
    """
    params = dict(model.named_parameters())
    names = {n for n in params if ADAPTER_MARK in n}
    if set(adapters) != names:
        raise GenlabError(f"{weights.parent} was trained with other LoRA adapters (rank or layers differ); "
                          "resume with the same --lora-rank, or start again without --resume")
    with torch.no_grad():
        for name, tensor in adapters.items():
            if params[name].shape != tensor.shape:
                raise GenlabError(f"{weights.parent}: adapter {name} has another shape; resume with the same "
                                  "--lora-rank")
            params[name].copy_(tensor)
    from genlab.checkpoint import load_tensors

    saved = load_tensors(weights, device="cpu")
    for name, tensor in model.state_dict().items():
        if name in saved and not torch.allclose(tensor.float().cpu(), saved[name].float(), atol=1e-5, rtol=1e-4):
            raise GenlabError(f"the base run of {weights.parent} changed since fine-tuning started ({name} differs); "
                              "restore it, or start again without --resume")
