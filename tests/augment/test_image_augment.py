"""Image augmentation: geometric warps are seeded and stay on the data's levels; DiffAugment is differentiable."""

from __future__ import annotations

import torch

from genlab.augment.image import diff_augment, geometric


def test_geometric_is_deterministic_and_quantised() -> None:
    x = torch.zeros(4, 1, 8, 8)
    x[:, :, 2:6, 3:5] = 1.0
    a = geometric(x, torch.Generator().manual_seed(0), 1.0, levels=17)
    b = geometric(x, torch.Generator().manual_seed(0), 1.0, levels=17)
    c = geometric(x, torch.Generator().manual_seed(1), 1.0, levels=17)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, x)
    assert torch.allclose(a * 16, torch.round(a * 16)) and a.min() >= 0 and a.max() <= 1


def test_diff_augment_passes_gradients() -> None:
    torch.manual_seed(0)
    x = torch.rand(3, 1, 8, 8, requires_grad=True)
    y = diff_augment(x * 2 - 1)
    assert y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
