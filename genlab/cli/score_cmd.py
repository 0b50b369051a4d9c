"""``genlab score RM_RUN``: a reward model's score for each line read from stdin."""

from __future__ import annotations

import argparse

from genlab.cli.args import add_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score answers (one per stdin line) with a reward model")
    p.add_argument("run", help="a reward-model run (genlab reward)")
    p.add_argument("--prompt", help="the prompt every line answers (default: none, a whole document)")
    p.add_argument("--which", default="best", choices=["best", "latest"])
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genlab.tuning.preference_cli import score_cli

    return score_cli(args)
