"""Transfer learning and augmentation on NSMC sentiment: how much pretraining and EDA help with few labels.

1. Split NSMC (``../shared/data/nsmc_ratings_train.txt``) with a fixed seed: ``--test`` reviews held out
   for the table, the rest a pool of labelled training reviews.
2. Pretrain on the pool's review *text* (labels unused), char tokenizer, ``--pretrain`` seconds each:
   a BERT by masked language modelling and a GPT by next-token prediction (same size: 4 layers, 128
   dims, context 128; ``--bert-preset`` / ``--gpt-preset``, by default the fast recipes, bert-tiny-fast and
   gpt-tiny-fast with a tied head, under ``--dtype``).
3. For each label count (``--sizes``: fractions of the pool or absolute counts), each start (scratch =
   ``--init-from none`` with a BERT of the same preset, bert, gpt), with and without ``--augment eda``:
   ``genlab classify train`` for ``--budget`` seconds (every cell with the same ``--aux-lm`` weight and
   backbone ``--dropout``: 0.3 and 0.1 measured best with few labels), then ``genlab classify eval`` on the
   test reviews.
4. Side by side: char 1–3-gram TF-IDF + logistic regression (scikit-learn) on the same labels.

Everything runs through the real command line, one process at a time; budgets count ``--clock``
seconds (cpu: CPU seconds per thread, fair on a shared machine). Prints a table, writes a plot, and
prints a JSON object as its last line.

    python benchmarks/transfer_nsmc.py                     # the full protocol: 3 sizes × 3 starts × ±EDA, 30 min each
    python benchmarks/transfer_nsmc.py --sizes 1500,3000 --budget 60 --pretrain 300 --work /tmp/tn
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from machine import cpu_model  # a sibling module: benchmarks run as scripts from this folder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
STARTS = ("scratch", "bert", "gpt")


def genlab(*args: str) -> str:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "genlab", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"genlab {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    print(f"    genlab {' '.join(args[:3])} … ({time.perf_counter() - start:.0f} s wall)", flush=True)
    return proc.stdout


def load_nsmc(seed: int, n_test: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    rows = []
    for line in (DATA / "nsmc_ratings_train.txt").read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) == 3 and fields[1].strip():
            rows.append((fields[2], fields[1].strip()))
    order = np.random.default_rng(seed).permutation(len(rows))
    test = [rows[i] for i in order[:n_test]]
    pool = [rows[i] for i in order[n_test:]]
    return pool, test


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"{label}\t{text}\n" for label, text in rows), encoding="utf-8")
    return path


def tfidf_lr(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> tuple[float, float]:
    """Accuracy of char 1–3-gram TF-IDF + logistic regression, and its fit time."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    start = time.process_time()
    vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
    x = vec.fit_transform([t for _, t in train])
    clf = LogisticRegression(max_iter=1000, C=1.0).fit(x, [y for y, _ in train])
    guess = clf.predict(vec.transform([t for _, t in test]))
    return float(np.mean(guess == np.array([y for y, _ in test]))), time.process_time() - start


def parse_sizes(text: str, pool: int) -> list[int]:
    sizes = []
    for part in text.split(","):
        value = float(part)
        sizes.append(int(round(value * pool)) if value <= 1 else int(value))
    return sizes


