"""``genlab train RUN --model …``: flags → a task, a model config and a training config → the loop.

Which task trains the model (language-model windows or sentence pairs), which defaults apply (the
model's preset, or the encoder–decoder's own), the checks that keep ``--resume`` honest, and the
report printed at the end. The loop itself is :func:`genlab.training.loop.fit`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from genlab.checkpoint import read_json, run_dir
from genlab.errors import GenlabError
from genlab.training.config import resolve
from genlab.training.distributed import from_environment
from genlab.training.loop import FitResult, fit
from genlab.training.state import require_checkpoint
from genlab.training.task import BEST_WEIGHTS, LATEST_WEIGHTS, TRAIN_STATE, TrainTask

SEQ2SEQ = ("rnn-attn", "transformer")
#: model-shaping flags that may not change on --resume (the weights would not fit)
SHAPE_FLAGS = ("n_layer", "n_head", "n_embd", "block_size", "dropout", "tie_weights")


def make_task(args: argparse.Namespace, path: Path) -> TrainTask:
    if args.model in SEQ2SEQ:
        from genlab.training.seq2seq_task import Seq2SeqTask

        return Seq2SeqTask(path, args)
    from genlab.training.lm_task import LanguageModelTask

    return LanguageModelTask(path, args.model)


def train_cli(args: argparse.Namespace) -> int:
    """``genlab train RUN --model rnn|lstm|gru|gpt|rnn-attn|transformer …`` (flags: genlab.cli.train_cmd)."""
    path = run_dir(args.run)
    task = make_task(args, path)
    if args.resume:
        require_checkpoint(path)
        saved = read_json(path / "config.json")
        family = (saved.get("model") or {}).get("family")
        if family != task.family:
            raise GenlabError(f"{path} holds a {family} model, not {task.family}: resume it with --model {family}")
        model_config = saved["model"]
        for flag in SHAPE_FLAGS:
            value = getattr(args, flag, None)
            if value is not None and flag in model_config and model_config[flag] != value:
                raise GenlabError(f"--{flag.replace('_', '-')} {value} differs from the run's model "
                                  f"({model_config[flag]}); drop it to resume, or train a new run")
        cfg = resolve(args, saved.get("train"))
        preset = saved.get("preset")
    else:
        if (path / TRAIN_STATE).is_file() and not getattr(args, "overwrite", False):
            raise GenlabError(f"{path} already holds a trained neural model: continue it with --resume, "
                              "or pass --overwrite to start over (its weights will be replaced)")
        preset, defaults = _preset_defaults(task, args)
        model_config = task.model_config(args)
        cfg = resolve(args, defaults)
    result = fit(task, cfg, path, model_config, resume=args.resume, progress=not args.quiet, preset=preset)
    if from_environment().main:  # under torchrun, one report (rank 0's)
        report(result, task.family)
    return 0


def _preset_defaults(task: TrainTask, args: argparse.Namespace) -> tuple[str | None, dict[str, Any]]:
    """Training defaults from the model's preset (language models) or the task's own (encoder–decoders)."""
    if task.family in SEQ2SEQ:
        defaults = getattr(task, "train_defaults", None)
        return getattr(args, "preset", None), dict(defaults() if callable(defaults) else defaults or {})
    from genlab.models.presets import preset_for

    name, preset = preset_for(task.family, getattr(args, "preset", None))
    return name, preset["train"]


def report(result: FitResult, family: str) -> None:
    r = result
    how = {"max_steps": "reached --max-steps", "time_budget": "time budget used", "early_stop":
           "early stopping (val loss stopped improving)"}.get(r.stopped, r.stopped)
    print(f"trained {family}: {r.steps:,} steps, {r.tokens:,} tokens in {r.elapsed:.1f} s ({how})")
    if r.interrupted:
        print(f"saved the latest checkpoint to {r.run_dir / LATEST_WEIGHTS}; continue with "
              f"`genlab train {r.run_dir} --model {family} --resume`")
        return
    if math.isfinite(r.last_val_loss):
        best_ppl = math.exp(r.best_val_loss) if r.best_val_loss < 700 else math.inf
        print(f"val loss {r.last_val_loss:.4f} · val perplexity {r.val_perplexity:.3f} "
              f"(best {r.best_val_loss:.4f} / perplexity {best_ppl:.3f} at step {r.best_step})")
    use = (f"genlab translate {r.run_dir} --beam 5" if family in ("rnn-attn", "transformer")
           else f"genlab generate {r.run_dir} --prompt …")
    print(f"weights: {r.run_dir / BEST_WEIGHTS} (best), {r.run_dir / LATEST_WEIGHTS} (latest); "
          f"next: genlab eval {r.run_dir} · {use}")
