"""The training loop of every generator on arrays: batches → ``training_step`` → evaluate → keep the best → repeat.

Images, audio clips (``genlab.audio``) and video clips (``genlab.video``) all train here: a batch is an
N-d tensor ``[B, C, …]`` and the run's ``RunKind`` (``genlab.image.run``) says which families, data class,
judge and pictures belong to it.

The family decides what one step is (one Adam step on the ELBO, or a discriminator step then a
generator step); this loop owns everything around it, with the same conventions as the language
models: a run directory with ``config.json`` recording every value used, ``model.safetensors`` and
``model-best.safetensors`` written atomically, ``train_state.pt`` for exact resume (optimizers, global
and batch RNG, data position, clock), ``metrics.jsonl`` one line per log or evaluation, a tqdm bar
with images/s and ETA, a ``time_budget`` (wall seconds, or CPU seconds per thread on a shared
machine) and ``max_steps``, early stopping on the validation loss, Ctrl-C that finishes the current
step and saves before exiting, and a clear error (not a saved NaN model) when the loss stops being
finite.
"""

from __future__ import annotations

import json
import math
import platform
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from genlab import __version__
from genlab.checkpoint import torch_load, torch_save
from genlab.errors import GenlabError
from genlab.image import run as runs
from genlab.image import step_dtype
from genlab.image.data import ImageData
from genlab.image.protocol import take_step
from genlab.image.run import IMAGE, RunKind
from genlab.image.settings import check_settings
from genlab.training.task import TRAIN_STATE

METRICS = "metrics.jsonl"


@dataclass
class ImageTrainConfig:
    """How to train (the model's own hyperparameters live in its family's ``Config``)."""

    seed: int = 0
    time_budget: float | None = None  # seconds for this invocation, measured by ``clock``
    clock: str = "wall"  # "wall", or "cpu": process CPU seconds / threads (fair on a shared machine)
    max_steps: int | None = None  # total steps of the run (resume continues up to it)
    threads: int | None = 1  # tiny models: one thread is fastest, and on a busy machine much faster
    device: str = "cpu"
    quiet: bool = False
    pictures: bool = True
    #: none | geometric (shifts, rotations, elastic) | diffaugment (GAN discriminator) | all (see genlab.augment.image)
    augment: str = "none"
    augment_strength: float = 1.0
    dtype: str = "float32"  # float32 | bfloat16 | auto: autocast of each training step (genlab.image.step_dtype)


class Clock:
    """Seconds since creation: wall time, or CPU time of this process divided by torch's thread count.

    On a machine shared with other jobs, wall time measures the neighbours as much as the model; CPU
    seconds per thread measure what this run actually got (≈ wall time on an idle machine).
    """

    def __init__(self, kind: str = "wall") -> None:
        if kind not in ("wall", "cpu"):
            raise GenlabError(f"unknown clock {kind!r}: use wall or cpu")
        self.kind = kind
        self.threads = max(1, torch.get_num_threads())
        self.start = self._now()

    def _now(self) -> float:
        return time.perf_counter() if self.kind == "wall" else time.process_time() / self.threads

    def __call__(self) -> float:
        return self._now() - self.start


@dataclass
class TrainResult:
    steps: int
    elapsed: float
    stop_reason: str
    best_step: int
    best_value: float | None
    selection: str  # what "best" means for this family
    history: list[dict[str, Any]] = field(default_factory=list)


def _versions() -> dict[str, str]:
    return {"genlab": __version__, "torch": torch.__version__, "python": platform.python_version()}