def plot(results: dict, sizes: list[int], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for start in STARTS:
        for aug, style in (("none", "-"), ("eda", "--")):
            ys = [results.get(f"{n}/{start}/{aug}") for n in sizes]
            if any(y is not None for y in ys):
                ax.plot(sizes, ys, style, marker="o", label=f"{start}{' + EDA' if aug == 'eda' else ''}")
    ax.plot(sizes, [results[f"{n}/tfidf"] for n in sizes], ":", marker="s", color="black", label="TF-IDF + LR")
    ax.set_xscale("log")
    ax.set_xlabel("labelled reviews")
    ax.set_ylabel("test accuracy")
    ax.set_title("NSMC sentiment: pretraining and augmentation vs labels")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="0.01,0.1,1.0", help="label counts: fractions of the pool (≤1) or counts")
    ap.add_argument("--starts", default=",".join(STARTS), help="which of scratch,bert,gpt")
    ap.add_argument("--augment", default="none,eda", help="none and/or eda")
    ap.add_argument("--budget", type=float, default=1800, help="seconds of classifier training per cell")
    ap.add_argument("--pretrain", type=float, default=1800, help="seconds of pretraining, each of bert and gpt")
    ap.add_argument("--test", type=int, default=10_000, help="held-out reviews scored")
    ap.add_argument("--pretrain-reviews", type=int, default=0, help="reviews in the pretraining corpus (0: the pool)")
    ap.add_argument("--bert-preset", default="bert-tiny-fast", help="the BERTs' preset (pretrained and scratch)")
    ap.add_argument("--gpt-preset", default="gpt-tiny-fast", help="the pretrained GPT's preset (head tied)")
    ap.add_argument("--bert-positions", default="rope", choices=["learned", "rope"],
                    help="the BERTs' positions (pretrained and scratch). With learned positions, MLM pretraining "
                    "sat at the unigram level (masked accuracy 0.19) for the whole budget; rotary positions left "
                    "it within 200 steps")
    ap.add_argument("--bert-pooling", default="mean", choices=["first", "mean"],
                    help="what the BERT classifiers read (MLM never trains the first position as a summary)")
    ap.add_argument("--dtype", default="auto", help="pretraining's --dtype (auto: measured per model)")
    ap.add_argument("--aux-lm", default="0.3", help="every classifier's --aux-lm (0: the classification loss alone)")
    ap.add_argument("--finetune-dropout", default="0.1", help="every classifier's backbone --dropout")
    ap.add_argument("--ema", default="0", help="every classifier's --ema (moving average of the weights; 0: off)")
    ap.add_argument("--finetune-dtype", default="float32", help="every classifier's --dtype")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--clock", default="cpu", choices=["wall", "cpu"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default="runs/bench-transfer")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cpu = cpu_model()
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; threads {args.threads}; "
          f"budgets in {args.clock} seconds")
    pool, test = load_nsmc(args.seed, args.test)
    sizes = parse_sizes(args.sizes, len(pool))
    starts = [s for s in args.starts.split(",") if s]
    augments = [a for a in args.augment.split(",") if a]
    test_file = write_tsv(work / "test.tsv", test)
    common = ["--budget-clock", args.clock, "--threads", args.threads, "--seed", str(args.seed), "--quiet",
              "--overwrite"]

    pretrained = {}
    texts = [t for _, t in pool[:args.pretrain_reviews or len(pool)]]
    if any(s != "scratch" for s in starts):
        (work / "corpus.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
        base = work / "pretrain"
        if not (base / "meta.json").is_file():
            genlab("prepare", "--corpus", str(work / "corpus.txt"), "--unit", "line", "--out", str(base), "--quiet")
        for family in (s for s in starts if s != "scratch"):
            run = work / f"pretrain-{family}"
            if not (run / "config.json").is_file():  # a copy of the prepared store per model
                import shutil

                shutil.copytree(base, run, dirs_exist_ok=True)
                print(f"1. pretrain {family} on {len(texts):,} reviews for {args.pretrain:.0f} s")
                recipe = (["--preset", args.bert_preset, "--positions", args.bert_positions] if family == "bert"
                          else ["--preset", args.gpt_preset, "--tie-weights", "--batch-size", "32",
                                "--embed-lr-scale", "3"])
                genlab("train", str(run), "--model", family, "--block-size", "128", "--dtype", args.dtype,
                       "--time-budget", str(args.pretrain), *recipe, *common)
            ev = genlab("eval", str(run), "--split", "val", "--quiet")
            pretrained[family] = ev.strip().splitlines()
            print("    " + " · ".join(pretrained[family]))

    results: dict[str, float] = {}
    for n in sizes:
        labelled = write_tsv(work / f"labels-{n}.tsv", pool[:n])
        acc, fit_s = tfidf_lr(pool[:n], test)
        results[f"{n}/tfidf"] = acc
        print(f"2. {n:,} labels: TF-IDF + LR accuracy {acc:.3f} ({fit_s:.1f} CPU s)")
        for start in starts:
            for aug in augments:
                run = work / f"cls-{n}-{start}-{aug}"
                init = "none" if start == "scratch" else str(work / f"pretrain-{start}")
                extra = ["--augment", "eda"] if aug == "eda" else []
                if start == "scratch":  # the same BERT as the pretrained one, from random weights
                    extra += ["--preset", args.bert_preset, "--positions", args.bert_positions]
                if start != "gpt":
                    extra += ["--pooling", args.bert_pooling]
                out = genlab("classify", "train", str(run), "--data", str(labelled), "--init-from", init,
                             "--time-budget", str(args.budget), "--eval-interval", "50", "--aux-lm", args.aux_lm,
                             "--dropout", args.finetune_dropout, "--ema", args.ema, "--dtype", args.finetune_dtype,
                             *extra, *common)
                steps = re.search(r"([\d,]+) steps", out).group(1)
                ev = genlab("classify", "eval", str(run), "--data", str(test_file))
                acc = float(re.search(r"accuracy ([\d.]+)", ev).group(1))
                results[f"{n}/{start}/{aug}"] = acc
                tag = "EDA" if aug == "eda" else "   "
                print(f"   {start:<8} {tag} accuracy {acc:.3f} ({steps} steps)", flush=True)

    print(f"\ntest accuracy on {len(test):,} held-out reviews ({args.budget:.0f} {args.clock}-s per cell)")
    cols = [(s, a) for s in starts for a in augments]
    print(f"{'labels':>8}{'tfidf+LR':>10}" + "".join(f"{s + ('+EDA' if a == 'eda' else ''):>12}" for s, a in cols))
    for n in sizes:
        print(f"{n:>8,}{results[f'{n}/tfidf']:>10.3f}" +
              "".join(f"{results[f'{n}/{s}/{a}']:>12.3f}" for s, a in cols))
    plot(results, sizes, work / "transfer_nsmc.png")
    print(f"plot: {work / 'transfer_nsmc.png'}")
    print(json.dumps({"cpu": cpu, "clock": args.clock, "threads": args.threads, "budget_s": args.budget,
                      "pretrain_s": args.pretrain, "bert_preset": args.bert_preset, "gpt_preset": args.gpt_preset,
                      "bert_positions": args.bert_positions, "bert_pooling": args.bert_pooling, "dtype": args.dtype,
                      "aux_lm": float(args.aux_lm), "finetune_dropout": float(args.finetune_dropout),
                      "ema": float(args.ema), "finetune_dtype": args.finetune_dtype,
                      "test_reviews": len(test),
                      "pool": len(pool), "sizes": sizes,
                      "pretrained_eval": pretrained, "accuracy": results}))


if __name__ == "__main__":
    main()
