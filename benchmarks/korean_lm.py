"""Korean reviews, character by character: genlab's neural recipe against a Kneser–Ney 4-gram, same run.

Data: NSMC movie reviews (``../shared/data/nsmc_ratings_train.txt``, the ``document`` column, empty ones
dropped), the first ``--train + 2 × --held-out`` reviews, split by ``genlab prepare``'s seeded document
split into about ``--train`` training reviews and two held-out parts (val: the loop's evaluations; test:
the figures below). Char tokenizer learned from the training reviews (about 2,239 ids).

Both sides are scored by ``genlab.evaluate.perplexity`` on the same test reviews, in bits per
character (each review ends with ``<eos>``, which counts as a token but not as a character, the same
for both). The n-gram is genlab's own Markov chain with interpolated Kneser–Ney (``--order 4``, discount
0.75), fitted by counting; the GPT trains under a time budget (``--budget``, CPU seconds per thread,
so a busy machine does not shorten it) with the preset's recipe. A GPT is scored on consecutive
windows of its block (nanoGPT's way: early positions of each window see little context) and, beside
that, by a sliding window of stride block/2 (every token sees at least half a block before it; the
n-gram always sees its full 3-token context).

    python benchmarks/korean_lm.py                                   # gpt-tiny, 5 minutes, 1 thread
    python benchmarks/korean_lm.py --preset gpt-tiny-fast --budget 300
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from genlab.cli.args import nonneg_int, positive_int
from genlab.errors import GenlabError

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "nsmc_ratings_train.txt"


def reviews(path: Path, count: int) -> list[str]:
    """The first ``count`` non-empty review texts (column 2 of the TSV, header skipped)."""
    out = []
    try:
        with open(path, encoding="utf-8") as fh:
            next(fh, None)
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3 and parts[1].strip():
                    out.append(parts[1].strip())
                    if len(out) == count:
                        break
    except UnicodeDecodeError as exc:
        raise GenlabError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}): pass NSMC's "
                          "ratings_train.txt") from None
    if not out:
        raise GenlabError(f"{path} holds no reviews (expected NSMC's layout: a header, then id<TAB>document<TAB>label)")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--work", type=Path, default=Path("/tmp/genlab-bench/korean_lm"))
    p.add_argument("--train", type=int, default=50_000, help="training reviews")
    p.add_argument("--held-out", type=int, default=2_500, help="reviews in each of val and test")
    p.add_argument("--order", type=int, default=4)
    p.add_argument("--preset", default="gpt-tiny", help="the neural recipe")
    p.add_argument("--budget", type=float, default=300.0, help="GPT training time, CPU seconds per thread")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--min-lr", type=float, help="where the cosine ends (default: the preset's, or --lr / 10)")
    p.add_argument("--embed-lr-scale", type=float, help="the embeddings' learning rate as a multiple of --lr")
    p.add_argument("--scalar-lr-scale", type=float, help="the gains' and biases' learning rate as a multiple of --lr")
    p.add_argument("--block-size", type=int)
    p.add_argument("--n-layer", type=positive_int)
    p.add_argument("--n-head", type=positive_int)
    p.add_argument("--n-embd", type=positive_int)
    p.add_argument("--tie-weights", choices=["yes", "no"], help="default: the preset's")
    p.add_argument("--grad-accum", type=positive_int)
    p.add_argument("--warmup", type=nonneg_int)
    p.add_argument("--dtype", choices=["float32", "bfloat16", "auto"],
                   help="default: the preset's, else float32 (auto: a measured probe)")
    p.add_argument("--seed", type=int, default=1337)
    args = p.parse_args()
    if not args.data.is_file():
        print(f"{args.data} not found (NSMC ratings_train.txt)", file=sys.stderr)
        return 2

    import torch

    from genlab.evaluate import perplexity
    from genlab.models.markov import MarkovChain, MarkovConfig
    from genlab.models.presets import preset_for
    from genlab.tokens import PrepareConfig, TokenStore, prepare
    from genlab.training.config import TrainConfig
    from genlab.training.lm_task import LanguageModelTask
    from genlab.training.loop import fit

    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    torch.set_num_threads(args.threads)
    print(f"load average before the run: {load}; {args.threads} thread(s)")
    total = args.train + 2 * args.held_out
    texts = reviews(args.data, total)
    args.work.mkdir(parents=True, exist_ok=True)
    corpus = args.work / "reviews.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    run = args.work / "run"
    if run.exists():
        import shutil

        shutil.rmtree(run)
    held = args.held_out / total
    prepare(PrepareConfig(corpus=str(corpus), out=str(run), unit="line", split=(1 - 2 * held, held, held),
                          seed=args.seed), progress=False)
    store = TokenStore(run)
    meta = store.meta
    test = store.split("test")
    chars = meta["splits"]["test"]["characters"]
    print(f"{len(texts):,} reviews: {meta['splits']['train']['documents']:,} train / "
          f"{meta['splits']['test']['documents']:,} test ({chars:,} characters); char vocab {store.vocab_size:,}")

    started = time.perf_counter()
    chain = MarkovChain.fit(store.split("train"), store.vocab_size, MarkovConfig(order=args.order, smoothing="kn"))
    fit_s = time.perf_counter() - started
    ngram = perplexity(chain, test, characters=chars)
    print(f"Kneser-Ney {args.order}-gram: fitted in {fit_s:.1f} s; test {ngram.bits_per_char:.3f} bits/char")

    task = LanguageModelTask(run, "gpt")
    _, preset = preset_for("gpt", args.preset)
    tie = None if args.tie_weights is None else args.tie_weights == "yes"
    model = task.model_config(argparse.Namespace(preset=args.preset, block_size=args.block_size, n_layer=args.n_layer,
                                                 n_head=args.n_head, n_embd=args.n_embd, tie_weights=tie))
    train = {k: v for k, v in preset["train"].items() if k != "max_steps"}
    if args.dtype:
        train["dtype"] = args.dtype
    if args.warmup is not None:
        train["warmup_steps"] = args.warmup
    for flag in ("batch_size", "lr", "grad_accum", "min_lr", "embed_lr_scale", "scalar_lr_scale"):  # min_lr after lr
        if getattr(args, flag) is not None:
            train[flag] = getattr(args, flag)
            if flag == "lr":
                train["min_lr"] = args.lr / 10
    cfg = TrainConfig(**{**train, "time_budget": args.budget, "budget_clock": "cpu", "threads": args.threads,
                         "device": "cpu", "seed": args.seed})
    options = {k: model.get(k) for k in ("n_layer", "n_head", "n_embd", "block_size", "positions", "qk_norm",
                                          "activation", "tie_weights")}
    print(f"GPT ({args.preset}: {options}), batch {cfg.batch_size} ({cfg.grad_accum} micro-batches), "
          f"{cfg.optimizer} lr {cfg.lr:g}, {cfg.dtype}, {args.budget:.0f} CPU s")
    started = time.perf_counter()
    result = fit(task, cfg, run, model, progress=False)
    wall = time.perf_counter() - started
    from genlab.models.gpt import load as load_gpt

    config = json.loads((run / "config.json").read_text())
    gpt = load_gpt(run, config, which="best")
    block = int(model["block_size"])
    neural = perplexity(gpt, test, batch_size=64, characters=chars)
    sliding = perplexity(gpt, test, batch_size=64, characters=chars, stride=block // 2)
    print(f"GPT: {result.steps} steps in {result.elapsed:.0f} CPU s ({wall:.0f} s wall); test "
          f"{neural.bits_per_char:.3f} bits/char on consecutive windows, {sliding.bits_per_char:.3f} sliding "
          f"(stride {block // 2}: every token sees ≥ {block - block // 2} before it)")
    beats = neural.bits_per_char < ngram.bits_per_char
    beats_sliding = sliding.bits_per_char < ngram.bits_per_char
    print(f"{'GPT beats' if beats else 'GPT does not beat'} the {args.order}-gram on consecutive windows "
          f"({neural.bits_per_char:.3f} vs {ngram.bits_per_char:.3f} bits/char); "
          f"{'beats' if beats_sliding else 'does not beat'} it sliding ({sliding.bits_per_char:.3f})")
    print(json.dumps({"ngram_bits_per_char": round(ngram.bits_per_char, 4), "ngram_fit_s": round(fit_s, 1),
                      "gpt_bits_per_char": round(neural.bits_per_char, 4),
                      "gpt_sliding_bits_per_char": round(sliding.bits_per_char, 4), "sliding_stride": block // 2,
                      "gpt_beats_ngram_sliding": beats_sliding, "gpt_steps": result.steps,
                      "gpt_cpu_s": round(result.elapsed, 1), "gpt_wall_s": round(wall, 1), "preset": args.preset,
                      "batch_size": cfg.batch_size, "lr": cfg.lr, "embed_lr_scale": cfg.embed_lr_scale,
                      "scalar_lr_scale": cfg.scalar_lr_scale,
                      "optimizer": cfg.optimizer,
                      "dtype": config["runtime"]["dtype"], "grad_accum": cfg.grad_accum, **options,
                      "vocab_size": store.vocab_size, "test_characters": chars, "threads": args.threads,
                      "gpt_beats_ngram": beats, "load_before": load}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GenlabError as exc:  # a recipe genlab refuses (e.g. --n-embd not divisible by --n-head): one line
        print(f"korean_lm: {exc}", file=sys.stderr)
        sys.exit(2)
