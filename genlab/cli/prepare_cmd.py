"""``genlab prepare``: corpus → tokenizer → memory-mapped token store (course steps 1–2)."""

from __future__ import annotations

import argparse

from genlab.cli.args import nonneg_float, nonneg_int, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="read a corpus, train a tokenizer, write the token store",
                       description="Course steps 1-2: corpus → tokenizer → token store in a run directory.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--corpus", help="text file, folder, glob, or builtin:pydoc")
    src.add_argument("--pairs", help="parallel data: FILE.tsv (source<TAB>target), a folder of *.src/*.tgt, "
                     "or builtin:dates|ko-numbers|reverse (encoder-decoder models)")
    p.add_argument("--out", required=True, help="run directory to write (e.g. runs/NAME)")
    p.add_argument("--tokenizer", default="char", choices=["char", "word", "jamo", "bpe"])
    p.add_argument("--vocab-size", type=positive_int,
                   help="bpe: vocabulary size to learn (default 4096); char/word/jamo: keep only the most frequent")
    p.add_argument("--min-frequency", type=positive_int, help="drop symbols seen fewer times (→ <unk>)")
    p.add_argument("--tokenizer-sample-mb", type=nonneg_float,
                   help="MB of training text the tokenizer learns from, spread over the corpus "
                   "(default: bpe 4 KB per vocabulary entry, at least 8; word 64; char/jamo all; 0 = all)")
    p.add_argument("--tokenizer-from", metavar="RUN|FILE",
                   help="reuse this run's tokenizer.json instead of learning one, grown by any symbol of this corpus "
                   "it lacks (for `genlab train --init-from RUN`; byte-level BPE, e.g. an imported GPT-2's, needs "
                   "none); --out may be that same run, to give it train/val/test splits")
    p.add_argument("--lowercase", action="store_true", help="word: lower-case text first (lossy)")
    p.add_argument("--unit", default="file", choices=["file", "line", "paragraph"],
                   help="what one document is (default: file)")
    p.add_argument("--split", default="0.9,0.05,0.05", help="train,val,test ratios by document "
                   "(a corpus of one document: by position, at line boundaries)")
    p.add_argument("--no-shuffle", action="store_true", help="split in corpus order instead of at random")
    p.add_argument("--seed", type=nonneg_int, default=1337)
    p.add_argument("--encoding-errors", default="strict", choices=["strict", "replace"],
                   help="invalid UTF-8: fail (strict) or substitute U+FFFD (replace)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    # encoder-decoder options (used with --pairs)
    p.add_argument("--shared-vocab", action=argparse.BooleanOptionalAction, default=True,
                   help="pairs: one tokenizer for source and target (default) or one each")
    p.add_argument("--max-length", type=positive_int, help="pairs: drop pairs longer than N tokens")
    p.add_argument("--skip-bad-lines", action="store_true", help="pairs: skip malformed lines instead of failing")
    p.add_argument("--num-examples", type=positive_int, help="pairs: size of a builtin task (default 20000)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.pairs:
        from genlab.pairs import prepare_pairs_cli

        return prepare_pairs_cli(args)
    from genlab.corpus import parse_ratios
    from genlab.tokens import PrepareConfig, prepare

    cfg = PrepareConfig(corpus=args.corpus, out=args.out, tokenizer=args.tokenizer, vocab_size=args.vocab_size,
                        min_frequency=args.min_frequency, lowercase=args.lowercase, unit=args.unit,
                        split=parse_ratios(args.split), shuffle=not args.no_shuffle, seed=args.seed,
                        encoding_errors=args.encoding_errors, tokenizer_sample_mb=args.tokenizer_sample_mb,
                        tokenizer_from=args.tokenizer_from)
    meta = prepare(cfg, progress=not args.quiet)
    s = meta["splits"]
    if meta["split_by"] == "position":
        lines = meta["split_lines"]
        ratios = "/".join(f"{r:g}" for r in cfg.split)
        print(f"one document: split by position at line boundaries ({ratios}): train {lines['train']:,} / "
              f"val {lines['val']:,} / test {lines['test']:,} lines")
    print(f"prepared {args.out}: tokenizer {meta['tokenizer']} (vocab {meta['vocab_size']:,}), "
          f"{meta['corpus']['documents']:,} documents, tokens train {s['train']['tokens']:,} / "
          f"val {s['val']['tokens']:,} / test {s['test']['tokens']:,} ({meta['dtype']}) in {meta['seconds']:.1f}s")
    return 0
