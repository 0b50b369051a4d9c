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

STATE_FORMAT = "genlab-train-state"


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
    #: running sums for the next metrics line (so a resumed run logs the same averages)
    window: dict[str, float] = field(default_factory=dict)


def save_checkpoint(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scaler: torch.amp.GradScaler | None, progress: Progress, rng: np.random.Generator) -> None:
    """Write ``model.safetensors`` then ``train_state.pt`` (both atomic)."""
    save_weights(run_dir / LATEST_WEIGHTS, model, metadata={"step": str(progress.step)})
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
                    scaler: torch.amp.GradScaler | None) -> tuple[Progress, np.random.Generator]:
    """Restore model, optimizer and RNGs in place; returns the progress and the batch generator."""
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
    load_weights(model, weights)
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError, RuntimeError) as exc:
        raise GenlabError(f"{state_path} does not match this model's optimizer ({exc}); retrain") from exc
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    rng = np.random.default_rng()
    rng.bit_generator.state = json.loads(state["numpy_rng"])
    torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return progress, rng
