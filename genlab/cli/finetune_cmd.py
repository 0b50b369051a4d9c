"""``genlab finetune BASE_RUN --data FILE.jsonl|builtin:skills --out RUN``: instruction fine-tuning (SFT).

The first half of the ChatGPT recipe (course: "ChatGPT는 어떻게 훈련?"): a pretrained run becomes a chat
model that answers, by training on conversations with the loss on the assistant's tokens only.
"""

from __future__ import annotations

import argparse

from genlab.cli.args import nonneg_float, positive_int
from genlab.cli.tuning_args import add_training_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="fine-tune a trained language model on chat data (SFT)",
                       description="Instruction fine-tuning: start from BASE_RUN's weights, learn to answer the "
                       "conversations in --data (OpenAI fine-tuning JSONL, or builtin:skills), write a chat run.")
    p.add_argument("base", help="a trained gpt/rnn/lstm/gru run (pretrained on text)")
    p.add_argument("--data", required=True, help="chat JSONL ({messages: [...]} or {prompt, completion} per line), "
                   "or builtin:skills")
    p.add_argument("--out", required=True, help="the new run directory")
    p.add_argument("--lora-rank", type=positive_int, help="train low-rank adapters (gpt) on a frozen base; "
                   "merged into the weights on save")
    p.add_argument("--lora-alpha", type=nonneg_float, help="LoRA scale α (default 2 × rank)")
    p.add_argument("--init", choices=["base", "random"], default="base",
                   help="start from the base run's weights (transfer learning, default) or from random weights "
                   "of the same shape (fine-tuning from scratch, for comparison)")
    p.add_argument("--block-size", type=positive_int, help="training context (default: the base run's)")
    add_training_args(p, val_fraction=0.05, unit="conversations")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genlab.tuning.finetune import finetune_cli

    return finetune_cli(args)
