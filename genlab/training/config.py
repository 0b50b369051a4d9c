"""Every training value in one dataclass, filled from defaults, then a preset, then explicit flags.

Flags map one to one onto fields (``--batch-size`` → ``batch_size``), all flags default to ``None``
("not given"), and the resolved config — defaults included — is saved in ``config.json["train"]``,
so a number in a report can always be reproduced. On ``--resume`` the saved values are the base and
only the flags given again override them (e.g. a larger ``--max-steps``).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields
from typing import Any

from genlab.errors import GenlabError

DEFAULT_MAX_STEPS = 2000
STOP_FIELDS = ("max_steps", "epochs", "time_budget")
#: learning-rate multiples that give parameters an optimizer group of their own (a saved state carries them)
LR_SCALE_FIELDS = ("embed_lr_scale", "scalar_lr_scale")


@dataclass
class TrainConfig:
    batch_size: int = 32  # global batch: sequences per optimizer step (split into grad_accum micro-batches)
    grad_accum: int = 1
    lr: float = 1e-3  # peak learning rate, reached after warm-up
    min_lr: float = 1e-4  # where cosine decay ends
    warmup_steps: int = 100
    #: the step where cosine decay reaches min_lr. It does not follow --max-steps on purpose: the
    #: schedule is a function of the step alone, so a run extended with --resume --max-steps 2N
    #: follows exactly the curve a run of 2N steps would have (as nanoGPT's lr_decay_iters).
    lr_decay_steps: int = 2000
    weight_decay: float = 0.1  # AdamW, decoupled; only on weight matrices (see training.optim)
    #: the embeddings' learning rate (token and learned-position tables, and a tied head) as a multiple of
    #: --lr: a row of a large vocabulary's embedding is only updated when its token occurs, so rare tokens
    #: learn slowly at the rate that suits the hidden matrices (see training.optim)
    embed_lr_scale: float = 1.0
    #: the same for the vectors: LayerNorm gains and biases (under Muon, everything AdamW updates but the
    #: head and the embeddings); a gain scales a whole feature, and at the matrices' rate it moves slowly
    scalar_lr_scale: float = 1.0
    #: adamw, or muon (Muon for the hidden weight matrices, AdamW for embeddings, head, biases and gains)
    optimizer: str = "adamw"
    beta1: float = 0.9
    beta2: float = 0.99
    clip: float = 1.0  # max global gradient norm; 0 disables clipping (the norm is still logged)
    max_steps: int | None = None
    epochs: float | None = None  # passes over the training tokens (converted to steps)
    time_budget: float | None = None  # seconds of training, across resumes
    #: what a second of the budget is: "wall" time, or "cpu" time of this process divided by its threads
    #: (on a machine shared with other jobs, the time this run actually got; ≈ wall time when idle)
    budget_clock: str = "wall"
    eval_interval: int = 250
    eval_batches: int = 20
    early_stop: int | None = None  # stop after this many evaluations without a better val loss
    on_nan: str = "stop"  # stop | skip (skip the batch and halve the learning rate)
    seed: int = 1337
    log_interval: int = 10  # steps per metrics.jsonl line
    dtype: str = "float32"  # float32 | bfloat16 | float16 (autocast)
    compile: bool = False  # torch.compile the model
    #: set by ``resolve(..., decay_follows_stop=True)``: the decay spans the run's planned steps (known once
    #: ``--epochs`` is converted), then the concrete ``lr_decay_steps`` is saved and this goes back to False
    decay_over_run: bool = False
    threads: int | None = None  # torch.set_num_threads
    device: str = "auto"
    #: decay of an exponential moving average of the weights that evaluation and the best checkpoint use
    #: (0: off; see training.weight_average)
    ema: float = 0.0

    def validate(self) -> None:
        if self.batch_size % self.grad_accum:
            raise GenlabError(f"--batch-size {self.batch_size} must be a multiple of --grad-accum {self.grad_accum}")
        if self.min_lr > self.lr:
            raise GenlabError(f"--min-lr {self.min_lr} is above --lr {self.lr}; pick min-lr ≤ lr")
        if self.budget_clock not in ("wall", "cpu"):
            raise GenlabError("--budget-clock must be wall or cpu")
        if self.on_nan not in ("stop", "skip"):
            raise GenlabError("--on-nan must be stop or skip")
        if self.dtype not in ("float32", "bfloat16", "float16", "auto"):
            raise GenlabError("--dtype must be float32, bfloat16, float16 or auto")
        if self.optimizer not in ("adamw", "muon"):
            raise GenlabError("--optimizer must be adamw or muon")
        if sum(getattr(self, f) is not None for f in STOP_FIELDS) != 1:
            raise GenlabError("give exactly one of --max-steps, --epochs, --time-budget")
        for field in LR_SCALE_FIELDS:
            if not getattr(self, field) > 0:
                raise GenlabError(f"--{field.replace('_', '-')} must be > 0")
        if self.lr_decay_steps < 1:
            raise GenlabError("--lr-decay-steps must be ≥ 1")
        if not 0.0 <= self.ema < 1.0:
            raise GenlabError(f"--ema {self.ema:g} must be in [0, 1) (e.g. 0.999; 0 turns it off)")
        if self.epochs is not None and self.epochs <= 0:
            raise GenlabError("--epochs must be positive")

    @property
    def micro_batch(self) -> int:
        return self.batch_size // self.grad_accum


FIELDS = tuple(f.name for f in fields(TrainConfig))


def explicit_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The training flags the user actually gave (argparse leaves the others at ``None``)."""
    return {name: getattr(args, name) for name in FIELDS if getattr(args, name, None) is not None}


def resolve(args: argparse.Namespace, base: dict[str, Any] | None = None,
            decay_follows_stop: bool = False) -> TrainConfig:
    """Defaults ← ``base`` (a preset's or the saved run's values) ← explicit flags.

    ``decay_follows_stop``: for commands whose defaults plan one length (a classifier's, DPO's, a
    fine-tune's 1,000 steps, decay included), a ``--max-steps`` or ``--epochs`` the user gives without
    ``--lr-decay-steps`` moves the decay with it: ``--epochs 2`` over 140,000 texts would otherwise run
    all but its first 1,000 steps at the floor rate. (``genlab train`` keeps a preset's planned decay, so
    that ``--resume --max-steps 2N`` follows the curve of a 2N-step run; a saved run resumes as saved.)
    """
    values = asdict(TrainConfig())
    values.update({k: v for k, v in (base or {}).items() if k in FIELDS})
    given = explicit_flags(args)
    if decay_follows_stop and ("max_steps" in given or "epochs" in given) and "lr_decay_steps" not in given:
        values["decay_over_run"] = True
    if any(f in given for f in STOP_FIELDS):  # one stop rule replaces another
        for f in STOP_FIELDS:
            values[f] = None
    if "lr" in given and "min_lr" not in given:
        values["min_lr"] = given["lr"] / 10
    values.update(given)
    if all(values[f] is None for f in STOP_FIELDS):
        values["max_steps"] = DEFAULT_MAX_STEPS
    config = TrainConfig(**values)
    config.validate()
    return config
