"""``genlab classify train|eval|predict``: text classification on labelled data, from any pretrained run."""

from __future__ import annotations

import argparse

from genlab.cli.args import add_augment_flags, duration, nonneg_float, nonneg_int, positive_int, probability


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classify", help="train, evaluate and use a text classifier (transfer learning)",
                       description="Fine-tune a pretrained run (bert, gpt, rnn/lstm/gru) or a fresh model on "
                       "labelled text: TSV `label<TAB>text` or the NSMC layout (header `id document label`).")
    verbs = p.add_subparsers(dest="classify_verb", metavar="ACTION", required=True)

    t = verbs.add_parser("train", help="train a classifier run")
    t.add_argument("run", help="classifier run directory to create")
    t.add_argument("--data", required=True, help="labelled texts (TSV label<TAB>text, or NSMC)")
    t.add_argument("--init-from", required=True, metavar="RUN|none",
                   help="pretrained run whose tokenizer and weights to start from, or `none` (random weights)")
    t.add_argument("--model", choices=["bert", "gpt", "rnn", "lstm", "gru"],
                   help="--init-from none: the backbone (default bert)")
    t.add_argument("--preset", help="--init-from none: backbone size (e.g. bert-tiny, gpt-tiny)")
    t.add_argument("--positions", choices=["learned", "rope"],
                   help="--init-from none, bert or gpt: position encoding (default learned; rope: rotary)")
    t.add_argument("--tokenizer", choices=["char", "word", "jamo", "bpe"],
                   help="--init-from none: tokenizer trained on the labelled texts (default char)")
    t.add_argument("--pooling", choices=["first", "last", "mean"],
                   help="which position(s) the head reads (default: bert first, others last)")
    t.add_argument("--max-length", type=positive_int, help="tokens per text, <bos>/<eos> included (default 128)")
    t.add_argument("--freeze-encoder", action="store_true", help="train only the head")
    t.add_argument("--extra-train", metavar="LABELS",
                   help="more labelled texts for training only, never for validation (e.g. `classify pseudo-label`'s)")
    t.add_argument("--val-fraction", type=probability, default=0.1, help="held out for validation (default 0.1)")
    t.add_argument("--dropout", type=nonneg_float, help="backbone dropout while fine-tuning")
    t.add_argument("--aux-lm", type=nonneg_float, default=0.0, metavar="WEIGHT",
                   help="add WEIGHT × the backbone's language-model loss on the labelled texts (masked-LM for "
                   "bert, next-token otherwise), as GPT-1 fine-tuned (default 0: off)")
    stop = t.add_mutually_exclusive_group()
    stop.add_argument("--time-budget", type=duration, help="stop after this long, e.g. 600, 10m")
    stop.add_argument("--epochs", type=nonneg_float, help="passes over the training texts")
    stop.add_argument("--max-steps", type=positive_int)
    t.add_argument("--budget-clock", choices=["wall", "cpu"], help="what --time-budget counts")
    t.add_argument("--lr", type=nonneg_float, help="peak learning rate (default 1e-3; 5e-4 from a pretrained run)")
    t.add_argument("--min-lr", type=nonneg_float)
    t.add_argument("--warmup-steps", type=nonneg_int)
    t.add_argument("--lr-decay-steps", type=positive_int,
                   help="cosine decay reaches --min-lr at this step (default: the planned length: "
                   "--max-steps or --epochs when given)")
    t.add_argument("--batch-size", type=positive_int)
    t.add_argument("--weight-decay", type=nonneg_float)
    t.add_argument("--eval-interval", type=positive_int, help="evaluate (and measure accuracy) every N steps")
    t.add_argument("--eval-batches", type=positive_int)
    t.add_argument("--early-stop", type=nonneg_int, help="stop after N evaluations without improvement")
    t.add_argument("--seed", type=nonneg_int)
    t.add_argument("--threads", type=positive_int, help="CPU threads for PyTorch")
    t.add_argument("--dtype", choices=["float32", "bfloat16", "float16", "auto"],
                   help="autocast dtype; auto: time a few steps in float32 and bfloat16, train in the faster")
    t.add_argument("--ema", type=nonneg_float, metavar="DECAY",
                   help="score and keep an exponential moving average of the weights, e.g. 0.999 (default 0: off)")
    t.add_argument("--resume", action="store_true", help="continue the run from its latest checkpoint")
    t.add_argument("--overwrite", action="store_true", help="start over if RUN already holds a classifier")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_augment_flags(t)
    t.set_defaults(func=_run("train_cli"))

    e = verbs.add_parser("eval", help="accuracy, macro-F1 and a confusion matrix on labelled texts")
    e.add_argument("run")
    e.add_argument("--data", required=True, help="labelled texts (TSV or NSMC)")
    e.add_argument("--plot", help="confusion-matrix PNG (default RUN/confusion.png)")
    e.add_argument("--which", default="best", choices=["best", "latest"])
    e.set_defaults(func=_run("eval_cli"))

    s = verbs.add_parser("pseudo-label", help="label unlabelled texts with a classifier, keeping the confident "
                         "ones (self-training: train a new classifier with --extra-train on them)")
    s.add_argument("run")
    s.add_argument("input", help="file of unlabelled texts, one a line")
    s.add_argument("--out", required=True, help="TSV to write: label<TAB>text, the most confident first")
    s.add_argument("--min-prob", type=probability, default=0.9,
                   help="keep texts whose top class has at least this probability (default 0.9)")
    s.add_argument("--max-per-class", type=positive_int, help="keep at most this many texts per label")
    s.add_argument("--which", default="best", choices=["best", "latest"])
    s.set_defaults(func=_run("pseudo_label_cli"))

    r = verbs.add_parser("predict", help="print `label<TAB>probability` for each input line")
    r.add_argument("run")
    r.add_argument("input", nargs="?", default="-", help="file of texts, one a line (default: stdin)")
    r.add_argument("--which", default="best", choices=["best", "latest"])
    r.set_defaults(func=_run("predict_cli"))


def _run(name: str):
    def run(args: argparse.Namespace) -> int:
        from genlab.classify import cli

        return int(getattr(cli, name)(args) or 0)

    return run
