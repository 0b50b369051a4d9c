from __future__ import annotations

import math

import pytest
import torch

from genlab.image.flow import FlowConfig, RealNVP, squeeze, unsqueeze


def _scrambled_flow(net: str, dtype=torch.float32) -> RealNVP:
    """A flow whose couplings are far from the identity (fresh ones start as the identity map).

    ``net``: "conv", "conv+mix" (with invertible 1×1 convolutions) or "mlp".
    """
    torch.manual_seed(0)
    kind = net.split("+")[0]
    config = FlowConfig(net=kind, width=16, blocks=1, couplings=2 if kind == "conv" else 4, mix=net.endswith("+mix"))
    flow = RealNVP(config, (1, 8, 8), 17).to(dtype)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return flow.eval()


def _images(n: int, dtype=torch.float32) -> torch.Tensor:
    return (torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 0.98 + 0.01).to(dtype)


def test_squeeze_is_a_permutation():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    assert squeeze(x).shape == (2, 12, 2, 2)
    assert torch.equal(unsqueeze(squeeze(x)), x)


@pytest.mark.parametrize("net", ["conv", "conv+mix", "mlp"])
def test_inverse_of_forward_round_trips(net):
    flow = _scrambled_flow(net)
    y = _images(16)
    with torch.no_grad():
        z, _ = flow(y)
        assert not torch.allclose(z, torch.log(y / (1 - y)), atol=1e-2), "the couplings should do something"
        assert torch.allclose(flow.inverse(z), y, atol=1e-4)
        back, _ = flow(flow.inverse(z))
        assert torch.allclose(back, z, atol=1e-3)


@pytest.mark.parametrize("net", ["conv", "conv+mix", "mlp"])
def test_log_density_matches_the_change_of_variables_with_an_autograd_jacobian(net):
    """log p(y) = log N(f(y)) + log|det ∂f/∂y|, the determinant from the full 64×64 Jacobian this time."""
    flow = _scrambled_flow(net, torch.float64)
    y = _images(3, torch.float64)
    fast = flow.log_density(y).detach()
    for i in range(len(y)):
        def f(v):
            return flow(v.view(1, 1, 8, 8))[0].flatten()

        jac = torch.autograd.functional.jacobian(f, y[i].flatten())
        z = f(y[i].flatten())
        slow = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum() + torch.linalg.slogdet(jac)[1]
        assert fast[i].item() == pytest.approx(slow.item(), abs=1e-6)


def test_discrete_log_prob_is_the_density_bound_minus_the_bin_volume():
    flow = _scrambled_flow("conv")
    x = torch.round(_images(4) * 16) / 16
    torch.manual_seed(3)
    a = flow.log_prob(x)
    torch.manual_seed(3)
    y = flow.dequantise(x)
    assert torch.allclose(a, flow.log_density(y) - 64 * math.log(17), atol=1e-4)
    assert ((y * 17).floor() == torch.round(x * 16)).all(), "dequantised values stay inside their level's bin"


def test_samples_are_the_inverse_of_gaussian_noise():
    flow = _scrambled_flow("mlp")
    s = flow.sample(8, seed=4)
    z = torch.randn((8, 1, 8, 8), generator=torch.Generator().manual_seed(4))
    y = flow.inverse(z)
    assert torch.equal(s, (y * 17).floor().clamp(0, 16).detach() / 16)
