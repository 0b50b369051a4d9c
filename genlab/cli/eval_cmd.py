"""``genlab eval RUN``: course step 5 — perplexity (any language model) or BLEU (encoder–decoders)."""

from __future__ import annotations

import argparse
import json
import sys

from genlab.cli.args import add_device, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a trained run (perplexity, or BLEU for translation)",
                       description="Course step 5: perplexity, bits/char and bits/byte on a split or a file; "
                       "BLEU/chrF for encoder-decoder runs.")
    p.add_argument("run", nargs="?", help="run directory")
    p.add_argument("--split", default=None, choices=["train", "val", "test"],
                   help="which split (default: val and test)")
    p.add_argument("--corpus", help="score this UTF-8 text file instead of a split")
    p.add_argument("--max-tokens", type=positive_int, help="score at most N tokens")
    p.add_argument("--stride", type=positive_int, help="GPT: slide the scoring window by N tokens and score only "
                   "its last N, so each token sees at least block-N before it (default: consecutive windows)")
    p.add_argument("--which", default="best", choices=["best", "latest"], help="which checkpoint")
    p.add_argument("--json", action="store_true", help="print one JSON object per split")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--bleu", action="store_true", help="encoder-decoder: BLEU, chrF and exact match on a split")
    p.add_argument("--beam", type=positive_int, default=1, help="--bleu: beam size (1 = greedy)")
    p.add_argument("--data", help="chat run: greedy answers to the last user turn of each conversation in this "
                   "JSONL (or builtin:skills) vs its last assistant message → exact match")
    p.add_argument("--max-answer-tokens", type=positive_int, default=128, help="--data: longest answer generated")
    p.add_argument("--skip-bad-lines", action="store_true", help="--data: skip malformed lines instead of failing")
    p.add_argument("--hyp", help="score this file of hypotheses (one per line) against --ref")
    p.add_argument("--ref", action="append", help="reference file (repeat for several references)")
    add_device(p)
    p.set_defaults(func=run)


def _refuse_flags_that_do_not_apply(args: argparse.Namespace, config: dict, seq2seq: bool) -> None:
    """A flag the run's kind of evaluation has no use for is an error: ignored, it would report a number
    the user did not ask for as if it were the one they did."""
    from genlab.errors import GenlabError

    family = (config.get("model") or {}).get("family")
    if family == "reward":
        raise GenlabError(f"{args.run} is a reward model: it has no perplexity; score answers with `genlab score "
                          f"{args.run}` (its held-out pairwise accuracy is in {args.run}/metrics.jsonl)")
    given = [flag for flag, value in (("--corpus", args.corpus), ("--stride", args.stride),
                                      ("--max-tokens", args.max_tokens)) if value is not None]
    if seq2seq and given:
        raise GenlabError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for a language model's "
                          "perplexity; an encoder-decoder run is scored by BLEU on its pairs (--split, --beam)")
    if not seq2seq and args.beam != 1:
        raise GenlabError("--beam is for encoder-decoder runs (BLEU with beam search); a language model is "
                          "scored by its perplexity")
    if family == "bert" and args.stride is not None:
        raise GenlabError("--stride is for left-to-right models; a BERT is scored on masked windows")


def run(args: argparse.Namespace) -> int:
    from genlab.errors import GenlabError

    if args.hyp or args.bleu:
        from genlab.bleu import eval_cli

        return eval_cli(args)
    if not args.run:
        raise GenlabError("genlab eval needs a run directory (or --hyp FILE --ref FILE)")
    if args.data:
        from genlab.tuning.answers import eval_cli

        return eval_cli(args)
    from pathlib import Path

    from genlab.corpus import iter_text_chunks
    from genlab.devices import resolve_device
    from genlab.evaluate import perplexity
    from genlab.models import load_model
    from genlab.tokens import TokenStore

    device = resolve_device(args.device)
    model, tokenizer, config = load_model(args.run, device=device, which=args.which)
    _refuse_flags_that_do_not_apply(args, config, getattr(model, "is_seq2seq", False))
    if getattr(model, "is_seq2seq", False):
        from genlab.bleu import eval_cli

        return eval_cli(args)
    if args.corpus:
        path = Path(args.corpus)
        if not path.is_file():
            raise GenlabError(f"--corpus {path} not found")
        text = "".join(iter_text_chunks(path))
        if not text:
            raise GenlabError(f"--corpus {path} is empty")
        import numpy as np

        ids = np.concatenate([tokenizer.encode_array(text), [tokenizer.eos_id]])
        targets = [(str(path), ids, len(text), len(text.encode("utf-8")), int((ids == tokenizer.unk_id).sum()))]
    else:
        if config.get("chat_template") and not (Path(args.run) / "meta.json").is_file():
            raise GenlabError(f"{args.run} is a fine-tuned chat run without a token store; evaluate its answers "
                              "with --data FILE.jsonl (or --data builtin:skills), or its perplexity with --corpus FILE")
        store = TokenStore(args.run)
        targets = []
        for split in [args.split] if args.split else ["val", "test"]:
            st = store.stats(split)
            targets.append((split, store.split(split), st["characters"], st["bytes"], st.get("unk", 0)))
    if not args.corpus and not args.split and len(targets) > 1:  # the default splits: an empty one is skipped
        for label, data, *_ in targets:
            if len(data) == 0:
                print(f"split {label} is empty (prepared with a 0 ratio?): skipped", file=sys.stderr)
        targets = [t for t in targets if len(t[1])] or targets
    for label, data, chars, nbytes, unk in targets:
        if len(data) == 0:
            raise GenlabError(f"split {label} is empty; re-run prepare with a larger corpus or other --split")
        if config["model"]["family"] == "bert":  # an encoder: masked-token accuracy and MLM perplexity
            from genlab.evaluate import masked_lm

            mlm = masked_lm(model, tokenizer, data, max_tokens=args.max_tokens, device=device,
                            progress=not args.quiet)
            if args.json:
                print(json.dumps({"split": label, **mlm.as_dict()}))
            else:
                print("\n".join(mlm.lines(label)))
            continue
        report = perplexity(model, data, max_tokens=args.max_tokens, device=device, progress=not args.quiet,
                            characters=None if args.max_tokens else chars, nbytes=None if args.max_tokens else nbytes,
                            stride=args.stride)
        oov = unk / max(len(data), 1)
        if args.json:
            print(json.dumps({"split": label, **report.as_dict(), "oov_rate": oov}))
            continue
        for line in report.lines(label):
            print(line)
        print(f"{label}: OOV rate {oov:.4%} ({unk:,} <unk> tokens)")
    return 0
