"""Flags shared by the verbs that tune a trained run (``finetune``, ``reward``, ``dpo``, ``rlhf``): the one loop's."""

from __future__ import annotations

import argparse

from genlab.cli.args import add_device, duration, nonneg_float, nonneg_int, positive_int, probability


def add_training_args(p: argparse.ArgumentParser, val_fraction: float = 0.1, unit: str = "pairs") -> None:
    p.add_argument("--val-fraction", type=probability, default=val_fraction, help=f"{unit} held out for validation")
    p.add_argument("--skip-bad-lines", action="store_true", help="report and skip malformed lines instead of failing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    t = p.add_argument_group("training")
    stop = t.add_mutually_exclusive_group()
    stop.add_argument("--max-steps", type=positive_int)
    stop.add_argument("--epochs", type=nonneg_float, help=f"passes over the training {unit}")
    stop.add_argument("--time-budget", type=duration, help="stop after this long, e.g. 600, 10m")
    t.add_argument("--budget-clock", choices=["wall", "cpu"], help="what --time-budget counts (cpu: CPU seconds per "
                   "thread, fair on a shared machine)")
    t.add_argument("--optimizer", choices=["adamw", "muon"],
                   help="adamw, or muon (Muon for the hidden weight matrices, AdamW for the rest)")
    t.add_argument("--lr", type=nonneg_float)
    t.add_argument("--min-lr", type=nonneg_float)
    t.add_argument("--warmup-steps", type=nonneg_int)
    t.add_argument("--lr-decay-steps", type=positive_int,
                   help="cosine decay reaches --min-lr at this step (default: the planned length: "
                   "--max-steps or --epochs when given)")
    t.add_argument("--batch-size", type=positive_int)
    t.add_argument("--grad-accum", type=positive_int)
    t.add_argument("--weight-decay", type=nonneg_float)
    t.add_argument("--clip", type=nonneg_float)
    t.add_argument("--ema", type=nonneg_float, metavar="DECAY",
                   help="evaluate and keep an exponential moving average of the weights (default 0: off)")
    t.add_argument("--eval-interval", type=positive_int)
    t.add_argument("--eval-batches", type=positive_int)
    t.add_argument("--early-stop", type=nonneg_int)
    t.add_argument("--on-nan", choices=["stop", "skip"], help="NaN/inf loss: stop, or skip the batch and halve LR")
    t.add_argument("--log-interval", type=positive_int)
    t.add_argument("--seed", type=nonneg_int)
    t.add_argument("--resume", action="store_true", help="continue from OUT's latest checkpoint")
    t.add_argument("--overwrite", action="store_true", help="start over even if OUT already holds a trained model")
    t.add_argument("--dtype", choices=["float32", "bfloat16", "float16", "auto"],
                   help="autocast dtype; auto: time a few steps in float32 and bfloat16, train in the faster")
    t.add_argument("--threads", type=positive_int, help="CPU threads for PyTorch")
    add_device(t)
