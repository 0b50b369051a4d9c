"""What ``genlab audio`` and ``genlab video`` share: their flags and the ``train`` flow on the image trainer.

Both are generators trained by :mod:`genlab.image.trainer` under a ``RunKind``; they differ in their data
(a builder's flags, a default ``builtin:`` set) and in what ``sample`` writes, not in how a run is
created, resumed and reported.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from genlab.cli.args import add_device, duration, nonneg_float, nonneg_int, positive_int
from genlab.cli.image_cmd import add_step_dtype, add_threads


def add_train_flags(t: argparse.ArgumentParser, config_name: str, set_example: str, pictures: str) -> None:
    """The budget, seed, resume, optimisation and output flags of ``train`` (after the data flags)."""
    t.add_argument("--time-budget", type=duration, help="stop after this long, e.g. 300, 5m (see --budget-clock)")
    t.add_argument("--budget-clock", choices=["wall", "cpu"], default="wall",
                   help="measure --time-budget in wall seconds, or in CPU seconds per thread")
    t.add_argument("--max-steps", type=positive_int, help="stop at this step (total, counting earlier sessions)")
    t.add_argument("--seed", type=nonneg_int, default=0, help="training seed; also the seed of the built-in data")
    t.add_argument("--resume", action="store_true", help="continue the run from its latest checkpoint")
    t.add_argument("--batch-size", type=positive_int)
    t.add_argument("--lr", type=nonneg_float, help="learning rate of both networks")
    t.add_argument("--eval-interval", type=positive_int, help="score samples every N steps (keeps the best)")
    t.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help=f"any field of {config_name}, e.g. {set_example}")
    add_threads(t)
    add_step_dtype(t)
    t.add_argument("--no-pictures", action="store_true", help=f"skip {pictures} at the end")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device(t)


def add_sample_flags(s: argparse.ArgumentParser, out_help: str) -> None:
    s.add_argument("run")
    s.add_argument("--num", type=positive_int, default=16)
    s.add_argument("--out", required=True, help=out_help)
    s.add_argument("--seed", type=nonneg_int, default=0, help="same seed, same clips")
    s.add_argument("--which", default="best", choices=["best", "latest"])
    add_threads(s)
    add_device(s)


def add_eval_flags(e: argparse.ArgumentParser) -> None:
    e.add_argument("run")
    e.add_argument("--num", type=positive_int, help="clips to score (default: as many as held-out clips)")
    e.add_argument("--seed", type=nonneg_int, default=0)
    e.add_argument("--which", default="best", choices=["best", "latest"])
    e.add_argument("--json", action="store_true", help="also print the report as one JSON line")
    add_threads(e)
    add_device(e)


def train_generator(args: argparse.Namespace, kind: Any, verb: str, models: tuple[str, ...], builtin: str,
                    size_flag: str, load: Callable[[str], Any], files: str, pictures: str, next_step: str) -> int:
    """``genlab VERB train``: a new run (``--model``) or ``--resume``; ``load(spec)`` reads the data.

    ``size_flag`` is the flag sizing the built-in set (it applies to ``builtin`` only and may not change
    on resume); ``files`` names what a data folder holds, for the note about skipped files.
    """
    from pathlib import Path

    from genlab.cli.image_cmd import parse_settings
    from genlab.devices import resolve_device
    from genlab.errors import GenlabError
    from genlab.image import run as runs
    from genlab.image.settings import check_settings
    from genlab.image.trainer import ImageTrainConfig, new_run
    from genlab.image.trainer import train as train_loop

    run = Path(args.run)
    cfg = ImageTrainConfig(seed=args.seed, time_budget=args.time_budget, max_steps=args.max_steps,
                           clock=args.budget_clock, threads=args.threads, device=resolve_device(args.device),
                           quiet=args.quiet, pictures=not args.no_pictures, dtype=args.dtype)
    flags = {"batch_size": args.batch_size, "lr": args.lr, "eval_interval": args.eval_interval}
    size = getattr(args, size_flag.lstrip("-").replace("-", "_"))
    if args.resume:
        config = runs.read_config(run, kind)
        family = config["model"]["family"]
        if args.model and args.model != family:
            raise GenlabError(f"{run} holds a {family} model, not {args.model}; drop --model or use a new run")
        if args.data or args.set or size or any(v is not None for v in flags.values()):
            raise GenlabError(f"--resume continues with the run's own data and settings; drop --data/--set/"
                              f"{size_flag}/--batch-size/--lr/--eval-interval, or start a new run")
    else:
        if not args.model:
            raise GenlabError(f"genlab {verb} train needs --model (one of " + ", ".join(models) + ")")
        if runs.has_checkpoint(run):
            raise GenlabError(f"{run} already holds a trained model: pass --resume to continue it, "
                              "or choose a new run directory")
        overrides = parse_settings(kind.family_class(args.model).Config, args.set)
        overrides.update({k: v for k, v in flags.items() if v is not None})
        if args.lr is not None:
            overrides.setdefault("lr_g", args.lr)
        check_settings(kind.family_class(args.model).Config, overrides, args.model)  # before the data loads
        spec = args.data or builtin
        data = load(spec)
        if data.skipped:
            print(f"genlab: note: skipped {data.skipped} non-{files} file(s) in {args.data}", file=sys.stderr)
        new_run(run, args.model, data, overrides, cfg, kind=kind)
    result = train_loop(run, cfg, kind=kind)
    best = "" if result.best_value is None else f"; best {result.selection} {result.best_value:.4f} " \
                                                 f"at step {result.best_step}"
    print(f"trained {runs.read_config(run, kind)['model']['family']} for {result.steps} steps in "
          f"{result.elapsed:.1f} s (stopped: {result.stop_reason}){best}")
    print(f"run: {run}  (weights, {pictures}; `{next_step.format(run=run)}`)")
    return 0


def evaluate_generator(args: argparse.Namespace, kind: Any, judge_for: Callable[[str, Any], Any],
                       evaluate_model: Callable[..., Any]) -> int:
    """``genlab VERB eval``: the run's samples and real held-out clips, scored by the kind's judge."""
    import json

    from genlab.cli.image_cmd import set_threads
    from genlab.devices import resolve_device
    from genlab.image.run import load_run

    set_threads(args.threads)
    model, data, _ = load_run(args.run, args.which, resolve_device(args.device), kind=kind)
    judge = judge_for(args.run, data)
    report = evaluate_model(model, judge, data, num=args.num or data.count("test"), seed=args.seed)
    for line in report.lines():
        print(line)
    if args.json:
        print(json.dumps(report.as_dict()))
    return 0
