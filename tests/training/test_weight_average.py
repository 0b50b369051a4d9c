"""``--ema``'s moving average of the weights (its use by the loop is tested in test_loop.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.training.config import TrainConfig
from genlab.training.weight_average import WeightAverage


def test_the_average_follows_the_documented_recurrence():
    layer = nn.Linear(3, 2)
    frozen = nn.Linear(2, 2).requires_grad_(False)
    model = nn.Sequential(layer, frozen)
    avg = WeightAverage(model, decay=0.9)
    assert avg.names == ["0.weight", "0.bias"]  # frozen weights are not averaged
    expected = [p.detach().clone() for p in avg.params]
    for n in range(30):
        with torch.no_grad():
            for p in avg.params:
                p.add_(torch.randn_like(p))
        avg.update(n)
        d = min(0.9, (1 + n) / (10 + n))
        expected = [d * e + (1 - d) * p.detach() for e, p in zip(expected, avg.params)]
    for e, a in zip(expected, avg.average):
        torch.testing.assert_close(a, e)
    assert avg.rate(0) == pytest.approx(0.1) and avg.rate(10_000) == 0.9


def test_applied_swaps_the_average_in_and_the_live_weights_back():
    model = nn.Linear(4, 4)
    avg = WeightAverage(model, decay=0.5)
    with torch.no_grad():
        model.weight.add_(1.0)
    live = model.weight.detach().clone()
    with avg.applied():
        assert torch.equal(model.weight, avg.average[0]) and not torch.equal(model.weight, live)
    assert torch.equal(model.weight, live)
    with pytest.raises(RuntimeError), avg.applied():  # restored even when scoring fails
        raise RuntimeError("boom")
    assert torch.equal(model.weight, live)


def test_a_bad_decay_is_refused():
    with pytest.raises(GenlabError, match="--ema"):
        TrainConfig(max_steps=1, ema=1.0).validate()
    with pytest.raises(GenlabError, match="--ema"):
        WeightAverage(nn.Linear(2, 2), 1.5)
