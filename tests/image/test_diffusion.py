from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.image.diffusion import DDPM, DiffusionConfig, beta_schedule


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedules_take_signal_from_all_to_nothing(kind):
    betas = beta_schedule(kind, 200)
    alpha_bar = torch.cumprod(1 - betas, 0)
    assert (betas > 0).all() and (betas < 1).all()
    assert (alpha_bar[1:] < alpha_bar[:-1]).all()
    assert alpha_bar[0] > 0.98 and alpha_bar[-1] < 1e-3


def test_unknown_schedule_is_a_clear_error():
    with pytest.raises(GenlabError):
        beta_schedule("quadratic", 10)


class _Oracle(nn.Module):
    """The perfect ε-predictor for a data set made of one image x₀: ε = (x_t − √ᾱ x₀) / √(1 − ᾱ)."""

    def __init__(self, x0: torch.Tensor, alpha_bar: torch.Tensor) -> None:
        super().__init__()
        self.x0, self.alpha_bar = x0, alpha_bar

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = self.alpha_bar[t].float().view(-1, 1, 1, 1)
        return (x - ab.sqrt() * self.x0) / (1 - ab).sqrt()


@pytest.mark.parametrize("sampler,steps", [("ddpm", 50), ("ddpm", 12), ("ddim", 10), ("ddim", 3)])
def test_sampler_with_a_perfect_denoiser_returns_the_training_image(sampler, steps):
    config = DiffusionConfig(width=8, timesteps=50, sampler=sampler, sample_steps=steps)
    model = DDPM(config, (1, 8, 8), 17)
    x0 = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    model.ema.net = _Oracle(x0 * 2 - 1, model.alpha_bar)
    out = model.sample(4, seed=1)
    assert torch.allclose(out, x0.expand(4, -1, -1, -1), atol=1e-4)


def test_forward_process_matches_its_closed_form():
    model = DDPM(DiffusionConfig(width=8, timesteps=100, schedule="linear"), (1, 8, 8), 17)
    x0, eps = torch.rand(3, 1, 8, 8) * 2 - 1, torch.randn(3, 1, 8, 8)
    t = torch.tensor([0, 50, 99])
    # run q(x_t | x_{t-1}) one step at a time with the same total noise: same marginal mean and variance
    betas = beta_schedule("linear", 100)
    for i, ti in enumerate(t.tolist()):
        ab = float(torch.prod(1 - betas[: ti + 1]))
        expected = math.sqrt(ab) * x0[i] + math.sqrt(1 - ab) * eps[i]
        assert torch.allclose(model.noisy(x0[i:i + 1], t[i:i + 1], eps[i:i + 1])[0], expected, atol=1e-5)


def test_denoising_strip_goes_from_noise_to_the_sample():
    model = DDPM(DiffusionConfig(width=8, timesteps=30, sample_steps=30), (1, 8, 8), 17)
    strip, times = model.denoising_strip(3, seed=0, frames=5)
    assert strip.shape == (3, 5, 1, 8, 8) and times[0] > times[-1] == 0
    assert torch.equal(strip[:, -1], model.sample(3, seed=0))


def test_sampling_settings_can_change_after_training():
    model = DDPM(DiffusionConfig(width=8, timesteps=30), (1, 8, 8), 17)
    model.config = dataclasses.replace(model.config, sampler="ddim", sample_steps=5)
    model.config_changed()
    assert model.sample(2, seed=0).shape == (2, 1, 8, 8)
    model.config = dataclasses.replace(model.config, sample_steps=0)
    with pytest.raises(GenlabError):
        model.config_changed()
