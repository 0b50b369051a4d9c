"""Benchmark: encoder–decoders on real translation (English → Korean, Tatoeba) and on builtin:ko-numbers.

Claim (issue 6): ``rnn-attn`` and ``transformer`` trained for the same wall-time budget translate the
held-out part of ../shared/data/tatoeba_eng_kor.tsv; beam 5 scores at least as well as greedy
(BLEU/chrF from sacrebleu), and on ``builtin:ko-numbers`` (numerals ↔ Korean readings) a model reaches
≥ 99 % exact match.

Setup: the TSV (``English<TAB>Korean``, sorted by length as shipped) is split by *distinct English
sentence* after a seeded shuffle (80/10/10), so a test sentence was never seen in training and its
several Korean translations are its references (multi-reference BLEU). One shared character
vocabulary. Both models train through ``genlab train`` with ``--time-budget`` each; the test split is
decoded greedily and with beam 5 (length penalty 0.6), timed for sentences/s. Learning curves (train
and val loss against wall time, from each run's metrics.jsonl) go to ``OUT/learning_curves.png``.

Prints progress and figures; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from genlab.beam import translate_texts
from genlab.bleu import score
from genlab.cli import main as genlab
from genlab.models import load_model
from genlab.pairs import PairsConfig, PairStore, prepare_pairs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tatoeba_eng_kor.tsv"
STORE_FILES = ("meta.json", "tokenizer.json", "source_tokenizer.json") + tuple(
    f"{s}.pairs.{ext}" for s in ("train", "val", "test") for ext in ("safetensors", "jsonl"))


def log(message: str) -> None:
    print(message, flush=True)


def copy_store(base: Path, dest: Path) -> Path:
    """A fresh run directory holding ``base``'s prepared pairs (one model per run directory)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in STORE_FILES:
        if (base / name).is_file():
            shutil.copy2(base / name, dest / name)
    return dest


def train(run: Path, family: str, budget: float, args: argparse.Namespace, *extra: str) -> float:
    started = time.perf_counter()
    code = genlab(["train", str(run), "--model", family, "--time-budget", str(budget), "--seed", str(args.seed),
                   "--threads", str(args.threads), "--device", args.device, "--quiet", *extra])
    if code != 0:
        raise SystemExit(f"training {family} failed (exit {code})")
    return time.perf_counter() - started


def decode_and_score(run: Path, split: str, beam: int, device: str) -> dict:
    model, tokenizer, _ = load_model(run, device=device)
    store = PairStore(run)
    sources, references = store.references(split)
    started = time.perf_counter()
    hyps = translate_texts(model, store.source_tokenizer, tokenizer, sources, beam_size=beam, device=device)
    seconds = time.perf_counter() - started
    report = score(hyps, references, sources)
    return {"beam": beam, "sentences": len(sources), "bleu": report.bleu, "chrf": report.chrf,
            "exact_match": report.exact_match, "sentences_per_s": len(sources) / seconds,
            "bleu_signature": report.bleu_signature, "chrf_signature": report.chrf_signature,
            "examples": [{"source": s, "hypothesis": h, "references": r}
                         for s, h, r in list(zip(sources, hyps, references))[:3]]}


def curves(run: Path) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {"train": [], "val": []}
    path = run / "metrics.jsonl"
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec.get("kind") == "train" and "loss" in rec:
            out["train"].append((rec["time"], rec["loss"]))
        elif rec.get("kind") == "eval" and "val_loss" in rec:
            out["val"].append((rec["time"], rec["val_loss"]))
    return out


def trained_steps(run: Path) -> int:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    return max((r.get("step", 0) for r in records), default=0)


