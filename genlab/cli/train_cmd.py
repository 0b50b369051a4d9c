"""``genlab train RUN --model …``: course step 4 for every model family, through one verb.

Count-based models (``markov``) fit by counting; neural language models (``rnn``, ``lstm``, ``gru``,
``gpt``), the BERT encoder (``bert``, masked-LM pretraining) and encoder–decoders (``rnn-attn``,
``transformer``) go through the one loop in ``genlab.training.loop``. Flags map one to one onto config
fields, and every value used is saved in the run's ``config.json``.
"""

from __future__ import annotations

import argparse
import importlib

from genlab.cli.args import add_augment_flags, add_device, duration, nonneg_float, nonneg_int, positive_int

#: model name -> "module:function(args) -> exit code"
TRAINERS = {
    "markov": "genlab.models.markov:train_cli",
    "rnn": "genlab.training.train_cli:train_cli",
    "lstm": "genlab.training.train_cli:train_cli",
    "gru": "genlab.training.train_cli:train_cli",
    "gpt": "genlab.training.train_cli:train_cli",
    "bert": "genlab.training.train_cli:train_cli",
    "rnn-attn": "genlab.training.train_cli:train_cli",
    "transformer": "genlab.training.train_cli:train_cli",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on a prepared run",
                       description="Course step 4: fit a Markov chain, or train a neural model by backprop.")
    p.add_argument("run", help="run directory made by `genlab prepare`")
    p.add_argument("--model", required=True, choices=sorted(TRAINERS))
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    m = p.add_argument_group("Markov chain")
    m.add_argument("--order", type=positive_int, default=3, help="N of the N-gram (N-1 tokens of context)")
    m.add_argument("--smoothing", default="kn", choices=["mle", "laplace", "add-k", "kn", "stupid-backoff"])
    m.add_argument("--k", type=nonneg_float, default=1.0, help="add-k: pseudo-count (laplace is k=1)")
    m.add_argument("--discount", type=nonneg_float, default=0.75, help="kn: absolute discount")
    m.add_argument("--corpus", help="fit straight from a text file (skips `genlab prepare`)")

    n = p.add_argument_group("neural models")
    n.add_argument("--preset", help="a named size, e.g. gpt-tiny, gpt-small, lstm-small")
    n.add_argument("--n-layer", type=positive_int)
    n.add_argument("--n-head", type=positive_int)
    n.add_argument("--n-embd", type=positive_int)
    n.add_argument("--block-size", type=positive_int, help="context length in tokens")
    n.add_argument("--dropout", type=nonneg_float)
    n.add_argument("--tie-weights", action=argparse.BooleanOptionalAction, default=None)
    n.add_argument("--qk-norm", action=argparse.BooleanOptionalAction, default=None,
                   help="gpt, bert: RMS-normalise queries and keys (stable at higher learning rates)")
    n.add_argument("--activation", choices=["gelu", "gelu_tanh", "relu2"], help="gpt, bert: the MLP's activation")
    n.add_argument("--batch-size", type=positive_int, help="global batch size (sequences per step)")
    n.add_argument("--grad-accum", type=positive_int, help="micro-batches per step")
    n.add_argument("--lr", type=nonneg_float, help="peak learning rate")
    n.add_argument("--min-lr", type=nonneg_float, help="learning rate at the end of cosine decay")
    n.add_argument("--warmup-steps", type=nonneg_int)
    n.add_argument("--lr-decay-steps", type=positive_int,
                   help="cosine decay reaches --min-lr at this step (default: the preset's planned length; "
                   "not --max-steps, so --resume with a larger --max-steps follows the same curve)")
    n.add_argument("--weight-decay", type=nonneg_float)
    n.add_argument("--embed-lr-scale", type=nonneg_float,
                   help="the embeddings' (and a tied head's) learning rate as a multiple of --lr (default 1; "
                   "rare tokens of a large vocabulary learn faster with more)")
    n.add_argument("--scalar-lr-scale", type=nonneg_float,
                   help="the LayerNorm gains' and biases' learning rate as a multiple of --lr (default 1)")
    n.add_argument("--clip", type=nonneg_float, help="clip the global gradient norm (0 disables)")
    n.add_argument("--ema", type=nonneg_float, metavar="DECAY",
                   help="evaluate and keep (as the best weights) an exponential moving average of the weights, "
                   "e.g. 0.999 (default 0: off)")
    stop = n.add_mutually_exclusive_group()
    stop.add_argument("--max-steps", type=positive_int)
    stop.add_argument("--epochs", type=nonneg_float, help="passes over the training tokens")
    stop.add_argument("--time-budget", type=duration, help="stop after this long, e.g. 600, 10m")
    n.add_argument("--budget-clock", choices=["wall", "cpu"],
                        help="what --time-budget counts: wall time (default), or CPU time per thread (fair on a "
                        "machine shared with other jobs)")
    n.add_argument("--eval-interval", type=positive_int, help="evaluate on val every N steps")
    n.add_argument("--eval-batches", type=positive_int, help="val batches per evaluation")
    n.add_argument("--early-stop", type=nonneg_int, help="stop after N evaluations without improvement")
    n.add_argument("--on-nan", choices=["stop", "skip"], help="NaN/inf loss: stop, or skip the batch and halve LR")
    n.add_argument("--seed", type=nonneg_int)
    n.add_argument("--resume", action="store_true", help="continue the run from its latest checkpoint")
    n.add_argument("--init-from", metavar="RUN", help="start from RUN's weights (same model family; this run's "
                   "tokenizer must be RUN's or grown from it: `genlab prepare --tokenizer-from RUN`)")
    add_augment_flags(n)
    n.add_argument("--overwrite", action="store_true", help="start over even if RUN already holds a trained model")
    n.add_argument("--log-interval", type=positive_int, help="steps per metrics.jsonl line")
    n.add_argument("--rnn-impl", choices=["torch", "reference"],
                   help="rnn/lstm/gru: fused PyTorch layers, or the hand-written reference cells")
    n.add_argument("--dtype", choices=["float32", "bfloat16", "float16", "auto"],
                   help="autocast dtype; auto: time a few steps in float32 and bfloat16, train in the faster")
    n.add_argument("--optimizer", choices=["adamw", "muon"],
                   help="muon: Muon for the hidden weight matrices, AdamW for the rest")
    n.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None, help="torch.compile the model")
    n.add_argument("--threads", type=positive_int, help="CPU threads for PyTorch")
    add_device(n)

    s = p.add_argument_group("encoder-decoder models")
    s.add_argument("--cell", choices=["gru", "lstm"], help="rnn-attn: recurrent cell")
    s.add_argument("--attention", choices=["bahdanau", "luong"], help="rnn-attn: attention type")
    s.add_argument("--teacher-forcing", type=nonneg_float, help="rnn-attn: teacher forcing ratio")
    s.add_argument("--positions", choices=["sinusoidal", "learned", "rope"],
                   help="position encoding: transformer sinusoidal|learned; gpt learned (GPT-2, exportable)|rope; "
                   "bert learned|rope")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    module, func = TRAINERS[args.model].split(":")
    return int(getattr(importlib.import_module(module), func)(args) or 0)
