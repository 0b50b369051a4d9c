"""``genlab prefs POLICY_RUN --reward RM_RUN --prompts FILE --out PREFS.jsonl``: on-policy preference pairs."""

from __future__ import annotations

import argparse

from genlab.cli.args import add_device, nonneg_float, nonneg_int, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prefs", help="sample answers and pair the best with the worst by a reward model",
                       description="For each prompt, sample K answers from the policy; the reward model's best and "
                       "worst become one preference pair (TRL format) for genlab dpo.")
    p.add_argument("policy", help="a trained gpt/rnn/lstm/gru run")
    p.add_argument("--reward", required=True, help="a reward model run (genlab reward)")
    p.add_argument("--prompts", required=True, help="one prompt per line, or JSONL with prompt/messages")
    p.add_argument("--out", required=True, help="the JSONL file to write")
    p.add_argument("--samples", type=positive_int, default=4)
    p.add_argument("--max-new-tokens", type=positive_int, default=48)
    p.add_argument("--temperature", type=nonneg_float, default=1.0)
    p.add_argument("--seed", type=nonneg_int)
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genlab.tuning.preference_cli import prefs_cli

    return prefs_cli(args)
