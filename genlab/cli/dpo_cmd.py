"""``genlab dpo POLICY_RUN --data PREFS.jsonl --out RUN --beta 0.1``: Direct Preference Optimization."""

from __future__ import annotations

import argparse

from genlab.cli.args import nonneg_float
from genlab.cli.tuning_args import add_training_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dpo", help="improve a language model from preference pairs (DPO)",
                       description="Raise the chosen answers' probability over the rejected ones', relative to the "
                       "starting model (the reference). β weighs staying close to the reference.")
    p.add_argument("policy", help="a trained gpt/rnn/lstm/gru run (plain or fine-tuned for chat)")
    p.add_argument("--data", required=True, help="preference JSONL (TRL or OpenAI format; playground feedback.jsonl)")
    p.add_argument("--out", required=True, help="the new run directory")
    p.add_argument("--beta", type=nonneg_float, default=0.1, help="DPO's β (larger: stay closer to the reference)")
    add_training_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genlab.tuning.preference_cli import dpo_cli

    return dpo_cli(args)
