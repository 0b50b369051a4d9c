"""``genlab reward BASE_RUN --data PREFS.jsonl --out RM_RUN``: the reward model of RLHF (Bradley–Terry)."""

from __future__ import annotations

import argparse

from genlab.cli.tuning_args import add_training_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reward", help="train a reward model on preference pairs",
                       description="A GPT base plus a scalar head, trained so that the chosen answer of each pair "
                       "scores higher than the rejected one; prints the held-out pairwise accuracy.")
    p.add_argument("base", help="a trained gpt run (pretrained or fine-tuned)")
    p.add_argument("--data", required=True, help="preference JSONL (TRL prompt/chosen/rejected or OpenAI format)")
    p.add_argument("--out", required=True, help="the new reward-model run directory")
    add_training_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genlab.tuning.preference_cli import reward_cli

    return reward_cli(args)
