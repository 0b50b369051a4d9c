"""A neural model's weights on disk: safetensors (no pickle), tied weights stored once.

safetensors refuses two names for one tensor, and a GPT's output head *is* its token embedding
(weight tying), so we keep the first name of each shared tensor and re-tie on load: the model's own
constructor already shares them, so loading one name fills both.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from genlab.checkpoint import load_tensors, save_tensors
from genlab.errors import GenlabError
from genlab.training.task import BEST_WEIGHTS, LATEST_WEIGHTS, weights_file


def unique_state(model: nn.Module) -> tuple[dict[str, torch.Tensor], set[str]]:
    """The model's tensors with each shared storage once, and the names left out as aliases."""
    tensors: dict[str, torch.Tensor] = {}
    aliases: set[str] = set()
    seen: set[tuple[int, tuple[int, ...], tuple[int, ...]]] = set()
    for name, tensor in model.state_dict().items():
        key = (tensor.data_ptr(), tuple(tensor.shape), tuple(tensor.stride()))
        if tensor.numel() and key in seen:
            aliases.add(name)
            continue
        seen.add(key)
        tensors[name] = tensor
    return tensors, aliases


def save_weights(path: str | Path, model: nn.Module, metadata: dict[str, str] | None = None) -> None:
    """Write the model's weights atomically (the previous file survives a crash or a full disk)."""
    tensors, _ = unique_state(model)
    save_tensors(path, tensors, metadata)


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Fill ``model`` from a safetensors file; a file of another shape or model is a clear error."""
    tensors = load_tensors(path, device="cpu")
    _, aliases = unique_state(model)
    expected = set(model.state_dict())
    missing = expected - set(tensors) - aliases
    unexpected = set(tensors) - expected
    if missing or unexpected:
        detail = f"missing {sorted(missing)[:3]}" if missing else f"unexpected {sorted(unexpected)[:3]}"
        raise GenlabError(f"{path} does not fit this model's config.json ({detail}); "
                          "the run directory mixes files of different models — retrain it")
    try:
        model.load_state_dict(tensors, strict=False)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1].strip()
        raise GenlabError(f"{path} does not fit this model's config.json ({first}); retrain the run") from exc


def weights_path(run_dir: Path, which: str = "best") -> Path:
    """``best`` → ``model-best.safetensors`` when it exists, else the latest ``model.safetensors``."""
    path = run_dir / weights_file(which)
    if which == "best" and not path.is_file():
        path = run_dir / LATEST_WEIGHTS
    if not path.is_file() and which != "best" and (run_dir / BEST_WEIGHTS).is_file():
        raise GenlabError(f"{run_dir} has no latest checkpoint ({LATEST_WEIGHTS}), only the best weights; "
                          "use --which best")
    if not path.is_file():
        raise GenlabError(f"{run_dir} has no trained weights ({LATEST_WEIGHTS} or {BEST_WEIGHTS}); "
                          f"train it with `genlab train {run_dir} --model …`")
    return path
