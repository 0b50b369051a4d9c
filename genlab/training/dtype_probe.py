"""``--dtype auto``: float32 or bfloat16 autocast, whichever trains *this* model faster on *this* machine.

No rule predicts it: bfloat16 matmuls run 4× faster than float32 on a CPU with AMX tiles at 1024², yet
nanoGPT's tiny 4-layer model trained slower under bfloat16 autocast there (75 against 42 ms/step:
the casts cost more than the small matmuls save), and on a CPU without AMX bfloat16 is many times
slower. So a few real training steps are timed each way — on a copy of the model and optimizer, with
batches from a generator of their own and PyTorch's random state put back, so the run itself is the
same whichever way the probe goes — and the faster is taken. bfloat16 must win by a margin
(``BF16_MARGIN``): it also costs precision, so a tie keeps float32.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

#: bfloat16 is chosen only when its step is at least this much faster than float32's
BF16_MARGIN = 0.05
#: timed steps per dtype (after one untimed warm-up step)
PROBE_STEPS = 3


def candidates(device: str) -> tuple[str, ...]:
    """The dtypes worth timing on ``device``: bfloat16 where the device can run it at all."""
    kind = device.split(":")[0]
    if kind == "cuda" and not torch.cuda.is_bf16_supported():
        return ("float32",)
    if kind not in ("cpu", "cuda", "xpu"):
        return ("float32",)
    return ("float32", "bfloat16")


def pick(timings: dict[str, float], margin: float = BF16_MARGIN) -> str:
    """The dtype to train in, from seconds per step: bfloat16 only when it beats float32 by ``margin``."""
    if "float32" not in timings:
        raise ValueError("the probe must time float32")
    bf16 = timings.get("bfloat16")
    if bf16 is not None and bf16 < timings["float32"] * (1 - margin):
        return "bfloat16"
    return "float32"


def time_steps(model: nn.Module, make_optimizer: Callable[[nn.Module], torch.optim.Optimizer],
               step_loss: Callable[[nn.Module, np.random.Generator], torch.Tensor], dtype: str, device: str,
               steps: int = PROBE_STEPS) -> float:
    """Median seconds per training step (forward, backward, optimizer) of a copy of ``model`` in ``dtype``."""
    probe = copy.deepcopy(model)
    probe.train()
    optimizer = make_optimizer(probe)
    rng = np.random.default_rng(0)
    kind = device.split(":")[0]
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        if dtype == "float32":
            loss = step_loss(probe, rng)
        else:
            with torch.autocast(device_type=kind, dtype=getattr(torch, dtype)):
                loss = step_loss(probe, rng)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if kind == "cuda":
            torch.cuda.synchronize()
        if i:  # the first step warms caches and kernels up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def choose(model: nn.Module, make_optimizer: Callable[[nn.Module], torch.optim.Optimizer],
           step_loss: Callable[[nn.Module, np.random.Generator], torch.Tensor], device: str,
           report: Callable[[str], None] = print) -> str:
    """Time each candidate dtype, report the timings and the choice, and return it."""
    saved = torch.get_rng_state()
    try:
        timings = {dtype: time_steps(model, make_optimizer, step_loss, dtype, device) for dtype in candidates(device)}
    finally:
        torch.set_rng_state(saved)
    chosen = pick(timings)
    shown = ", ".join(f"{dtype} {1000 * t:.1f} ms/step" for dtype, t in timings.items())
    report(f"--dtype auto: {shown} → training in {chosen}")
    return chosen