def plot_curves(all_curves: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (family, c), color in zip(all_curves.items(), ("tab:blue", "tab:orange", "tab:green")):
        if c["train"]:
            ax.plot(*zip(*c["train"]), color=color, alpha=0.45, label=f"{family} train")
        if c["val"]:
            ax.plot(*zip(*c["val"]), color=color, marker="o", label=f"{family} val")
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("cross-entropy per target token (nats)")
    ax.set_title("Tatoeba eng→kor: learning curves")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--out", type=Path, default=Path("runs/bench-translate"))
    p.add_argument("--budget", type=float, default=1200, help="training seconds per model (issue: 20 min)")
    p.add_argument("--ko-budget", type=float, default=600, help="training seconds for builtin:ko-numbers")
    p.add_argument("--ko-model", default="rnn-attn", choices=["rnn-attn", "transformer"])
    p.add_argument("--ko-examples", type=int, default=20000)
    p.add_argument("--rnn-preset", help="e.g. rnn-attn-small (default: the model's defaults, 128 dims)")
    p.add_argument("--transformer-preset", help="e.g. transformer-small (default: 128 dims, 2+2 layers)")
    p.add_argument("--tokenizer", default="char", choices=["char", "jamo", "bpe", "word"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from genlab.devices import resolve_device

    device = resolve_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict = {"benchmark": "translate", "data": str(args.data), "budget_s": args.budget,
                    "threads": args.threads, "device": device, "torch": torch.__version__}

    log(f"preparing {args.data} (split by distinct English sentence, shuffled, seed {args.seed})")
    base = args.out / "tatoeba"
    meta = prepare_pairs(PairsConfig(pairs=str(args.data), out=str(base), tokenizer=args.tokenizer,
                                     split=(0.8, 0.1, 0.1), seed=args.seed), progress=False)
    s = meta["splits"]
    log(f"  pairs train {s['train']['pairs']:,} / val {s['val']['pairs']:,} / test {s['test']['pairs']:,} "
        f"({s['test']['sources']:,} test sentences), vocab {meta['vocab_size']:,}")
    result["pairs"] = {k: v["pairs"] for k, v in s.items()}
    result["test_sentences"] = s["test"]["sources"]

    all_curves, models = {}, {}
    for family, preset in (("rnn-attn", args.rnn_preset), ("transformer", args.transformer_preset)):
        run = copy_store(base, args.out / family)
        log(f"training {family} ({preset or 'defaults'}) for {args.budget:.0f} s")
        flags = ("--preset", preset) if preset else ()
        wall = train(run, family, args.budget, args, *flags, "--eval-interval", "100")
        config = json.loads((run / "config.json").read_text(encoding="utf-8"))
        entry = {"preset": preset, "model": config["model"], "steps": trained_steps(run),
                 "parameters": config["runtime"]["parameters"], "train_wall_s": wall}
        for beam in (1, 5):
            r = decode_and_score(run, "test", beam, device)
            log(f"  {family} beam {beam}: BLEU {r['bleu']:.2f} · chrF {r['chrf']:.2f} · exact {r['exact_match']:.1%}"
                f" · {r['sentences_per_s']:.1f} sentences/s")
            entry[f"beam{beam}"] = {k: v for k, v in r.items() if k != "examples"}
            if beam == 5:
                for ex in r["examples"]:
                    log(f"    {ex['source']} → {ex['hypothesis']}   (ref: {' | '.join(ex['references'])})")
        entry["beam5_ge_greedy_bleu"] = entry["beam5"]["bleu"] >= entry["beam1"]["bleu"]
        entry["beam5_ge_greedy_chrf"] = entry["beam5"]["chrf"] >= entry["beam1"]["chrf"]
        all_curves[family] = curves(run)
        entry["final_val_loss"] = all_curves[family]["val"][-1][1] if all_curves[family]["val"] else None
        models[family] = entry
    result["models"] = models
    result["signature"] = {"bleu": models["rnn-attn"]["beam1"]["bleu_signature"],
                           "chrf": models["rnn-attn"]["beam1"]["chrf_signature"]}
    plot_curves(all_curves, args.out / "learning_curves.png")
    log(f"learning curves: {args.out / 'learning_curves.png'}")

    log(f"builtin:ko-numbers ({args.ko_examples:,} examples), {args.ko_model} for {args.ko_budget:.0f} s")
    ko = args.out / "ko-numbers"
    if ko.exists():
        shutil.rmtree(ko)
    prepare_pairs(PairsConfig(pairs="builtin:ko-numbers", out=str(ko), num_examples=args.ko_examples,
                              seed=args.seed), progress=False)
    extra = ("--dropout", "0", "--positions", "learned") if args.ko_model == "transformer" else ("--dropout", "0")
    train(ko, args.ko_model, args.ko_budget, args, *extra)
    log(f"  {trained_steps(ko):,} steps")
    ko_result = {}
    for beam in (1, 5):
        r = decode_and_score(ko, "test", beam, device)
        log(f"  ko-numbers beam {beam}: exact match {r['exact_match']:.2%} of {r['sentences']:,} "
            f"· {r['sentences_per_s']:.0f} sentences/s")
        ko_result[f"beam{beam}"] = {"exact_match": r["exact_match"], "sentences": r["sentences"],
                                    "sentences_per_s": r["sentences_per_s"]}
    result["ko_numbers"] = {"model": args.ko_model, "budget_s": args.ko_budget, **ko_result,
                            "target_met": max(v["exact_match"] for v in ko_result.values()) >= 0.99}
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
