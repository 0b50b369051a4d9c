"""``genlab fill RUN "이 영화 정말 <mask>다"``: a BERT run's top-k fillers for each ``<mask>``."""

from __future__ import annotations

import argparse

from genlab.cli.args import add_device, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fill", help="fill in <mask> tokens with a BERT run (top-k with probabilities)",
                       description="Masked language modelling: each <mask> in TEXT is one token; print the model's "
                       "most probable fillers.")
    p.add_argument("run", help="a run trained with `genlab train RUN --model bert`")
    p.add_argument("text", help='text with one or more <mask>, e.g. "이 영화 정말 <mask>다"')
    p.add_argument("--top-k", type=positive_int, default=5, help="fillers shown per <mask> (default 5)")
    p.add_argument("--which", default="best", choices=["best", "latest"], help="which checkpoint")
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genlab.devices import resolve_device
    from genlab.errors import GenlabError
    from genlab.fill import fill
    from genlab.models import load_model
    from genlab.models.registry import run_kind

    device = resolve_device(args.device)
    model, tokenizer, config = load_model(args.run, device=device, which=args.which)
    if config["model"]["family"] != "bert":  # a run holds one model: a BERT needs a folder of its own
        raise GenlabError(f"{args.run} holds {run_kind(config)}, not a BERT; `genlab fill` needs a BERT run: prepare "
                          "a corpus into a new folder and train one there (`genlab prepare --corpus FILE --out "
                          "BERT_RUN`, then `genlab train BERT_RUN --model bert`)")
    fillers = fill(model, tokenizer, args.text, args.top_k, device)
    for filler in fillers:
        if len(fillers) > 1:
            print(f"<mask> {filler.position + 1}:")
        for token, p in filler.candidates:
            print(f"{token!r:>12}  {p:.4f}")
    return 0
