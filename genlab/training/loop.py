"""Course step 4 (모델 훈련): the one training loop for every neural model.

Random initialisation (seeded) → forward → loss → backward → clip → AdamW step, repeated, with the
learning rate warmed up then decayed; the model is evaluated on a fixed set of validation windows
every ``eval_interval`` steps, and the best and the latest weights are both kept. What the loop
trains is a *task* (:class:`genlab.training.task.TrainTask`): language models cut windows from a token
store (:mod:`genlab.training.lm_task`), encoder–decoders cut sentence pairs; the loop never asks which.

Each piece is a small function of its own — building the model, sampling a batch, the
forward/backward pass, the optimizer step, evaluation. Speed comes from what the step does *not* do:
one host sync per step (loss, norm, tokens, stop votes travel together), fused AdamW, batches cut
from the memory-mapped store, evaluation batches stacked into few forward passes. Launched by
``torchrun``, the same loop runs data-parallel (:mod:`genlab.training.distributed`); ``--batch-size``
stays the global batch, so any number of processes follows the same curve (docs/speed.md).
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genlab.checkpoint import write_json
from genlab.devices import cpu_flags
from genlab.errors import GenlabError
from genlab.models.gpt_decode import forget_plans
from genlab.training.config import TrainConfig
from genlab.training.distributed import (
    SINGLE,
    Ranks,
    barrier,
    micro_slices,
    no_sync,
    rank_rows,
    rank_seed,
    setup,
    sum_across,
    take_rows,
    teardown,
    wrap,
)
from genlab.training.lean_torch import skip_compiler_import
from genlab.training.metrics import MetricsLog
from genlab.training.optim import build_optimizer, set_learning_rate
from genlab.training.previous_model import PreviousModel
from genlab.training.schedule import learning_rate, step_progress
from genlab.training.signals import StopRequests
from genlab.training.state import Progress, load_checkpoint, require_checkpoint, save_checkpoint
from genlab.training.task import BEST_WEIGHTS, LATEST_WEIGHTS, TrainTask

#: a fixed stream for validation windows: every evaluation scores the same windows
EVAL_STREAM = 7


@dataclass
class FitResult:
    run_dir: Path
    steps: int
    tokens: int
    elapsed: float
    stopped: str  # max_steps | time_budget | early_stop | interrupted (SIGINT) | interrupted (SIGTERM)
    last_val_loss: float
    best_val_loss: float
    best_step: int

    @property
    def val_perplexity(self) -> float:
        return math.exp(self.last_val_loss) if self.last_val_loss < 700 else math.inf

    @property
    def interrupted(self) -> bool:
        return self.stopped.startswith("interrupted")


# --- the pieces -----------------------------------------------------------------------------------

def to_device(batch: tuple[torch.Tensor, ...], device: str) -> tuple[torch.Tensor, ...]:
    return tuple(t.to(device, non_blocking=True) for t in batch)


def autocast_for(dtype: str, device: str) -> Callable[[], contextlib.AbstractContextManager]:
    """A context factory: PyTorch autocast for bfloat16/float16, nothing for float32."""
    if dtype == "float32":
        return contextlib.nullcontext
    kind = device.split(":")[0]
    return lambda: torch.autocast(device_type=kind, dtype=getattr(torch, dtype))


def _supports_rows(task: TrainTask) -> bool:
    """Whether ``task.batch`` can read just some rows of a batch (language models can)."""
    return _batch_takes_rows(type(task))


@functools.cache
def _batch_takes_rows(kind: type) -> bool:
    import inspect

    return "rows" in inspect.signature(kind.batch).parameters


def draw_share(task: TrainTask, split: str, batch_size: int, rng: np.random.Generator,
               rows: slice) -> tuple[tuple[torch.Tensor, ...], int]:
    """This rank's ``rows`` of a global batch, and the global batch's target tokens.

    Every rank draws the same global batch from the same generator; tasks that can (language
    models) read only ``rows`` from the store, others are drawn whole and sliced.
    """
    if _supports_rows(task):
        share = task.batch(split, batch_size, rng, rows=rows)
        n = len(range(*rows.indices(batch_size)))
        return share, task.count_tokens(share) * batch_size // max(n, 1)  # same tokens in every row
    full = task.batch(split, batch_size, rng)
    return take_rows(full, rows), task.count_tokens(full)


def accumulate(model: nn.Module, task: TrainTask, cfg: TrainConfig, rng: np.random.Generator, device: str,
               autocast: Callable, scaler: torch.amp.GradScaler | None,
               ranks: Ranks = SINGLE) -> tuple[torch.Tensor, int]:
    """Forward and backward this rank's share of one global batch, in micro-batches.

    Each micro-batch's mean loss is weighted by its share of the global batch's target tokens (times
    the number of ranks, since DDP averages), so the summed gradient is that of the global mean loss
    whatever the number of ranks and micro-batches. Returns this rank's part of the global mean loss
    (a tensor: no host sync here) and its target tokens.
    """
    share, global_tokens = draw_share(task, "train", cfg.batch_size, rng, rank_rows(cfg.batch_size, ranks))
    parts = micro_slices(len(share[0]), cfg.micro_batch)
    total = torch.zeros((), device=device)
    tokens = 0
    for i, rows in enumerate(parts):
        batch = to_device(take_rows(share, rows), device)
        count = task.count_tokens(batch)
        weight = count / max(global_tokens, 1)
        with no_sync(model, last=i == len(parts) - 1):
            with autocast():
                loss = task.loss(model, batch)
            total += loss.detach().float() * weight
            scaled = loss * (weight * ranks.world)
            (scaler.scale(scaled) if scaler is not None else scaled).backward()
        tokens += count
    return total, tokens


def forward_backward(model: nn.Module, task: TrainTask, cfg: TrainConfig, rng: np.random.Generator,
                     device: str, autocast: Callable, scaler: torch.amp.GradScaler | None) -> tuple[float, int]:
    """Accumulate gradients over ``grad_accum`` micro-batches; returns (mean loss, target tokens)."""
    total, tokens = accumulate(model, task, cfg, rng, device, autocast, scaler)
    return float(total), tokens  # one host sync


def clip_gradients(model: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
                   clip: float) -> torch.Tensor:
    """Unscale (float16), clip by global norm (``clip`` 0: measure only); returns the pre-clip norm tensor."""
    if scaler is not None:
        scaler.unscale_(optimizer)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    return torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else math.inf)


def apply_update(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None, loss_ok: bool,
                 norm_ok: bool) -> None:
    """Step (unless the loss, or without a loss scaler the gradient norm, is not finite) and clear."""
    if scaler is not None:
        if loss_ok:
            scaler.step(optimizer)  # skips the step itself when the unscaled gradients hold inf/NaN
        scaler.update()
    elif loss_ok and norm_ok:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    forget_plans()  # a fused optimizer step leaves the weights' version counters as they were


def optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
                   clip: float) -> float:
    """Clip by global norm (``clip`` 0: measure only), step, clear; returns the pre-clip norm.

    A non-finite norm (without a loss scaler, which handles that itself) skips the update.
    """
    norm = float(clip_gradients(model, optimizer, scaler, clip))
    apply_update(optimizer, scaler, True, math.isfinite(norm))
    return norm


#: evaluation batches are stacked into one forward pass up to about this many activation floats (fewer,
#: larger matmuls). The per-position estimate below undercounts a forward's live tensors about 3×; at 2**23
#: the stacked evaluation raised the baby-Shakespeare run's peak RSS by 80 MB, at 2**21 by none, at the
#: same evaluation speed (measured, benchmarks/shakespeare_char.py)
EVAL_GROUP_FLOATS = 2**21


def evaluate(model: nn.Module, task: TrainTask, cfg: TrainConfig, device: str, autocast: Callable,
             ranks: Ranks = SINGLE) -> float:
    """Mean validation loss over ``eval_batches`` windows drawn from a fixed stream (the same each time).

    Batches are shared round-robin across ranks and summed with one all-reduce. Language-model
    batches (same tokens per row) are stacked into larger forward passes: the mean is unchanged and
    the pause in training is shorter.
    """
    rng = np.random.default_rng([cfg.seed, EVAL_STREAM])
    was_training = model.training
    model.eval()
    rows_ok = _supports_rows(task)
    # floats alive per position while scoring: the logits, and about 8 × width for the MLP and attention
    per_position = int(getattr(model, "vocab_size", 0) or 1) + 8 * int(getattr(getattr(model, "config", None),
                                                                             "n_embd", 0) or 0)
    total = torch.zeros((), device=device)
    pending: list[tuple[torch.Tensor, ...]] = []

    def flush() -> None:
        nonlocal total
        if pending:
            batch = to_device(tuple(torch.cat(parts) for parts in zip(*pending)), device)
            with autocast():
                total += task.loss(model, batch).detach().float() * len(pending)
            pending.clear()

    with torch.inference_mode():
        for i in range(cfg.eval_batches):
            mine = i % ranks.world == ranks.rank
            if rows_ok:
                batch = task.batch("val", cfg.micro_batch, rng, rows=slice(None) if mine else slice(0, 0))
            else:
                batch = task.batch("val", cfg.micro_batch, rng)
            if not mine:
                continue
            if not rows_ok:
                pending.append(batch)
                flush()
                continue
            floats = batch[0].numel() * per_position * (len(pending) + 1)
            if pending and floats > EVAL_GROUP_FLOATS:
                flush()
            pending.append(batch)
        flush()
    model.train(was_training)
    return sum_across(total.reshape(1), ranks)[0] / cfg.eval_batches


def planned_steps(task: TrainTask, cfg: TrainConfig) -> int | None:
    """``--max-steps``, or ``--epochs`` converted to steps; ``None`` under a time budget.

    An epoch is ``task.train_tokens`` counted in the unit ``count_tokens`` counts (tokens, or a task's
    ``count_unit``: texts, pairs), so the two must agree.
    """
    if cfg.max_steps is not None:
        return cfg.max_steps
    if cfg.epochs is None:
        return None
    total = getattr(task, "train_tokens", None)
    if total is None:
        raise GenlabError("--epochs is not available for this model; use --max-steps or --time-budget")
    sample = task.batch("train", cfg.micro_batch, np.random.default_rng(0))
    per_step = task.count_tokens(sample) * cfg.grad_accum
    return max(1, math.ceil(cfg.epochs * total / per_step))


def versions() -> dict[str, str]:
    import platform

    from genlab import __version__

    return {"genlab": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def _tokenizer_fingerprint(task: TrainTask, path: Path) -> str | None:
    fingerprint = getattr(task, "tokenizer_fingerprint", None)
    if fingerprint is None and (path / "tokenizer.json").is_file():
        from genlab.tokenizers import load as load_tokenizer

        fingerprint = load_tokenizer(path / "tokenizer.json").fingerprint()
    return fingerprint


def write_run_config(path: Path, task: TrainTask, model_config: dict[str, Any], cfg: TrainConfig,
                     preset: str | None, device: str, max_steps: int | None, model: nn.Module,
                     dtype: str | None = None) -> None:
    run_info = getattr(task, "run_info", None)  # lineage a task records (a fine-tuned run names its base)
    write_json(path / "config.json", {
        "model": model_config,
        "train": asdict(cfg),
        "preset": preset,
        "tokenizer_fingerprint": _tokenizer_fingerprint(task, path),
        "runtime": {"device": device, "dtype": dtype or cfg.dtype, "planned_steps": max_steps,
                    "torch_threads": torch.get_num_threads(),
                    "parameters": sum(p.numel() for p in model.parameters()),
                    "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)},
        "versions": versions(),
        **(run_info() if run_info is not None else {}),
    })


class _Bar:
    """tqdm over steps (or over seconds under a time budget) with loss, tokens/s and lr."""

    def __init__(self, enabled: bool, max_steps: int | None, budget: float | None, step: int, elapsed: float,
                 quiet: bool = False):
        from tqdm.auto import tqdm

        self.quiet = quiet  # ranks other than 0 print nothing

        self.by_time = max_steps is None
        total = round(budget) if self.by_time and budget else max_steps
        initial = min(round(elapsed), total or 0) if self.by_time else step
        self.bar = tqdm(total=total, initial=initial, unit="s" if self.by_time else "step", desc="train",
                        disable=not enabled, dynamic_ncols=True, mininterval=0.5, file=sys.stderr)

    def advance(self, step: int, elapsed: float, **postfix: Any) -> None:
        target = min(round(elapsed), self.bar.total or 0) if self.by_time else step
        if self.by_time:
            postfix = {"step": step, **postfix}
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(max(0, target - self.bar.n))

    def write(self, text: str) -> None:
        if not self.quiet:
            self.bar.write(text, file=sys.stdout)

    def close(self) -> None:
        self.bar.close()


# --- the loop -------------------------------------------------------------------------------------

def fit(task: TrainTask, cfg: TrainConfig, path: str | Path, model_config: dict[str, Any], *,
        resume: bool = False, progress: bool = True, preset: str | None = None) -> FitResult:
    """Train ``task``'s model in run directory ``path`` (a fresh start replaces any previous model).

    Launched by ``torchrun``, every process runs this same function: the model is wrapped in
    DistributedDataParallel, each rank trains on its rows of the global batch, and only rank 0
    writes files and shows progress (see :mod:`genlab.training.distributed`).
    """
    from genlab.devices import resolve_device

    path = Path(path)
    cfg.validate()
    if resume:
        require_checkpoint(path)
    ranks, device = setup(resolve_device(cfg.device))
    previous = PreviousModel(path)  # a fresh start sets the old model aside until its first checkpoint
    try:
        return _fit(task, cfg, path, model_config, resume, progress, preset, ranks, device, previous)
    except BaseException:
        previous.restore()  # nothing once the new run has saved
        raise
    finally:
        teardown(ranks)


def budget_clock(kind: str) -> Callable[[], float]:
    """Seconds that count against ``--time-budget``: wall time, or this process's CPU time per thread.

    CPU seconds divided by PyTorch's thread count are what a run got of the machine: on an idle machine
    they track wall time, and on one shared with other jobs they do not charge the run for its
    neighbours (the image trainer's ``--budget-clock`` means the same).
    """
    if kind == "cpu":
        threads = max(1, torch.get_num_threads())
        return lambda: time.process_time() / threads
    return time.perf_counter


def resolve_dtype(dtype: str, device: str, warn: bool = True) -> str:
    """The dtype actually used: half precision on a CPU only where it has bfloat16 instructions.

    A CPU without them (AMX tiles or AVX-512 BF16; most laptops) emulates bfloat16 matmuls 25–50×
    slower than float32, and float16 autocast is for GPUs, so such a run keeps float32 and says so.
    With them, bfloat16 may still lose on a tiny model: ``--dtype auto`` measures instead of assuming.
    """
    if dtype == "float32" or not device.startswith("cpu"):
        return dtype
    fast = dtype == "bfloat16" and cpu_has_bf16()
    if not fast and warn:
        print(f"genlab: --dtype {dtype} is not faster than float32 on this CPU (no AMX or AVX-512 BF16: "
              "bfloat16 matmuls run 25-50x slower; float16 autocast is for GPUs); training in float32",
              file=sys.stderr)
    return dtype if fast else "float32"


def auto_dtype(task: TrainTask, cfg: TrainConfig, model: nn.Module, path: Path, resume: bool, ranks: Ranks,
               device: str) -> str:
    """``--dtype auto``: the dtype a measured probe picks (:mod:`genlab.training.dtype_probe`).

    A resumed run keeps the dtype it started with (``config.json["runtime"]["dtype"]``), so it continues
    the same curve. Under torchrun the ranks could time differently and disagree, so it is float32 there.
    """
    if resume and (path / "config.json").is_file():
        from genlab.checkpoint import read_config

        saved = (read_config(path).get("runtime") or {}).get("dtype")
        if saved in ("float32", "bfloat16", "float16"):
            return saved
    if ranks.active:
        if ranks.main:
            print("genlab: --dtype auto does not probe under torchrun (ranks could disagree); training in float32")
        return "float32"
    from genlab.training.dtype_probe import choose

    def step_loss(probe: nn.Module, rng: np.random.Generator) -> torch.Tensor:
        return task.loss(probe, to_device(task.batch("train", cfg.micro_batch, rng), device))

    def make_optimizer(probe: nn.Module) -> torch.optim.Optimizer:
        return build_optimizer(probe, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2), device, cfg.optimizer,
                               cfg.embed_lr_scale, cfg.scalar_lr_scale)

    return choose(model, make_optimizer, step_loss, device)


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AMX tiles or AVX-512 BF16 dot products)."""
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def _fit(task: TrainTask, cfg: TrainConfig, path: Path, model_config: dict[str, Any], resume: bool,
         progress: bool, preset: str | None, ranks: Ranks, device: str, previous: PreviousModel) -> FitResult:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)  # the random initialisation (course: 무작위 초기화) is repeatable
    if not cfg.compile:
        skip_compiler_import()  # ~70 MB of torch.compile that an uncompiled run never uses
    model = task.build_model(model_config).to(device)
    optimizer = build_optimizer(model, cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2), device, cfg.optimizer,
                                cfg.embed_lr_scale, cfg.scalar_lr_scale)
    dtype = (auto_dtype(task, cfg, model, path, resume, ranks, device) if cfg.dtype == "auto"
             else resolve_dtype(cfg.dtype, device, warn=ranks.main))
    scaler = torch.amp.GradScaler(device.split(":")[0]) if dtype == "float16" else None
    for split in ("train", "val"):  # a split too short for the model fails now, before any file changes
        task.batch(split, 1, np.random.default_rng(0))
    average = None
    if cfg.ema:
        from genlab.training.weight_average import WeightAverage

        average = WeightAverage(model, cfg.ema)
    if resume:
        prog, rng = load_checkpoint(path, model, optimizer, scaler, average)
        if hasattr(task, "load_state_dict"):
            task.load_state_dict(prog.task_state)
        for group in optimizer.param_groups:  # a changed --weight-decay applies from here on
            group["weight_decay"] = cfg.weight_decay if group.get("name") == "decay" else 0.0
    else:
        if ranks.main:
            previous.set_aside()  # so no stale 'best' weights can be loaded, and none lost if this run fails
        prog, rng = Progress(), np.random.default_rng(cfg.seed)
    if ranks.rank > 0:  # dropout masks must differ across ranks; the weights stay rank 0's
        torch.manual_seed(rank_seed(cfg.seed, prog.step, ranks))
    autocast = autocast_for(dtype, device)
    max_steps = planned_steps(task, cfg)
    if cfg.decay_over_run:  # the command's planned decay moves with the --max-steps/--epochs the user gave
        if max_steps is not None and not resume:
            cfg.lr_decay_steps = max_steps
        cfg.decay_over_run = False  # settled: config.json keeps the concrete decay, which a resume follows
    if ranks.main:
        write_run_config(path, task, model_config, cfg, preset, device, max_steps, model, dtype)
    train_model = wrap(model, ranks, device)
    if cfg.compile:
        train_model = torch.compile(train_model)
    model.train()

    metrics = MetricsLog(path, prog.step if resume else None) if ranks.main else _NoMetrics()
    barrier(ranks)  # rank 0 has cleared old files before anyone trains
    last_saved = prog.step if resume else None
    now = budget_clock(cfg.budget_clock)
    base_elapsed, started = prog.elapsed, now()
    synced_elapsed = base_elapsed  # the ranks' mean training time, agreed on at every step

    def elapsed() -> float:
        return base_elapsed + now() - started

    def clock() -> float:
        """Time that decides the schedule and the budget: the same number on every rank."""
        return synced_elapsed if ranks.active else elapsed()

    skipped_in_row = 0  # bad steps since the last good one (--on-nan skip gives up at SKIPS_IN_ROW)

    def checkpoint() -> None:
        nonlocal last_saved
        if skipped_in_row:  # --on-nan skip: the weights after a bad step may be huge though finite
            return
        finite = torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all()  # one host sync
        if not bool(finite):  # never over a good checkpoint
            where = f"{path / LATEST_WEIGHTS} (step {last_saved})" if last_saved is not None else "none"
            raise GenlabError(f"the weights are no longer finite at step {prog.step}: training diverged; nothing "
                              f"was saved over the last good checkpoint ({where}). Lower --lr")
        prog.elapsed = elapsed()
        if hasattr(task, "state_dict"):
            prog.task_state = task.state_dict()
        if ranks.main:
            save_checkpoint(path, model, optimizer, scaler, prog, rng, average)
            previous.drop()
        last_saved = prog.step

    def scored(bar: _Bar) -> None:
        """Evaluate the weights in the model now (``--ema``'s average while ``run_eval`` applies it)."""
        val = evaluate(model, task, cfg, device, autocast, ranks)
        extra = task.extra_metrics(model) if ranks.main else {}
        prog.last_val_loss = val
        # the best weights: lowest validation loss, or highest of a metric the task names (a classifier's accuracy)
        best_by = getattr(task, "best_by", None)
        score = -extra[best_by] if best_by and best_by in extra else val
        improved = (score < prog.best_score or (score == prog.best_score and val < prog.best_val_loss) if best_by
                    else val < prog.best_val_loss)
        if improved:
            prog.best_val_loss, prog.best_step, prog.evals_since_best = val, prog.step, 0
            prog.best_score = score
            if ranks.main:
                from genlab.models.weights import save_weights

                save_weights(path / BEST_WEIGHTS, model, metadata={"step": str(prog.step)})
        else:
            prog.evals_since_best += 1
        # a perplexity only means something when the loss is a cross-entropy (not for reward, DPO or RL losses)
        ppl = (math.exp(val) if val < 700 else math.inf) if getattr(task, "cross_entropy_loss", True) else None
        metrics.log({"kind": "eval", "step": prog.step, "time": round(elapsed(), 3), "val_loss": val,
                     **({"val_perplexity": ppl} if ppl is not None else {}), **extra})
        shown = "".join(f" · {k} {v:.4g}" for k, v in extra.items())
        bar.write(f"step {prog.step}: val loss {val:.4f}" + (f" · val perplexity {ppl:.3f}" if ppl is not None else "")
                  + f"{shown}{' (best)' if improved else ''}")

    def run_eval(bar: _Bar) -> None:
        """Score (``--ema``: the averaged weights), then save a checkpoint of the live ones."""
        with average.applied() if average is not None else contextlib.nullcontext():
            scored(bar)
        checkpoint()
        if time.perf_counter() - plotted[0] > 30:
            metrics.plot(wait=False)
            plotted[0] = time.perf_counter()

    plotted = [time.perf_counter()]
    stopped = ""
    win = prog.window or {}
    speed: float | None = None  # tokens/s (or the task's count_unit per second), smoothed for the progress bar
    speed_label = "tok_s" if getattr(task, "count_unit", "tokens") == "tokens" else f"{task.count_unit}_s"
    bar = _Bar(progress and ranks.main, max_steps, cfg.time_budget, prog.step, prog.elapsed, quiet=not ranks.main)
    try:
        with StopRequests() as signals:
            while not stopped:
                if max_steps is not None and prog.step >= max_steps:
                    stopped = "max_steps"
                    break
                if cfg.time_budget is not None and clock() >= cfg.time_budget:
                    stopped = "time_budget"
                    break
                t0 = time.perf_counter()
                fraction = (clock() / cfg.time_budget if cfg.time_budget is not None
                            else step_progress(prog.step, cfg.warmup_steps, cfg.lr_decay_steps))
                lr = prog.lr_scale * learning_rate(prog.step, cfg.lr, cfg.min_lr, cfg.warmup_steps, fraction)
                set_learning_rate(optimizer, lr)
                part, ntok = accumulate(train_model, task, cfg, rng, device, autocast, scaler, ranks)
                norm_t = clip_gradients(model, optimizer, scaler, cfg.clip)
                # the step's one host sync: loss, norm, tokens, stop requests and time, summed over ranks
                stats = torch.stack([part, norm_t.float().to(part.device) / ranks.world,
                                     *part.new_tensor([ntok, float(signals.requested is not None),
                                                       elapsed() / ranks.world])])
                loss, norm, ntok_f, stop_votes, synced_elapsed = sum_across(stats, ranks)
                ntok = int(round(ntok_f))
                loss_ok, norm_ok = math.isfinite(loss), math.isfinite(norm)
                apply_update(optimizer, scaler, loss_ok, norm_ok)
                if not loss_ok:
                    norm = math.nan
                bad = "loss" if not loss_ok else "gradient norm" if scaler is None and not norm_ok else None
                if average is not None and not bad:
                    average.update(prog.step)
                skipped_in_row = skipped_in_row + 1 if bad else 0
                if bad:
                    _on_nan(cfg, prog, bad, loss if bad == "loss" else norm, path, last_saved, bar, skipped_in_row)
                prog.step += 1
                prog.tokens += ntok
                dt = time.perf_counter() - t0
                if not bad:
                    for key, value in (("loss", loss), ("norm", norm), ("steps", 1),
                                       ("clipped", float(cfg.clip > 0 and norm > cfg.clip)),
                                       ("tokens", ntok), ("seconds", dt)):
                        win[key] = win.get(key, 0.0) + value
                prog.window = win
                if prog.step % cfg.log_interval == 0 and win.get("steps"):
                    n = win["steps"]
                    metrics.log({"kind": "train", "step": prog.step, "time": round(elapsed(), 3),
                                 "tokens": prog.tokens, "loss": win["loss"] / n, "lr": lr,
                                 "grad_norm": win["norm"] / n, "clip_rate": win["clipped"] / n,
                                 "tokens_per_s": win["tokens"] / max(win["seconds"], 1e-9)})
                    win = {}
                    prog.window = win
                speed = ntok / max(dt, 1e-9) if speed is None else 0.9 * speed + 0.1 * ntok / max(dt, 1e-9)
                bar.advance(prog.step, elapsed(), loss=f"{loss:.4f}", **{speed_label: f"{speed:,.0f}"}, lr=f"{lr:.2e}")
                if prog.step % cfg.eval_interval == 0:
                    run_eval(bar)
                    if cfg.early_stop and prog.evals_since_best >= cfg.early_stop:
                        stopped = "early_stop"
                if (stop_votes > 0 or signals.requested) and not stopped:
                    stopped = f"interrupted ({signals.requested or 'a signal to another rank'})"
            if stopped.startswith("interrupted"):
                if last_saved != prog.step:
                    checkpoint()
            elif last_saved != prog.step or math.isnan(prog.last_val_loss):
                run_eval(bar)
    except BaseException:
        bar.close()
        metrics.close()
        with contextlib.suppress(Exception):  # the plot must not hide the error being raised
            metrics.plot()
        raise
    bar.close()
    metrics.close()
    metrics.plot()
    return FitResult(run_dir=path, steps=prog.step, tokens=prog.tokens, elapsed=elapsed(), stopped=stopped,
                     last_val_loss=prog.last_val_loss, best_val_loss=prog.best_val_loss, best_step=prog.best_step)


