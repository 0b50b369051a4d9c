"""``genlab finetune BASE_RUN --data FILE.jsonl|builtin:skills --out RUN``: instruction fine-tuning (SFT).

The first half of the ChatGPT recipe (course: "ChatGPT는 어떻게 훈련?"): a pretrained run becomes a chat
model that answers, by training on conversations with the loss on the assistant's tokens only.
"""

from __future__ import annotations

import argparse

from genlab.cli.args import add_device, duration, nonneg_float, nonneg_int, positive_int, probability


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="fine-tune a trained language model on chat data (SFT)",
                       description="Instruction fine-tuning: start from BASE_RUN's weights, learn to answer the "
                       "conversations in --data (OpenAI fine-tuning JSONL, or builtin:skills), write a chat run.")
    p.add_argument("base", help="a trained gpt/rnn/lstm/gru run (pretrained on text)")
    p.add_argument("--data", required=True, help="chat JSONL ({messages: [...]} or {prompt, completion} per line), "
                   "or builtin:skills")
    p.add_argument("--out", required=True, help="the new run directory")
    p.add_argument("--val-fraction", type=probability, default=0.05, help="conversations held out for validation")
    p.add_argument("--skip-bad-lines", action="store_true", help="report and skip malformed lines instead of failing")
    p.add_argument("--lora-rank", type=positive_int, help="train low-rank adapters (gpt) on a frozen base; "
                   "merged into the weights on save")
    p.add_argument("--lora-alpha", type=nonneg_float, help="LoRA scale α (default 2 × rank)")
    p.add_argument("--init", choices=["base", "random"], default="base",
                   help="start from the base run's weights (transfer learning, default) or from random weights "
                   "of the same shape (fine-tuning from scratch, for comparison)")
    p.add_argument("--block-size", type=positive_int, help="training context (default: the base run's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    t = p.add_argument_group("training")
    stop = t.add_mutually_exclusive_group()
    stop.add_argument("--max-steps", type=positive_int)
    stop.add_argument("--epochs", type=nonneg_float, help="passes over the assistant tokens")
    stop.add_argument("--time-budget", type=duration, help="stop after this long, e.g. 600, 10m")
    t.add_argument("--budget-clock", choices=["wall", "cpu"],
                        help="what --time-budget counts: wall time (default), or CPU time per thread (fair on a "
                        "machine shared with other jobs)")
    t.add_argument("--lr", type=nonneg_float, help="peak learning rate (default 1e-3; 3e-3 with --lora-rank)")
    t.add_argument("--min-lr", type=nonneg_float)
    t.add_argument("--warmup-steps", type=nonneg_int)
    t.add_argument("--lr-decay-steps", type=positive_int)
    t.add_argument("--batch-size", type=positive_int, help="rows of packed conversations per step")
    t.add_argument("--grad-accum", type=positive_int)
    t.add_argument("--weight-decay", type=nonneg_float)
    t.add_argument("--clip", type=nonneg_float)
    t.add_argument("--eval-interval", type=positive_int)
    t.add_argument("--eval-batches", type=positive_int)
    t.add_argument("--early-stop", type=nonneg_int)
    t.add_argument("--on-nan", choices=["stop", "skip"])
    t.add_argument("--log-interval", type=positive_int)
    t.add_argument("--seed", type=nonneg_int)
    t.add_argument("--resume", action="store_true", help="continue from OUT's latest checkpoint")
    t.add_argument("--overwrite", action="store_true", help="start over even if OUT already holds a trained model")
    t.add_argument("--dtype", choices=["float32", "bfloat16", "float16"])
    t.add_argument("--threads", type=positive_int, help="CPU threads for PyTorch")
    add_device(t)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genlab.tuning.finetune import finetune_cli

    return finetune_cli(args)
