"""``genlab rlhf POLICY_RUN --reward RM_RUN --prompts FILE --out RUN``: RLHF with RLOO or PPO and a KL leash."""

from __future__ import annotations

import argparse

from genlab.cli.args import nonneg_float, positive_int
from genlab.cli.tuning_args import add_training_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rlhf", help="improve a language model against a reward model (RLOO, PPO or online DPO)",
                       description="Sample answers to the prompts, score them with the reward model minus β·KL to "
                       "the starting policy, and move the policy toward the better ones. online-dpo: the reward "
                       "model picks the best and worst of each prompt's fresh answers, and DPO learns from the pair.")
    p.add_argument("policy", help="a trained gpt/rnn/lstm/gru run")
    p.add_argument("--reward", required=True, help="a reward model run (genlab reward)")
    p.add_argument("--prompts", required=True, help="one prompt per line (empty line: start of a document) or JSONL "
                   "with prompt/messages")
    p.add_argument("--out", required=True, help="the new run directory")
    p.add_argument("--algo", choices=["rloo", "ppo", "online-dpo"], default="rloo")
    p.add_argument("--beta", type=nonneg_float, default=0.05, help="KL penalty weight at the start (online-dpo: DPO's "
                   "β, fixed)")
    p.add_argument("--target-kl", type=nonneg_float, default=6.0,
                   help="nats of KL per answer the adaptive controller aims for (0: keep β fixed; online-dpo: unused)")
    p.add_argument("--reward-clip", type=nonneg_float, default=0.0,
                   help="clamp the reward model's scores to ±this before the KL penalty, so that beyond 'clearly "
                   "good' nothing more is paid for (0: off)")
    p.add_argument("--samples", type=positive_int, default=4, help="answers per prompt (K)")
    p.add_argument("--max-new-tokens", type=positive_int, default=48)
    p.add_argument("--sample-temperature", type=nonneg_float, default=1.0)
    p.add_argument("--ppo-epochs", type=positive_int, default=2, help="ppo: optimisation steps per set of samples")
    add_training_args(p, unit="prompts")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genlab.tuning.preference_cli import rlhf_cli

    return rlhf_cli(args)
