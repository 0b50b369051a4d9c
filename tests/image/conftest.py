"""Shared fixtures for the image tests: the digits (loaded once) and the smallest config of each family."""

from __future__ import annotations

import pytest
import torch

#: the smallest settings that still exercise every part of each family (CI-sized)
TINY: dict[str, dict] = {
    "autoencoder": {"latent": 4, "width": 8, "batch_size": 32, "eval_interval": 3},
    "vae": {"latent": 4, "width": 8, "iw_samples": 8, "batch_size": 32, "eval_interval": 3},
    "gan": {"latent": 8, "g_width": 8, "d_width": 8, "batch_size": 32, "eval_interval": 3},
    "flow": {"net": "conv", "width": 8, "blocks": 1, "couplings": 1, "batch_size": 32, "eval_interval": 3},
    "diffusion": {"width": 8, "timesteps": 20, "sample_steps": 10, "batch_size": 32, "eval_interval": 3},
}


@pytest.fixture(scope="package", autouse=True)
def _one_thread():
    """The models are tiny: one thread is fastest, and on a busy CI machine two can be 20× slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="package")
def digits(_one_thread):
    from genlab.image.data import load_digits

    return load_digits()


@pytest.fixture(scope="package")
def judge(digits):
    from genlab.image.classifier import train_classifier

    return train_classifier(digits)

