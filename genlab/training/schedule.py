"""Learning rate over training: linear warm-up, then cosine decay to ``min_lr``.

Warm-up keeps the first, large and noisy gradients of a random model from throwing AdamW's moment
estimates off; the cosine then lowers the step size smoothly so training settles into a minimum.
The decay is spread over ``lr_decay_steps`` steps (then stays at ``min_lr``) — a function of the
step alone, so stopping early and resuming later follows the same curve; under ``--time-budget``
it is spread over the wall time instead (the number of steps is not known in advance), so such runs
are not bit-for-bit repeatable.
"""

from __future__ import annotations

import math


def learning_rate(step: int, lr: float, min_lr: float, warmup_steps: int, progress: float) -> float:
    """The rate for optimizer step ``step`` (0-based); ``progress`` in [0, 1] is how far training is."""
    if step < warmup_steps:
        return lr * (step + 1) / (warmup_steps + 1)
    ratio = min(max(progress, 0.0), 1.0)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def step_progress(step: int, warmup_steps: int, decay_steps: int) -> float:
    """How far the decay phase is at ``step`` (0 right after warm-up, 1 at ``decay_steps`` and after)."""
    if decay_steps <= warmup_steps:
        return 1.0
    return (step - warmup_steps) / (decay_steps - warmup_steps)
