"""nanoGPT's CPU "baby Shakespeare" run, trained by genlab's loop: val loss against wall time.

The peer (../shared/data/REFERENCE.md, measured on this kind of 2-core machine): nanoGPT's laptop
configuration — character tokens, block 64, 4 layers, 4 heads, 128 dims, dropout 0, batch 12, AdamW
1e-3 → 1e-4 over 2000 iterations — reaches val loss 1.886 in 366 s of wall time (peak RSS 373 MB).
The target is the same val loss in half the time. Model size and data are fixed; the schedule,
batch, learning rate, threads and compilation are genlab's own choices (flags below).

Data exactly as nanoGPT's ``shakespeare_char``: the first 90 % of the characters train, the last
10 % validate. Each part is one document in a genlab token store (so it ends with ``<eos>``); the
tokenizer is the char kind, whose 65 characters plus the 4 special ids give 69 outputs.

Reported: ms/step, tokens/s, wall time including evaluation and checkpoints, the loop's val loss
(mean over ≥ 20 random val batches, as nanoGPT's ``estimate_loss``), the same estimate with nanoGPT's
own batch of 12, the loss over the whole val split, peak RSS, and a loss-vs-wall-time plot beside
nanoGPT's reference points. Last line: one JSON object.

    python benchmarks/shakespeare_char.py                    # the tuned defaults
    python benchmarks/shakespeare_char.py --steps 2000 --batch-size 12 --lr 1e-3 --warmup 100  # nanoGPT's
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
#: nanoGPT's figures on this machine (REFERENCE.md): val loss at iterations, and the whole run
NANOGPT = {"val_loss": 1.8857, "wall_s": 366.0, "peak_rss_mb": 373.0, "steps": 2000,
           "curve": {1000: 2.0528, 1500: 1.9225, 1750: 1.8921, 2000: 1.8857}}


def build_store(text_path: Path, out: Path) -> dict:
    """A token store with the first 90 % of characters as train and the last 10 % as val (and test)."""
    from genlab.checkpoint import write_json
    from genlab.tokenizers import EOS_ID
    from genlab.tokenizers import train as train_tokenizer
    from genlab.tokens import write_ids

    text = text_path.read_text(encoding="utf-8")
    cut = int(len(text) * 0.9)
    parts = {"train": text[:cut], "val": text[cut:], "test": text[cut:]}
    tok = train_tokenizer("char", [text])
    out.mkdir(parents=True, exist_ok=True)
    splits = {}
    for name, part in parts.items():
        ids = np.append(tok.encode_array(part), EOS_ID)  # one document, ended like every store document
        write_ids(out / f"{name}.bin", ids, tok.vocab_size)
        splits[name] = {"documents": 1, "tokens": len(ids), "characters": len(part),
                        "bytes": len(part.encode("utf-8")), "unk": 0}
    tok.save(out / "tokenizer.json")
    dtype = "uint16" if tok.vocab_size < 2**16 else "uint32"
    meta = {"format": "genlab-token-store", "version": 1, "dtype": dtype, "vocab_size": tok.vocab_size,
            "tokenizer": tok.kind, "tokenizer_fingerprint": tok.fingerprint(), "eos_id": EOS_ID,
            "splits": splits, "corpus": {"spec": str(text_path), "characters": len(text)},
            "characters_in_vocab": len(set(text))}
    write_json(out / "meta.json", meta)
    return meta


def nanogpt_style_val(model, data: np.ndarray, block: int, batch: int, batches: int, seed: int) -> float:
    """nanoGPT's ``estimate_loss``: mean cross-entropy over ``batches`` random val batches."""
    from torch.nn import functional as F

    from genlab.tokens import random_windows

    rng = np.random.default_rng(seed)
    losses = []
    model.eval()
    with torch.inference_mode():
        for _ in range(batches):
            x, y = random_windows(data, block, batch, rng)
            logits = model(x)
            losses.append(float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))))
    return float(np.mean(losses))


