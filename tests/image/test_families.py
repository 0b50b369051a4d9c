"""Every family through the shared trainer: trains a few steps, samples the right thing, reloads exactly."""

from __future__ import annotations

import json

import pytest
import torch

from genlab.image.protocol import FAMILIES
from genlab.image.run import load_run
from genlab.image.trainer import ImageTrainConfig, new_run, train

from .conftest import TINY


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_trains_samples_and_reloads_to_identical_samples(tmp_path, digits, family):
    run = tmp_path / family
    cfg = ImageTrainConfig(seed=3, max_steps=6, quiet=True, pictures=False)
    new_run(run, family, digits, TINY[family], cfg)
    result = train(run, cfg)
    assert result.steps == 6
    assert {"config.json", "model.safetensors", "model-best.safetensors", "train_state.pt", "metrics.jsonl",
            "data.safetensors"} <= {p.name for p in run.iterdir()}
    config = json.loads((run / "config.json").read_text())
    assert config["kind"] == "image" and config["model"]["family"] == family
    assert config["model"]["batch_size"] == 32  # every value used is recorded, overrides included

    model, data, _ = load_run(run, "latest")
    a = model.sample(10, seed=7)
    assert a.shape == (10, 1, 8, 8) and a.dtype == torch.float32
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0 and torch.isfinite(a).all()
    assert a.std() > 0, "samples should not all be the same constant"
    again, _, _ = load_run(run, "latest")
    assert torch.equal(again.sample(10, seed=7), a), "same weights + same seed must give the same images"
    assert not torch.equal(again.sample(10, seed=8), a), "another seed should give other images"
    best, _, _ = load_run(run, "best")
    assert best.sample(4, seed=0).shape == (4, 1, 8, 8)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_training_is_deterministic_for_a_seed(tmp_path, digits, family):
    from genlab.checkpoint import load_tensors

    weights = []
    for name in ("a", "b"):
        cfg = ImageTrainConfig(seed=5, max_steps=4, quiet=True, pictures=False)
        new_run(tmp_path / name, family, digits, TINY[family], cfg)
        train(tmp_path / name, cfg)
        weights.append(load_tensors(tmp_path / name / "model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key


@pytest.fixture(scope="module")
def rgb_folder(tmp_path_factory):
    """Twelve 16×16 colour pictures in a flat folder (no labels: the metrics fall back to PCA features)."""
    import numpy as np
    from PIL import Image

    from genlab.image.data import load_folder

    folder = tmp_path_factory.mktemp("rgb")
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8), "RGB").save(folder / f"{i}.png")
    return load_folder(folder, size=16)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_works_on_a_folder_of_16x16_colour_images(tmp_path, rgb_folder, family):
    cfg = ImageTrainConfig(seed=0, max_steps=2, quiet=True, pictures=False)
    new_run(tmp_path, family, rgb_folder, {**TINY[family], "batch_size": 4, "eval_interval": 2}, cfg)
    train(tmp_path, cfg)
    model, data, _ = load_run(tmp_path, "latest")
    s = model.sample(3, seed=0)
    assert s.shape == (3, 3, 16, 16) and float(s.min()) >= 0 and float(s.max()) <= 1
    if hasattr(model, "test_bits_per_dim"):  # 256 levels: below 8 bits/dim would mean it learnt something
        bpd, _ = model.test_bits_per_dim(data.tensor("test"), data.levels)
        assert 0 < bpd < 20
