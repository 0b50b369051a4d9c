"""``--dtype`` for the generators (image, audio, video): each training step under bfloat16 autocast, or not.

The generators' convolutions are where the time goes, and on a CPU with native bfloat16 (AVX-512 BF16
or AMX) oneDNN runs them in bfloat16 faster: on the 2-core AMD EPYC of the test machine (AVX-512 BF16,
quiet, batch 32, one / two threads) a VGAN step took 215 → 144 / 128 → 100 ms and a width-16 WaveGAN
step 323 → 212 / 185 → 130 ms, while the width-8 WaveGAN gained 15 / 29 % (its layers are small
enough for the casts to cost about what the products save). So, as
for the language models (:mod:`genlab.training.dtype_probe`), ``auto`` times a few real steps each
way on a copy of the model and its optimizers, with PyTorch's random state put back afterwards, and
keeps bfloat16 only when it wins by a margin. Weights, optimizer state, evaluation and sampling stay
float32: autocast changes only what the step's products compute in.
"""

from __future__ import annotations

import contextlib
import copy
import statistics
import time
from typing import Any

import torch

from genlab.errors import GenlabError
from genlab.image.protocol import take_step
from genlab.training.dtype_probe import PROBE_STEPS, candidates, pick

STEP_DTYPES = ("float32", "bfloat16", "auto")


def check(dtype: str) -> None:
    if dtype not in STEP_DTYPES:
        raise GenlabError(f"--dtype must be one of {', '.join(STEP_DTYPES)} for a generator; got {dtype!r}")


def autocast(dtype: str, device: str) -> contextlib.AbstractContextManager:
    """The context a training step runs in: nothing for float32, bfloat16 autocast otherwise."""
    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)


def _seconds_per_step(model: Any, batch: torch.Tensor, dtype: str, device: str,
                      labels: torch.Tensor | None = None) -> float:
    probe = copy.deepcopy(model)
    optimizers = probe.configure_optimizers()
    times = []
    for i in range(PROBE_STEPS + 1):  # the first step warms up (allocations, oneDNN's kernel choice)
        start = time.perf_counter()
        with autocast(dtype, device):
            take_step(probe, batch, optimizers, labels)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def choose(dtype: str, model: Any, batch: torch.Tensor, device: str,
           labels: torch.Tensor | None = None) -> tuple[str, dict[str, float]]:
    """``dtype`` itself, or for ``auto`` the faster of float32 and bfloat16 here, with the probe's timings."""
    check(dtype)
    if dtype == "bfloat16" and "bfloat16" not in candidates(device):
        raise GenlabError(f"--dtype bfloat16: {device} cannot run bfloat16 autocast here; use float32 (or auto)")
    if dtype != "auto":
        return dtype, {}
    devices = [torch.device(device)] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):  # the run's random stream is the same whatever is probed
        timings = {d: _seconds_per_step(model, batch, d, device, labels) for d in candidates(device)}
    return pick(timings), timings