def plot(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in records if r.get("kind") == "train"]
    evals = [r for r in records if r.get("kind") == "eval"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["time"] for r in train], [r["loss"] for r in train], lw=0.8, label="genlab train")
    ax.plot([r["time"] for r in evals], [r["val_loss"] for r in evals], "o-", ms=3, label="genlab val")
    per_step = NANOGPT["wall_s"] / NANOGPT["steps"]
    ref = sorted(NANOGPT["curve"].items())
    ax.plot([s * per_step for s, _ in ref], [v for _, v in ref], "s--", ms=4,
            label="nanoGPT val (reference; time ≈ step × 183 ms)")
    ax.axhline(NANOGPT["val_loss"], color="grey", lw=0.6)
    ax.axvline(NANOGPT["wall_s"] / 2, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("wall time (s), evaluation included")
    ax.set_ylabel("cross-entropy (nats/char)")
    ax.set_ylim(1.3, 3.5)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("baby Shakespeare (4L/4H/128d, block 64): loss against wall time")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--out", type=Path, default=Path("/tmp/genlab-bench/shakespeare_char"))
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr", type=float, default=None, help="default: lr / 10")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--eval-interval", type=int, default=250)
    p.add_argument("--eval-batches", type=int, default=20)
    p.add_argument("--threads", type=int, default=None, help="default: PyTorch's (all cores)")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--seed", type=int, default=1337)
    args = p.parse_args()

    from genlab.models.gpt import GPTConfig, model_config_dict
    from genlab.training.config import TrainConfig
    from genlab.training.lm_task import LanguageModelTask
    from genlab.training.loop import fit
    from genlab.training.metrics import MetricsLog

    if not args.data.is_file():
        print(f"{args.data} not found (tinyshakespeare.txt)", file=sys.stderr)
        return 2
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    print(f"load average before the run: {load} (2 cores; other jobs may share them)")
    run = args.out
    if run.exists():
        import shutil

        shutil.rmtree(run)
    meta = build_store(args.data, run)
    print(f"store: {meta['splits']['train']['tokens']:,} train / {meta['splits']['val']['tokens']:,} val tokens; "
          f"{meta['characters_in_vocab']} characters + 4 special ids = vocab {meta['vocab_size']}")

    task = LanguageModelTask(run, "gpt")
    model_cfg = model_config_dict(GPTConfig(vocab_size=meta["vocab_size"], block_size=64, n_layer=4, n_head=4,
                                            n_embd=128, dropout=0.0))
    cfg = TrainConfig(batch_size=args.batch_size, lr=args.lr, min_lr=args.min_lr or args.lr / 10,
                      warmup_steps=args.warmup, lr_decay_steps=args.steps, max_steps=args.steps,
                      eval_interval=args.eval_interval, eval_batches=args.eval_batches, seed=args.seed,
                      threads=args.threads, compile=args.compile, dtype=args.dtype, device="cpu",
                      log_interval=10)
    print(f"training {args.steps} steps of {args.batch_size}×64 tokens, lr {args.lr:g} (warm-up {args.warmup}), "
          f"threads {args.threads or torch.get_num_threads()}, compile {args.compile}, {args.dtype}")
    started = time.perf_counter()
    result = fit(task, cfg, run, model_cfg, progress=True)
    wall = time.perf_counter() - started

    records = MetricsLog(run, resume_step=10**12).records
    train_steps = [r for r in records if r["kind"] == "train"]
    # ms/step: median over logged windows (time between log lines without an evaluation in them)
    eval_steps = {r["step"] for r in records if r["kind"] == "eval"}
    per_step = [1000 * (b["time"] - a["time"]) / (b["step"] - a["step"]) for a, b in zip(train_steps, train_steps[1:])
                if not any(a["step"] < s <= b["step"] for s in eval_steps)]
    ms_per_step = float(np.median(per_step)) if per_step else math.nan
    tokens_per_s = args.batch_size * 64 / (ms_per_step / 1000)
    eval_seconds = max(0.0, wall - result.steps * ms_per_step / 1000)  # evaluation, checkpoints, start-up
    rss_after_training_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    from genlab.evaluate import perplexity
    from genlab.models.gpt import load as load_gpt

    config = json.loads((run / "config.json").read_text())
    model = load_gpt(run, config, which="latest")
    val = task.store.split("val")
    nano = nanogpt_style_val(model, val, 64, 12, 200, seed=args.seed + 1)
    full = perplexity(model, val, window=64, batch_size=64)
    plot_path = run / "loss_vs_wall_time.png"
    plot(records, plot_path)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print()
    print(f"val loss (loop, {args.eval_batches} batches of {args.batch_size}): {result.last_val_loss:.4f}   "
          f"nanoGPT reference {NANOGPT['val_loss']}")
    print(f"val loss (nanoGPT-style, 200 batches of 12): {nano:.4f};  whole val split: {full.mean_nll:.4f}")
    print(f"wall time {wall:.1f} s incl. evaluation, checkpoints and start-up (~{eval_seconds:.1f} s)   "
          f"nanoGPT {NANOGPT['wall_s']:.0f} s, "
          f"target ≤ {NANOGPT['wall_s'] / 2:.0f} s")
    print(f"{result.steps} steps, median {ms_per_step:.1f} ms/step, {tokens_per_s:,.0f} tokens/s; "
          f"peak RSS {rss_after_training_mb:.0f} MB after training, {peak_rss_mb:.0f} MB with the final "
          f"whole-split evaluation and plot (nanoGPT {NANOGPT['peak_rss_mb']:.0f} MB)")
    print(f"plot: {plot_path}")
    target_met = result.last_val_loss <= NANOGPT["val_loss"] and wall <= NANOGPT["wall_s"] / 2
    print(json.dumps({"val_loss": round(result.last_val_loss, 4), "val_loss_nanogpt_style": round(nano, 4),
                      "val_loss_full_split": round(full.mean_nll, 4), "wall_s": round(wall, 1),
                      "steps": result.steps, "ms_per_step": round(ms_per_step, 1),
                      "tokens_per_s": round(tokens_per_s), "batch_size": args.batch_size, "lr": args.lr,
                      "threads": args.threads or torch.get_num_threads(), "compile": args.compile,
                      "vocab_size": meta["vocab_size"], "peak_rss_mb": round(rss_after_training_mb),
                      "peak_rss_mb_with_final_eval": round(peak_rss_mb),
                      "nanogpt_val_loss": NANOGPT["val_loss"], "nanogpt_wall_s": NANOGPT["wall_s"],
                      "nanogpt_peak_rss_mb": NANOGPT["peak_rss_mb"], "target_met": target_met, "load_before": load}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
