"""Shared fixtures for the video tests: a tiny moving-digits set and the smallest VGAN."""

from __future__ import annotations

import pytest
import torch

TINY = {"latent": 8, "g_width": 4, "d_width": 4, "object_width": 4, "glimpses": 2, "object_batch": 8, "batch_size": 4,
        "eval_interval": 3}


@pytest.fixture(scope="package", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="package")
def clips():
    from genlab.video.data import load_moving_digits

    return load_moving_digits(clips=30, seed=0)
