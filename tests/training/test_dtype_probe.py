"""--dtype auto: the choice from measured step times (injected here: no timing in tests), and the probe."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.training import dtype_probe
from genlab.training.dtype_probe import choose, pick


@pytest.mark.parametrize("timings, expected", [
    ({"float32": 0.042, "bfloat16": 0.075}, "float32"),  # the tiny model on an AMX Xeon: casts cost more
    ({"float32": 0.258, "bfloat16": 0.060}, "bfloat16"),  # large matmuls on AMX: bfloat16 wins
    ({"float32": 0.100, "bfloat16": 0.097}, "float32"),  # within the margin: keep float32's precision
    ({"float32": 0.100, "bfloat16": 0.090}, "bfloat16"),
    ({"float32": 0.100}, "float32"),  # nothing else was timed
])
def test_pick_takes_bfloat16_only_when_it_wins_by_the_margin(timings, expected):
    assert pick(timings) == expected


def test_pick_needs_float32():
    with pytest.raises(ValueError):
        pick({"bfloat16": 0.1})


def test_choose_reports_both_timings_and_leaves_model_and_rng_alone(monkeypatch):
    fake = {"float32": 0.050, "bfloat16": 0.020}
    monkeypatch.setattr(dtype_probe, "time_steps", lambda model, make_opt, step_loss, dtype, device: fake[dtype])
    monkeypatch.setattr(dtype_probe, "candidates", lambda device: ("float32", "bfloat16"))
    lines = []
    assert choose(torch.nn.Linear(2, 2), None, None, "cpu", report=lines.append) == "bfloat16"
    assert lines == ["--dtype auto: float32 50.0 ms/step, bfloat16 20.0 ms/step → training in bfloat16"]


def test_the_probe_trains_a_copy_and_puts_the_random_state_back():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5))
    before = [p.detach().clone() for p in model.parameters()]
    state = torch.get_rng_state()

    def step_loss(m, rng: np.random.Generator):
        return m(torch.from_numpy(rng.standard_normal((3, 4)).astype(np.float32))).square().mean()

    chosen = choose(model, lambda m: torch.optim.SGD(m.parameters(), lr=0.1), step_loss, "cpu",
                    report=lambda line: None)
    assert chosen in ("float32", "bfloat16")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert torch.equal(torch.get_rng_state(), state)