def new_run(run: Path, family: str, data: ImageData, model_overrides: dict[str, Any],
            cfg: ImageTrainConfig, kind: RunKind = IMAGE) -> None:
    """Create a run directory for a fresh model; refuses to overwrite a trained one.

    Every setting is range-checked and the model built before anything is written, so a bad value
    leaves no half-made run (a config.json without weights) behind.
    """
    run = Path(run)
    if runs.has_checkpoint(run):
        raise GenlabError(f"{run} already holds a trained model: pass --resume to continue it, "
                          "or choose a new run directory")
    check_settings(kind.family_class(family).Config, model_overrides, family)
    torch.manual_seed(cfg.seed)
    conditional = model_overrides.get("conditional", getattr(kind.family_class(family).Config, "conditional", False))
    if conditional:  # a class-conditional model knows the data's classes
        model_overrides = {**model_overrides, "classes": len(data.classes) if data.labels is not None else 0}
    model = runs.build_model(family, model_overrides, data.shape, data.levels, kind)
    run.mkdir(parents=True, exist_ok=True)
    (run / METRICS).unlink(missing_ok=True)
    runs.save_data(run, data)
    runs.write_config(run, {"format": runs.FORMAT, "kind": kind.name, "model": runs.model_config_dict(model),
                            "data": data.describe(), "train": asdict(cfg), "versions": _versions()})


class _Batches:
    """Shuffled epochs over the training images, drawn with their own generator (saved for resume).

    ``next()`` gives ``(images, labels)``; labels are None unless the model is conditional.
    """

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int, transform=None,
                 labels: torch.Tensor | None = None) -> None:
        self.images, self.batch_size = images, min(batch_size, len(images))
        self.labels = labels
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.order = torch.randperm(len(images), generator=self.gen)
        self.pos = 0
        self.transform = transform  # (batch, generator) → augmented batch; draws from the same generator

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.pos + self.batch_size > len(self.order):
            self.order = torch.randperm(len(self.images), generator=self.gen)
            self.pos = 0
        idx = self.order[self.pos:self.pos + self.batch_size]
        self.pos += self.batch_size
        batch = self.images[idx.to(self.images.device)]
        labels = None if self.labels is None else self.labels[idx.to(self.labels.device)]
        return (batch if self.transform is None else self.transform(batch, self.gen)), labels

    def state(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "order": self.order, "pos": self.pos}

    def load(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.order, self.pos = state["order"], int(state["pos"])


class _Progress:
    """A tqdm bar over steps (``max_steps``) or over seconds (``time_budget``), whichever ends first."""

    def __init__(self, cfg: ImageTrainConfig, start_step: int, max_steps: int | None, family: str,
                 clock: Clock) -> None:
        from tqdm.auto import tqdm

        self.by_time = cfg.time_budget is not None
        self.clock = clock
        if self.by_time:
            self.bar = tqdm(total=round(cfg.time_budget, 1), desc=f"train {family}", unit="s", disable=cfg.quiet,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f}s "
                                       "[{elapsed}<{remaining}{postfix}]")
        else:
            self.bar = tqdm(total=max_steps, initial=start_step, desc=f"train {family}", unit="step",
                            disable=cfg.quiet)

    def update(self, steps: int, postfix: dict[str, str]) -> None:
        if self.by_time:
            self.bar.n = min(self.bar.total, round(self.clock(), 1))
            self.bar.refresh()
        else:
            self.bar.update(steps)
        self.bar.set_postfix(postfix, refresh=False)

    def close(self) -> None:
        self.bar.close()


