"""``genlab import-hf DIR --out RUN``: a local GPT-2 checkpoint (transformers' folder) becomes a genlab run."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import-hf", help="make a genlab run from a local GPT-2 (GPT2LMHeadModel) folder",
                       description="Reads config.json, model.safetensors (or pytorch_model.bin, loaded with "
                       "weights_only) and tokenizer.json (or vocab.json + merges.txt); nothing is downloaded. "
                       "The run works with eval, generate, serve and export; to fine-tune it, add a corpus with "
                       "`genlab prepare --corpus FILE --tokenizer-from RUN --out RUN`, then "
                       "`genlab train RUN --model gpt --resume`.")
    p.add_argument("source", metavar="DIR", help="the folder save_pretrained wrote, or one `genlab export --format hf` "
                   "wrote for a byte-level BPE run (read back with genlab's own token ids)")
    p.add_argument("--out", required=True, help="the new run directory (new or empty)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genlab.export.import_hf import import_hf

    out = import_hf(args.source, args.out)
    print(f"imported {args.source} into {out}; next: genlab generate {out} --prompt … · "
          f"genlab prepare --corpus FILE --tokenizer-from {out} --out {out} && genlab train {out} --model gpt --resume")
    return 0
