"""``--dtype`` of the generators' trainer: bfloat16 autocast of each step, or ``auto`` chosen by a timed probe."""

from __future__ import annotations

import json

import pytest
import torch

from genlab.checkpoint import load_tensors
from genlab.cli import main
from genlab.errors import GenlabError
from genlab.image import step_dtype
from genlab.image.trainer import ImageTrainConfig, new_run, train

from .conftest import TINY


def _cfg(**kw) -> ImageTrainConfig:
    return ImageTrainConfig(seed=1, quiet=True, pictures=False, **kw)


@pytest.mark.parametrize("family", ["gan", "vae"])
def test_bfloat16_steps_train_deterministically_and_keep_float32_weights(tmp_path, digits, family):
    runs = []
    for name in ("a", "b"):
        run = tmp_path / name
        new_run(run, family, digits, TINY[family], _cfg(max_steps=4, dtype="bfloat16"))
        assert train(run, _cfg(max_steps=4, dtype="bfloat16")).steps == 4
        runs.append(load_tensors(run / "model.safetensors"))
        assert json.loads((run / "config.json").read_text())["train"]["dtype_used"] == "bfloat16"
    fp32 = tmp_path / "fp32"
    new_run(fp32, family, digits, TINY[family], _cfg(max_steps=4))
    train(fp32, _cfg(max_steps=4))
    plain = load_tensors(fp32 / "model.safetensors")
    assert all(t.dtype == torch.float32 for t in runs[0].values() if t.is_floating_point())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])  # same seed, same numbers
    # the products really ran in bfloat16: the weights moved differently from float32's
    assert any(not torch.equal(runs[0][k], plain[k]) for k in plain if plain[k].is_floating_point())


def test_autocast_computes_products_in_bfloat16_and_leaves_float32_alone():
    x, w = torch.randn(4, 8), torch.randn(8, 8)
    with step_dtype.autocast("bfloat16", "cpu"):
        assert (x @ w).dtype == torch.bfloat16
    with step_dtype.autocast("float32", "cpu"):
        assert (x @ w).dtype == torch.float32


def test_auto_times_both_and_leaves_the_random_stream_alone(digits, monkeypatch):
    from genlab.image import run as runs

    torch.manual_seed(0)
    model = runs.build_model("gan", TINY["gan"], digits.shape, digits.levels)
    batch = digits.tensor("train")[:8]
    before = torch.get_rng_state()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    chosen, timings = step_dtype.choose("auto", model, batch, "cpu")
    assert set(timings) == {"float32", "bfloat16"} and chosen in timings
    assert torch.equal(torch.get_rng_state(), before)  # the run draws the same numbers whatever was probed
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())  # a copy was probed
    def timed(seconds: dict[str, float]):
        return lambda model, batch, dtype, device, labels=None: seconds[dtype]

    monkeypatch.setattr(step_dtype, "_seconds_per_step", timed({"float32": 2.0, "bfloat16": 1.0}))
    assert step_dtype.choose("auto", model, batch, "cpu")[0] == "bfloat16"
    monkeypatch.setattr(step_dtype, "_seconds_per_step", timed({"float32": 1.0, "bfloat16": 0.98}))
    assert step_dtype.choose("auto", model, batch, "cpu")[0] == "float32"  # a tie keeps float32's precision


def test_auto_is_recorded_and_an_unknown_dtype_is_refused(tmp_path, digits):
    new_run(tmp_path, "gan", digits, TINY["gan"], _cfg(max_steps=2))
    train(tmp_path, _cfg(max_steps=2, dtype="auto"))
    used = json.loads((tmp_path / "config.json").read_text())["train"]["dtype_used"]
    assert used in ("float32", "bfloat16")
    with pytest.raises(GenlabError, match="--dtype must be one of"):
        train(tmp_path, _cfg(max_steps=3, dtype="float16"))
    with pytest.raises(GenlabError, match="mps cannot run bfloat16"):
        step_dtype.choose("bfloat16", None, torch.zeros(1), "mps")


def test_audio_cli_trains_with_dtype_bfloat16(tmp_path, capsys):
    import numpy as np

    from genlab.audio.wav import write_wav

    rng = np.random.default_rng(0)
    for word in ("a", "b"):
        for i in range(6):
            clip = 0.3 * np.sin(2 * np.pi * (300 if word == "a" else 600) * np.arange(8000) / 8000)
            write_wav(tmp_path / "wav" / word / f"{i}.wav", clip + rng.normal(0, 0.01, 8000), 8000)
    run = tmp_path / "run"
    assert main(["audio", "train", str(run), "--model", "wavegan", "--data", str(tmp_path / "wav"),
                 "--max-steps", "2", "--dtype", "bfloat16", "--set", "width=2", "--set", "latent=8",
                 "--batch-size", "4", "--quiet", "--no-pictures", "--device", "cpu"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["dtype_used"] == "bfloat16"