class _StopAtStepBoundary:
    """The first Ctrl-C asks the loop to stop after the current step (so the checkpoint is consistent,
    e.g. never between a GAN's discriminator and generator updates); a second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> _StopAtStepBoundary:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _log(run: Path, record: dict[str, Any]) -> None:
    with open(run / METRICS, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def _finite(values: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in values.values())


def train(run: str | Path, cfg: ImageTrainConfig, judge=None, kind: RunKind = IMAGE) -> TrainResult:
    """Train (or resume) the model of ``run`` under ``cfg``; returns what happened. See the module doc."""
    # Denormal floats (tiny gradients) are ~100× slower on x86 CPUs, so flush them while training, but only
    # while training: the flag is process-wide and would change every other float computation of the host.
    torch.set_flush_denormal(True)
    try:
        return _train(Path(run), cfg, judge, kind)
    finally:
        torch.set_flush_denormal(False)


def _train(run: Path, cfg: ImageTrainConfig, judge, kind: RunKind) -> TrainResult:
    config = runs.read_config(run, kind)
    data = runs.load_data(run, config, kind)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = cfg.device
    family, model_cfg = runs.saved_model_config(config, kind)
    torch.manual_seed(cfg.seed)
    model = runs.build_model(family, model_cfg, data.shape, data.levels, kind).to(device)
    mc = model.config
    optimizers = model.configure_optimizers()
    train_x, val_x = data.tensor("train", device), data.tensor("val", device)
    labels = None
    if getattr(model, "conditional", False):
        if data.labels is None:
            raise GenlabError(f"this {family} model is conditional but its data has no labels")
        labels = torch.as_tensor(data.labels["train"], dtype=torch.long, device=device)
    batches = _Batches(train_x, mc.batch_size, cfg.seed, _augmentation(cfg, family, model, data.levels), labels)
    max_steps = cfg.max_steps if cfg.max_steps is not None else (None if cfg.time_budget else mc.steps)

    dtype, timings = step_dtype.choose(cfg.dtype, model, train_x[:batches.batch_size], device,
                                       None if labels is None else labels[:batches.batch_size])
    if timings and not cfg.quiet:
        shown = ", ".join(f"{name} {1e3 * t:.0f} ms/step" for name, t in timings.items())
        print(f"--dtype auto: {shown} → {dtype}", flush=True)

    state_path = run / TRAIN_STATE
    state, saved_rng = _restore(run, model, optimizers, batches, device)
    record = dict(config)
    record["train"] = {**asdict(cfg), "resumed_at_step": state["step"], "dtype_used": dtype}
    runs.write_config(run, record)

    selection = "validation loss"
    if not hasattr(model, "validation_loss"):  # no likelihood to watch (GAN): select by sample quality
        judge = judge or kind.load_judge(run, data)
        selection = f"{judge.fid_name} of {kind.select_samples} samples vs train+val {kind.unit}"
        reference = judge.features(torch.cat([data.tensor("train"), data.tensor("val")]))

    def evaluate() -> float:
        if hasattr(model, "validation_loss"):
            return float(model.validation_loss(val_x))
        from genlab.image.metrics import frechet_distance

        return frechet_distance(judge.features(model.sample(kind.select_samples, seed=0)), reference)

    def save(with_state: bool) -> None:
        runs.save_weights(run, model, "latest")
        if with_state:
            torch_save(state_path, {**state, "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                                    "torch_rng": torch.get_rng_state(), "batches": batches.state()})

    if saved_rng is not None:
        torch.set_rng_state(saved_rng)  # last, so nothing above can shift the random stream
    clock = Clock(cfg.clock)
    progress = _Progress(cfg, state["step"], max_steps, family, clock)
    history: list[dict[str, Any]] = []
    start, start_step = time.perf_counter(), state["step"]
    base_elapsed = state["elapsed"]
    log_every = max(1, mc.eval_interval // 5)
    running: dict[str, float] = {}
    seen = 0
    stop_reason = "max steps"
    with _StopAtStepBoundary() as ctrl_c:
        try:
            while True:
                if ctrl_c.requested:
                    raise KeyboardInterrupt
                if max_steps is not None and state["step"] >= max_steps:
                    stop_reason = "max steps"
                    break
                if cfg.time_budget is not None and clock() >= cfg.time_budget:
                    stop_reason = "time budget"
                    break
                x, y = batches.next()
                with step_dtype.autocast(dtype, device):
                    values = take_step(model, x, optimizers, y)
                if not _finite(values):
                    bad = ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
                    raise GenlabError(f"training diverged at step {state['step'] + 1} ({bad}); the last saved "
                                      f"checkpoint is kept — lower --lr and resume, or start again")
                state["step"] += 1
                seen += 1
                for k, v in values.items():
                    running[k] = running.get(k, 0.0) + v
                step = state["step"]
                state["elapsed"] = base_elapsed + clock()
                if step % log_every == 0:
                    rate = (step - start_step) * batches.batch_size / max(1e-9, time.perf_counter() - start)
                    line = {"step": step, "time": round(state["elapsed"], 3), f"{kind.unit}_per_s": round(rate, 1),
                            **{k: v / seen for k, v in running.items()}}
                    _log(run, line)
                    history.append(line)
                    first = next(iter(values))
                    progress.update(log_every, {first: f"{line[first]:.4f}", f"{kind.unit}/s": f"{rate:.0f}"})
                    running, seen = {}, 0
                if step % mc.eval_interval == 0:
                    value = evaluate()
                    improved = state["best"] is None or value < state["best"]
                    if improved:
                        state.update(best=value, best_step=step, bad_evals=0)
                        runs.save_weights(run, model, "best")
                    else:
                        state["bad_evals"] += 1
                    line = {"step": step, "time": round(state["elapsed"], 3), "val": value, "best": state["best"]}
                    _log(run, line)
                    history.append(line)
                    save(with_state=True)
                    patience = getattr(mc, "early_stop", 0)
                    if patience and state["bad_evals"] >= patience:
                        stop_reason = f"early stop ({patience} evaluations without improvement)"
                        break
        except KeyboardInterrupt:
            progress.close()
            save(with_state=True)
            raise
    progress.close()
    state["elapsed"] = base_elapsed + clock()
    if state["step"] > start_step and state["step"] % mc.eval_interval != 0:
        value = evaluate()
        if state["best"] is None or value < state["best"]:
            state.update(best=value, best_step=state["step"], bad_evals=0)
            runs.save_weights(run, model, "best")
        line = {"step": state["step"], "time": round(state["elapsed"], 3), "val": value, "best": state["best"]}
        _log(run, line)
        history.append(line)
    save(with_state=True)
    if not (run / runs.BEST_WEIGHTS).is_file():
        runs.save_weights(run, model, "best")
    if cfg.pictures:
        kind.training_pictures(run)
    return TrainResult(steps=state["step"], elapsed=state["elapsed"], stop_reason=stop_reason,
                       best_step=state["best_step"], best_value=state["best"], selection=selection, history=history)


def _augmentation(cfg: ImageTrainConfig, family: str, model, levels: int):
    """The batch transform for ``--augment`` (geometric), and DiffAugment switched on in a GAN."""
    from genlab.augment import image as aug

    if cfg.augment not in aug.IMAGE_AUGMENTS:
        raise GenlabError(f"--augment must be one of {', '.join(aug.IMAGE_AUGMENTS)}")
    if cfg.augment in ("diffaugment", "all"):
        if family != "gan":
            raise GenlabError("--augment diffaugment augments a GAN's discriminator; use --augment geometric for "
                              f"--model {family}")
        model.d_augment = lambda x: aug.diff_augment(x, cfg.augment_strength)
    if cfg.augment in ("geometric", "all"):
        return lambda batch, gen: aug.geometric(batch, gen, cfg.augment_strength, levels)
    return None


def _restore(run: Path, model, optimizers: dict, batches: _Batches, device: str) -> tuple[dict, torch.Tensor | None]:
    """Counters of a fresh run, or everything ``train_state.pt`` and the latest weights hold (resume)."""
    state: dict[str, Any] = {"step": 0, "elapsed": 0.0, "best": None, "best_step": 0, "bad_evals": 0}
    path = run / TRAIN_STATE
    if not path.is_file():
        return state, None
    try:
        saved = torch_load(path)
    except GenlabError as exc:  # torch's own explanation runs over many lines (see --verbose)
        raise GenlabError(f"{path} is corrupted or not a genlab training state; delete it to train this run "
                          "again from scratch with --resume, or start a new run directory") from exc
    weights = runs.load_tensors(run / runs.LATEST_WEIGHTS, device=device)
    try:
        model.load_state_dict(weights)
        for name, opt in optimizers.items():
            opt.load_state_dict(saved["optimizers"][name])
        batches.load(saved["batches"])
        state.update({k: saved[k] for k in state})
        rng = saved["torch_rng"]
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise GenlabError(f"{path} does not match the model in {run / runs.CONFIG} ({exc}); "
                          "start a new run directory") from exc
    return state, rng