class _NoMetrics:
    """What ranks other than 0 log to: nothing (rank 0 writes metrics.jsonl and loss.png)."""

    def log(self, record: dict[str, Any]) -> None:
        pass

    def plot(self, wait: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


#: ``--on-nan skip`` gives up after this many bad steps in a row: the weights themselves have gone bad
#: (a finite loss with a huge update can leave them inf), and skipping batches cannot mend them
SKIPS_IN_ROW = 5


def _on_nan(cfg: TrainConfig, prog: Progress, what: str, value: float, path: Path, last_saved: int | None,
            bar: _Bar, in_row: int = 1) -> None:
    """A NaN/inf loss or gradient: stop with a clear error, or (``--on-nan skip``) skip and halve the LR."""
    step = prog.step + 1
    where = (f"{path / LATEST_WEIGHTS} (step {last_saved})" if last_saved is not None
             else "none (nothing was saved before it)")
    if cfg.on_nan == "stop":
        raise GenlabError(f"the {what} became {value} at step {step}; last good checkpoint: {where}. "
                          "Lower --lr, raise --warmup-steps, set --clip, or use --on-nan skip")
    if in_row >= SKIPS_IN_ROW:
        raise GenlabError(f"the {what} was {value} for {in_row} steps in a row (to step {step}): the weights have "
                          f"diverged and skipping cannot mend them; last good checkpoint: {where}. Lower --lr")
    prog.lr_scale /= 2
    prog.skipped += 1
    bar.write(f"step {step}: {what} is {value} — batch skipped, learning rate halved "
              f"(now ×{prog.lr_scale:g} of the schedule)")
