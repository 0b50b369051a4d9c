from __future__ import annotations

import pytest
import torch

from genlab.image.run import load_run
from genlab.image.trainer import ImageTrainConfig, new_run, train

from .conftest import TINY


@pytest.fixture(scope="module", params=["normal", "mixture"])
def trained_vae(request, tmp_path_factory, digits):
    run = tmp_path_factory.mktemp("vae") / request.param
    cfg = ImageTrainConfig(seed=0, max_steps=30, quiet=True, pictures=False)
    new_run(run, "vae", digits, {**TINY["vae"], "prior": request.param, "prior_components": 5}, cfg)
    train(run, cfg)
    return load_run(run, "latest")


def test_elbo_is_below_the_importance_sampled_log_likelihood(trained_vae):
    model, data, _ = trained_vae
    x = data.tensor("test")[:64]
    torch.manual_seed(0)
    elbo = torch.stack([model.elbo(x) for _ in range(8)]).mean(0)
    iwae = model.log_prob(x, k=256)
    assert iwae.mean() > elbo.mean() + 0.5, (iwae.mean(), elbo.mean())
    assert (iwae > elbo).float().mean() > 0.9


def test_one_importance_sample_is_an_unbiased_elbo(trained_vae):
    """IWAE with k = 1 is log p(x, z) − log q(z | x) at one z: on average the ELBO (a second formula for it)."""
    model, data, _ = trained_vae
    x = data.tensor("test")[:16]
    torch.manual_seed(1)
    one = torch.stack([model.log_prob(x, k=1) for _ in range(400)]).mean(0)
    elbo = torch.stack([model.elbo(x) for _ in range(400)]).mean(0)
    assert torch.allclose(one, elbo, rtol=0.02, atol=1.0)


def test_bits_per_dim_report_and_pictures_helpers(trained_vae):
    model, data, _ = trained_vae
    x = data.tensor("test")[:32]
    bound, kind = model.test_bits_per_dim(x, data.levels)
    assert 0 < bound < 4.1 and "IWAE" in kind  # below log2(17): better than a uniform guess
    assert model.reconstruct(x).shape == x.shape
    lines = model.interpolate(x[:2], x[2:4], steps=5)
    assert lines.shape == (2, 5, 1, 8, 8)
    # the ends of each line are the reconstructions of its two images
    assert torch.allclose(lines[:, 0], model.reconstruct(x[:2]), atol=1e-5)


@pytest.mark.parametrize("output", ["sample", "mean", "mode"])
def test_every_output_kind_is_an_image(trained_vae, output):
    import dataclasses

    model, _, _ = trained_vae
    model.config = dataclasses.replace(model.config, output=output)
    s = model.sample(6, seed=2)
    assert s.shape == (6, 1, 8, 8) and s.min() >= 0 and s.max() <= 1
    if output != "mean":  # draws and modes are whole levels
        assert torch.allclose(s * 16, torch.round(s * 16), atol=1e-5)
    model.config = dataclasses.replace(model.config, output="sample")
