from __future__ import annotations

import json
import math

import pytest
import torch

from genlab.checkpoint import load_tensors, torch_load
from genlab.errors import GenlabError
from genlab.image.trainer import ImageTrainConfig, new_run, train
from genlab.image.vae import VAE

from .conftest import TINY


def _cfg(**kw) -> ImageTrainConfig:
    return ImageTrainConfig(seed=1, quiet=True, pictures=False, **kw)


@pytest.mark.parametrize("family", ["vae", "gan", "diffusion"])
def test_resume_continues_exactly_where_training_stopped(tmp_path, digits, family):
    straight, split = tmp_path / "straight", tmp_path / "split"
    new_run(straight, family, digits, TINY[family], _cfg(max_steps=8))
    train(straight, _cfg(max_steps=8))
    new_run(split, family, digits, TINY[family], _cfg(max_steps=4))
    train(split, _cfg(max_steps=4))
    assert torch_load(split / "train_state.pt")["step"] == 4
    result = train(split, _cfg(max_steps=8))
    assert result.steps == 8
    a, b = load_tensors(straight / "model.safetensors"), load_tensors(split / "model.safetensors")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    config = json.loads((split / "config.json").read_text())
    assert config["train"]["resumed_at_step"] == 4


def test_refuses_to_overwrite_a_trained_run(tmp_path, digits):
    new_run(tmp_path, "vae", digits, TINY["vae"], _cfg(max_steps=2))
    train(tmp_path, _cfg(max_steps=2))
    with pytest.raises(GenlabError, match="--resume"):
        new_run(tmp_path, "vae", digits, TINY["vae"], _cfg(max_steps=2))


def test_time_budget_stops_training(tmp_path, digits):
    new_run(tmp_path, "vae", digits, TINY["vae"], _cfg(time_budget=0.5))
    result = train(tmp_path, _cfg(time_budget=0.5))
    assert result.stop_reason == "time budget" and result.steps >= 1


def test_early_stopping_keeps_the_best_validation_checkpoint(tmp_path, digits, monkeypatch):
    # a validation loss that gets worse after the first evaluation must stop training after `early_stop` evals
    values = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    monkeypatch.setattr(VAE, "validation_loss", lambda self, x: next(values))
    settings = {**TINY["vae"], "eval_interval": 2, "early_stop": 2}
    new_run(tmp_path, "vae", digits, settings, _cfg(max_steps=100))
    result = train(tmp_path, _cfg(max_steps=100))
    assert result.steps == 6 and result.best_step == 2 and result.best_value == 1.0
    assert result.stop_reason.startswith("early stop")
    evals = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines() if '"val"' in line]
    assert [e["step"] for e in evals] == [2, 4, 6]


def test_nan_loss_is_a_clear_error_and_keeps_the_last_good_checkpoint(tmp_path, digits, monkeypatch):
    original = VAE.training_step
    calls = {"n": 0}

    def flaky(self, x, optimizers):
        calls["n"] += 1
        out = original(self, x, optimizers)
        return {**out, "bits_per_dim": math.nan} if calls["n"] == 5 else out

    monkeypatch.setattr(VAE, "training_step", flaky)
    new_run(tmp_path, "vae", digits, TINY["vae"], _cfg(max_steps=10))
    with pytest.raises(GenlabError, match="diverged at step 5"):
        train(tmp_path, _cfg(max_steps=10))
    assert torch_load(tmp_path / "train_state.pt")["step"] == 3  # the checkpoint of the evaluation at step 3
    weights = load_tensors(tmp_path / "model.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point())


def test_ctrl_c_saves_then_resume_finishes(tmp_path, digits, monkeypatch):
    original = VAE.training_step
    calls = {"n": 0}

    def interrupted(self, x, optimizers):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return original(self, x, optimizers)

    monkeypatch.setattr(VAE, "training_step", interrupted)
    new_run(tmp_path, "vae", digits, TINY["vae"], _cfg(max_steps=8))
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path, _cfg(max_steps=8))
    assert torch_load(tmp_path / "train_state.pt")["step"] == 4
    monkeypatch.setattr(VAE, "training_step", original)
    assert train(tmp_path, _cfg(max_steps=8)).steps == 8


def test_training_pictures_are_written(tmp_path, digits):
    cfg = ImageTrainConfig(seed=0, quiet=True, max_steps=3)
    new_run(tmp_path, "vae", digits, TINY["vae"], cfg)
    train(tmp_path, cfg)
    for name in ("samples.png", "loss.png", "reconstructions.png", "interpolations.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_diffusion_pictures_include_the_denoising_strip(tmp_path, digits):
    cfg = ImageTrainConfig(seed=0, quiet=True, max_steps=3)
    new_run(tmp_path, "diffusion", digits, TINY["diffusion"], cfg)
    train(tmp_path, cfg)
    assert (tmp_path / "denoising.png").is_file()
    assert load_tensors(tmp_path / "model.safetensors")


def test_ctrl_c_signal_stops_at_a_step_boundary(tmp_path, digits, monkeypatch):
    """A real SIGINT during step 5 lets step 5 finish (a GAN never stops between its two updates), then saves."""
    import os
    import signal

    from genlab.image.gan import GAN

    original = GAN.training_step
    calls = {"n": 0}

    def ctrl_c_during_step(self, x, optimizers):
        calls["n"] += 1
        if calls["n"] == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, x, optimizers)

    monkeypatch.setattr(GAN, "training_step", ctrl_c_during_step)
    new_run(tmp_path, "gan", digits, TINY["gan"], _cfg(max_steps=8))
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path, _cfg(max_steps=8))
    assert calls["n"] == 5
    assert torch_load(tmp_path / "train_state.pt")["step"] == 5
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "the handler is restored"


@pytest.mark.parametrize("damage", ["truncated-weights", "garbage-state", "missing-data"])
def test_damaged_runs_give_clear_errors(tmp_path, digits, damage):
    from genlab.image.run import load_run

    new_run(tmp_path, "vae", digits, TINY["vae"], _cfg(max_steps=2))
    train(tmp_path, _cfg(max_steps=2))
    if damage == "truncated-weights":
        for name in ("model.safetensors", "model-best.safetensors"):
            blob = (tmp_path / name).read_bytes()
            (tmp_path / name).write_bytes(blob[: len(blob) // 2])
    elif damage == "garbage-state":
        (tmp_path / "train_state.pt").write_bytes(b"not a checkpoint")
    else:
        (tmp_path / "data.safetensors").unlink()
    with pytest.raises(GenlabError) as err:
        if damage == "garbage-state":
            train(tmp_path, _cfg(max_steps=4))
        else:
            load_run(tmp_path)
    assert "\n" not in str(err.value)
