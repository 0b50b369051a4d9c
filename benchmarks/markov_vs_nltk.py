"""Benchmark: genlab's Markov chain against NLTK (fit, scoring, perplexity) and markovify (generation).

Claim (issue 3): on tinyshakespeare word tokens at order 3, genlab fits and scores the whole test split
≥ 1000× faster than ``nltk.lm.KneserNeyInterpolated``, with equal perplexities wherever NLTK's terms are
right, and generates at least as many sentences per second as ``markovify`` (state size 2).

Setup, as in ../shared/data/REFERENCE.md: every non-empty line is a document, lower-cased, tokens are
``\\w+`` runs and single punctuation marks; the first 90 % of lines train, the last 10 % test. Both libraries
see the same token strings and the same padding (N-1 ``<s>`` on the left, one ``</s>`` on the right — genlab's
convention, see genlab/models/ngram_counts.py) and the same discount (NLTK's default 0.1 unless
``--discount``).

NLTK's Kneser-Ney scores ~15 trigrams/s, so it scores a random sample (``--kn-sample``) of the test trigrams
and its time for the whole split is extrapolated from that rate (stated in the output). Terms where NLTK is
defective — the first token of each line (its distribution there sums to more than 1) and tokens unseen in
training (probability 0) — are reported apart; see genlab/models/markov.py.

Prints progress and figures; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from genlab.evaluate import perplexity
from genlab.models.markov import MarkovChain, MarkovConfig
from genlab.tokenizers import BOS_ID, EOS_ID, UNK_ID
from genlab.tokenizers.word import WordTokenizer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
TOKEN = re.compile(r"\w+|[^\w\s]")


def log(message: str) -> None:
    print(message, flush=True)


def load_lines(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    lines = [TOKEN.findall(line.lower()) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    cut = int(len(lines) * 0.9)
    return lines[:cut], lines[cut:]


def timed(fn, repeats: int = 1):
    """(result of the last call, median seconds over ``repeats`` calls)."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return result, statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--discount", type=float, default=0.1, help="Kneser-Ney discount (NLTK's default: 0.1)")
    parser.add_argument("--kn-sample", type=int, default=300, help="test trigrams NLTK's Kneser-Ney scores")
    parser.add_argument("--repeats", type=int, default=3, help="genlab timings: median of this many runs")
    parser.add_argument("--gen-seconds", type=float, default=5.0, help="time budget per generation measurement")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"data file {args.data} not found (pass --data)", file=sys.stderr)
        return 2
    N = args.order
    from nltk.lm import KneserNeyInterpolated, Laplace
    from nltk.util import everygrams, ngrams

    train_lines, test_lines = load_lines(args.data)
    words = sorted({w for line in train_lines for w in line})
    index = {w: i for i, w in enumerate(words, start=4)}
    V = len(words) + 4

    def to_ids(lines: list[list[str]]) -> np.ndarray:
        return np.array([t for line in lines for t in [*(index.get(w, UNK_ID) for w in line), EOS_ID]], np.int64)

    train_ids, test_ids = to_ids(train_lines), to_ids(test_lines)
    text_tokens = int((train_ids != EOS_ID).sum())
    oov = int((test_ids == UNK_ID).sum())
    log(f"data: {len(train_lines):,} train lines ({text_tokens:,} word tokens + {len(train_lines):,} </s>), "
        f"{len(test_lines):,} test lines ({len(test_ids):,} scored tokens, {oov} unseen), vocabulary {V:,} ids")

    # every (context, target) the test split is scored on, in both libraries' terms
    ctx, tgt = [], []
    for line in test_lines:
        ids = [BOS_ID] * (N - 1) + [index.get(w, UNK_ID) for w in line] + [EOS_ID]
        for gram in ngrams(ids, N):
            ctx.append(gram[:-1])
            tgt.append(gram[-1])
    ctx_arr, tgt_arr = np.array(ctx, np.int64), np.array(tgt, np.int64)
    names = {BOS_ID: "<s>", EOS_ID: "</s>", UNK_ID: "<UNK>", 0: "<pad>", **{i: w for w, i in index.items()}}
    doc_start = (ctx_arr == BOS_ID).all(axis=1)

    def nltk_padded(line: list[str]) -> list[str]:
        return ["<s>"] * (N - 1) + line + ["</s>"]

    def nltk_fit(cls, **kw):
        lm = cls(N, **kw)
        vocab_text = [w for line in train_lines for w in nltk_padded(line)] + ["<pad>"]  # same |V| as ours
        lm.fit((everygrams(nltk_padded(line), max_len=N) for line in train_lines), vocab_text)
        assert len(lm.vocab) == V, (len(lm.vocab), V)
        return lm

    def nltk_scores(lm, rows: np.ndarray) -> np.ndarray:
        return np.array([lm.score(names[int(tgt_arr[r])], [names[int(x)] for x in ctx_arr[r]]) for r in rows])

    results: dict[str, dict] = {}
    rng = np.random.default_rng(args.seed)
    for smoothing in ("kn", "laplace"):
        cfg = MarkovConfig(order=N, smoothing=smoothing, discount=args.discount)
        log(f"\n== {smoothing} ==")
        model, fit_s = timed(lambda cfg=cfg: MarkovChain.fit(train_ids, V, cfg), args.repeats)
        report, score_s = timed(lambda model=model: perplexity(model, test_ids, window=4096, batch_size=8),
                                args.repeats)
        ours = model.prob(ctx_arr, tgt_arr)
        log(f"genlab: fit {fit_s:.3f}s, scoring {report.tokens:,} tokens {score_s:.3f}s "
            f"({report.tokens / score_s:,.0f} tokens/s), perplexity {report.perplexity:.4f} "
            f"({report.infinite} zero-probability tokens)")

        log("nltk: fitting …")
        lm, nltk_fit_s = timed(lambda smoothing=smoothing: nltk_fit(KneserNeyInterpolated, discount=args.discount)
                               if smoothing == "kn" else nltk_fit(Laplace))
        if smoothing == "kn":
            rows = np.sort(rng.choice(len(tgt_arr), size=min(args.kn_sample, len(tgt_arr)), replace=False))
        else:
            rows = np.arange(len(tgt_arr))
        log(f"nltk: fit {nltk_fit_s:.2f}s; scoring {len(rows):,} test {N}-grams …")
        theirs, nltk_score_s = timed(lambda lm=lm, rows=rows: nltk_scores(lm, rows))
        rate = len(rows) / nltk_score_s
        full_s = len(tgt_arr) / rate
        mine = ours[rows]
        right = theirs > 0  # where NLTK's terms are right (see the module docstring)
        if smoothing == "kn":
            right &= ~doc_start[rows]
        rel = np.abs(mine[right] - theirs[right]) / theirs[right]
        ppl_ours_right = math.exp(-np.log(mine[right]).mean())
        ppl_theirs_right = math.exp(-np.log(theirs[right]).mean())
        finite = theirs > 0
        ppl_theirs_finite = math.exp(-np.log(theirs[finite]).mean())
        ppl_ours_same = math.exp(-np.log(mine[finite]).mean())
        speedup = (nltk_fit_s + full_s) / (fit_s + score_s)
        log(f"nltk: {rate:,.1f} {N}-grams/s → whole test split ({len(tgt_arr):,}) "
            f"{'extrapolated ' if len(rows) < len(tgt_arr) else ''}{full_s:,.1f}s")
        log(f"perplexity over the {int(finite.sum())} terms NLTK finds finite (of {len(rows)}): "
            f"nltk {ppl_theirs_finite:.4f}, genlab {ppl_ours_same:.4f}")
        log(f"perplexity over the {int(right.sum())} terms where NLTK is right: nltk {ppl_theirs_right:.6f}, "
            f"genlab {ppl_ours_right:.6f}; max relative term difference {rel.max():.2e}")
        log(f"speed: fit + scoring the whole test split: nltk {nltk_fit_s + full_s:,.1f}s, "
            f"genlab {fit_s + score_s:.3f}s → {speedup:,.0f}× faster")
        results[smoothing] = {
            "genlab_fit_s": round(fit_s, 4), "genlab_score_s": round(score_s, 4),
            "genlab_score_tokens_per_s": round(report.tokens / score_s), "genlab_perplexity": report.perplexity,
            "genlab_zero_prob_tokens": report.infinite,
            "nltk_fit_s": round(nltk_fit_s, 2), "nltk_scored_terms": int(len(rows)),
            "nltk_terms_per_s": round(rate, 1), "nltk_score_whole_split_s": round(full_s, 1),
            "nltk_score_extrapolated": bool(len(rows) < len(tgt_arr)),
            "nltk_zero_prob_terms": int((~finite).sum()), "nltk_doc_start_terms": int(doc_start[rows].sum()),
            "ppl_nltk_finite_terms": ppl_theirs_finite, "ppl_genlab_same_terms": ppl_ours_same,
            "ppl_nltk_right_terms": ppl_theirs_right, "ppl_genlab_right_terms": ppl_ours_right,
            "max_rel_diff_right_terms": float(rel.max()), "speedup_fit_plus_score": round(speedup, 1),
        }

    # ------------------------------------------------------------ generation: sentences (lines) per second
    log("\n== generation ==")
    import markovify

    from genlab.cli.generate_cmd import exact_chain_samples
    from genlab.generate import SamplingConfig, complete

    corpus = "\n".join(" ".join(line) for line in train_lines)
    chain, build_s = timed(lambda: markovify.NewlineText(corpus, state_size=N - 1))
    made = failures = 0
    started = time.perf_counter()
    while time.perf_counter() - started < args.gen_seconds:
        made += 1
        failures += chain.make_sentence() is None
    markovify_s = time.perf_counter() - started
    mk_rate = (made - failures) / markovify_s
    log(f"markovify: build {build_s:.2f}s, {mk_rate:,.0f} sentences/s ({failures} of {made} attempts failed)")

    # genlab, two ways: the chain's own sampler (MarkovChain.sample: exact, temperature 1, no dense rows) one
    # sentence at a time and batched, and the shared sampling loop behind `genlab generate` (dense [B, V] rows)
    model = MarkovChain.fit(train_ids, V, MarkovConfig(order=N, smoothing="kn", discount=args.discount))
    gen: dict[str, float] = {}
    sample: list[int] = []
    for batch in (1, 256):
        done = cut = seed = 0
        started = time.perf_counter()
        while time.perf_counter() - started < args.gen_seconds:
            docs = model.sample(batch, max_tokens=200, seed=seed)
            seed += 1
            ended = sum(len(d) > 0 and d[-1] == EOS_ID for d in docs)
            done, cut = done + ended, cut + len(docs) - ended
            sample = sample or list(docs[0])
        gen[f"genlab_sample_batch{batch}_sentences_per_s"] = round(done / (time.perf_counter() - started), 1)
        log(f"genlab MarkovChain.sample (kn, batch {batch}): "
            f"{gen[f'genlab_sample_batch{batch}_sentences_per_s']:,.0f} sentences/s ({cut} cut at 200 tokens)")
    log("a genlab sentence: " + " ".join(names[i] for i in sample))
    tokenizer = WordTokenizer([" " + w for w in words])  # renders each word token with a leading space
    # `genlab generate RUN --temperature 1` goes through the chain's sampler (exact_chain_samples); any other
    # temperature, top-k or top-p goes through the shared loop with dense [B, V] rows
    done = seed = 0
    started = time.perf_counter()
    while time.perf_counter() - started < args.gen_seconds:
        plain = SamplingConfig(max_tokens=200, temperature=1.0, seed=seed)
        done += len(exact_chain_samples(model, tokenizer, "", plain, 1))
        seed += 1
    gen["genlab_generate_cli_batch1_sentences_per_s"] = round(done / (time.perf_counter() - started), 1)
    log(f"`genlab generate --temperature 1` (chain sampler, batch 1): "
        f"{gen['genlab_generate_cli_batch1_sentences_per_s']:,.0f} sentences/s")
    done = seed = 0
    started = time.perf_counter()
    while time.perf_counter() - started < args.gen_seconds:
        out = complete(model, tokenizer, "", SamplingConfig(max_tokens=200, temperature=0.8, seed=seed), num=1)
        seed += 1
        done += out[0].finish_reason == "stop"
    gen["genlab_generate_loop_t0.8_batch1_sentences_per_s"] = round(done / (time.perf_counter() - started), 1)
    log(f"shared sampling loop (`genlab generate --temperature 0.8`, batch 1): "
        f"{gen['genlab_generate_loop_t0.8_batch1_sentences_per_s']:,.0f} sentences/s")
    results["generation"] = {
        "markovify_build_s": round(build_s, 3), "markovify_sentences_per_s": round(mk_rate, 1),
        "markovify_failures": failures, **gen,
        "genlab_sample_batch1_vs_markovify": round(gen["genlab_sample_batch1_sentences_per_s"] / mk_rate, 2),
        "genlab_sample_batch256_vs_markovify": round(gen["genlab_sample_batch256_sentences_per_s"] / mk_rate, 2),
        "genlab_generate_cli_vs_markovify": round(gen["genlab_generate_cli_batch1_sentences_per_s"] / mk_rate, 2),
    }

    summary = {
        "benchmark": "markov_vs_nltk", "order": N, "discount": args.discount, "train_word_tokens": text_tokens,
        "test_scored_tokens": int(len(test_ids)), "vocab_size": V, "test_unseen_tokens": oov,
        "note": "NLTK Kneser-Ney scoring time for the whole split is extrapolated from its rate on the sample",
        **results,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
