"""RNN vs LSTM vs GRU vs GPT at (about) equal parameter count and equal wall-time budget.

Course claim (RNN의 문제점 / RNN 개선): a vanilla RNN forgets long contexts because gradients through
many time steps vanish (or explode, which gradient clipping tames); LSTM and GRU keep a memory that
carries information further; a Transformer decoder attends to every earlier position directly.

On tinyshakespeare (characters) each model trains for the same ``--budget`` seconds, then we report:
  * validation bits per character (the comparable number);
  * loss by position in a 128-token window (how much each model gains from more context);
  * ‖∂L_T / ∂x_t‖, the gradient of the last position's loss with respect to the input embedding t
    steps back (vanishing gradients show as a fast decay with distance);
  * the vanilla RNN trained twice at a high learning rate, with ``--clip 1`` and with clipping off:
    its pre-clip gradient norms, clip rate and final bits/char.
Prints progress and figures; the last line is one JSON object. Plot: ``OUT/rnn_family.png``.

    python benchmarks/rnn_family.py --budget 120
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from genlab.evaluate import perplexity
from genlab.tokens import PrepareConfig, TokenStore, prepare
from genlab.training.config import TrainConfig
from genlab.training.lm_task import LanguageModelTask
from genlab.training.loop import fit

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tinyshakespeare.txt"
FAMILIES = ("rnn", "lstm", "gru", "gpt")
LR = {"rnn": 2e-3, "lstm": 3e-3, "gru": 3e-3, "gpt": 1e-3}
WINDOW = 128


def shape_for(task: LanguageModelTask, family: str, target: int, layers: int) -> dict:
    """The model config whose parameter count is closest to ``target`` (width in steps of 8 or 16)."""
    best = None
    step = 16 if family == "gpt" else 8
    for width in range(step, 1025, step):
        ns = argparse.Namespace(n_layer=layers, n_embd=width, block_size=WINDOW, dropout=0.0,
                                n_head=4 if family == "gpt" else None)
        config = task.model_config(ns)
        n = sum(p.numel() for p in task.build_model(config).parameters())
        if best is None or abs(n - target) < abs(best[0] - target):
            best = (n, config)
        if n > target * 1.5:
            break
    return best[1]


def position_losses(model, data: np.ndarray, windows: int = 256, seed: int = 0) -> np.ndarray:
    """Mean cross-entropy (nats) at each position of ``WINDOW``-token windows, all from a fresh state."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(data) - WINDOW - 1, size=windows)
    chunk = torch.from_numpy(np.stack([np.asarray(data[s:s + WINDOW + 1], dtype=np.int64) for s in starts]))
    with torch.no_grad():
        logits = model.logits(chunk[:, :-1])
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), chunk[:, 1:], reduction="none")
    return nll.mean(0).numpy()


def input_gradients(model, data: np.ndarray, windows: int = 32, seed: int = 1) -> np.ndarray:
    """‖∂L_T/∂x_t‖ for t = T-1 … 0 (index = distance back from the predicted position), batch mean."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(data) - WINDOW - 1, size=windows)
    chunk = torch.from_numpy(np.stack([np.asarray(data[s:s + WINDOW + 1], dtype=np.int64) for s in starts]))
    x, y = chunk[:, :-1], chunk[:, -1]
    model.eval()
    embed = model.transformer.wte if hasattr(model, "transformer") else model.wte
    captured = {}

    def keep(module, inputs, output):
        output.retain_grad()
        captured["x"] = output

    handle = embed.register_forward_hook(keep)
    try:
        logits = model.logits(x)[:, -1]
        torch.nn.functional.cross_entropy(logits, y).backward()
    finally:
        handle.remove()
    norms = captured["x"].grad.norm(dim=-1).mean(0).numpy()  # (T,)
    model.zero_grad(set_to_none=True)
    return norms[::-1].copy()


def train_one(run: Path, family: str, config: dict, budget: float, clip: float, lr: float, device: str,
              seed: int) -> dict:
    task = LanguageModelTask(run, family)
    cfg = TrainConfig(batch_size=32, lr=lr, min_lr=lr / 10, warmup_steps=50, time_budget=budget, clip=clip,
                      eval_interval=100, eval_batches=10, log_interval=10, device=device, seed=seed,
                      on_nan="skip")
    started = time.perf_counter()
    result = fit(task, cfg, run, config, progress=True)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    norms = [r["grad_norm"] for r in train if math.isfinite(r["grad_norm"])]
    return {"steps": result.steps, "tokens": result.tokens, "seconds": round(time.perf_counter() - started, 1),
            "best_val_loss": result.best_val_loss, "max_grad_norm": max(norms) if norms else None,
            "median_grad_norm": float(np.median(norms)) if norms else None,
            "clip_rate": float(np.mean([r["clip_rate"] for r in train])) if train else None,
            "curve": [(r["time"], r["val_loss"]) for r in records if r["kind"] == "eval"]}


def plot(out: Path, results: dict, positions: dict, grads: dict, bench_clip: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    ax = axes[0]
    for fam, r in results.items():
        ax.plot([t for t, _ in r["curve"]], [v / math.log(2) for _, v in r["curve"]], "o-", ms=3,
                label=f"{fam} ({r['params'] / 1e3:.0f}k) {r['val_bits_per_char']:.3f} bpc")
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("val bits/char (fixed windows)")
    ax.set_title("equal parameters, equal time")
    ax.legend()
    ax = axes[1]
    for fam, curve in positions.items():
        ax.plot(np.arange(1, len(curve) + 1), np.asarray(curve) / math.log(2), label=fam)
    ax.set_xscale("log")
    ax.set_xlabel("position in window (tokens of context + 1)")
    ax.set_ylabel("bits/char at that position")
    ax.set_title("what more context buys")
    ax.legend()
    ax = axes[2]
    for name, g in {**grads, **{f"rnn, clip {k}": v["grads"] for k, v in bench_clip.items()}}.items():
        ax.semilogy(np.arange(len(g)), np.maximum(g, 1e-30), label=name)
    ax.set_xlabel("distance back in time t (steps)")
    ax.set_ylabel("‖∂L_T / ∂x_(T−t)‖")
    ax.set_title("gradient reaching t steps back")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "rnn_family.png", dpi=100)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=120.0, help="training seconds per model")
    p.add_argument("--params", type=int, default=200_000, help="target parameter count per model")
    p.add_argument("--layers", type=int, default=2, help="layers for the recurrent models (GPT: 2 × this)")
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--out", default="runs/bench_rnn_family")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--high-lr", type=float, default=1e-2, help="vanilla RNN learning rate for the clipping runs")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    base = out / "data"
    print(f"preparing {args.data} (characters, paragraphs split 90/5/5)", flush=True)
    prepare(PrepareConfig(corpus=args.data, out=str(base), tokenizer="char", unit="paragraph",
                          split=(0.9, 0.05, 0.05), seed=args.seed), progress=False)
    store = TokenStore(base)
    val = store.split("val")
    stats = store.stats("val")

    def fresh_run(name: str) -> Path:
        import shutil

        run = out / name
        if run.exists():
            shutil.rmtree(run)
        shutil.copytree(base, run)
        return run

    results, positions, grads = {}, {}, {}
    for fam in FAMILIES:
        run = fresh_run(fam)
        task = LanguageModelTask(run, fam)
        config = shape_for(task, fam, args.params, args.layers * (2 if fam == "gpt" else 1))
        n = sum(p.numel() for p in task.build_model(config).parameters())
        print(f"== {fam}: n_layer {config['n_layer']}, n_embd {config['n_embd']}, {n:,} parameters, "
              f"{args.budget:g} s", flush=True)
        r = train_one(run, fam, config, args.budget, clip=1.0, lr=LR[fam], device=args.device, seed=args.seed)
        model = task.build_model(config)
        from genlab.models.weights import load_weights

        load_weights(model, run / "model-best.safetensors")
        model.eval()
        rep = perplexity(model, val, window=256, batch_size=16, characters=stats["characters"],
                         nbytes=stats["bytes"])
        r.update(params=n, n_embd=config["n_embd"], n_layer=config["n_layer"], val_bits_per_char=rep.bits_per_char,
                 val_perplexity=rep.perplexity)
        positions[fam] = position_losses(model, val).tolist()
        grads[fam] = input_gradients(model, val).tolist()
        results[fam] = r
        print(f"   {fam}: {r['steps']} steps, val {rep.bits_per_char:.4f} bits/char (perplexity "
              f"{rep.perplexity:.3f}); loss at position 1/8/32/128: "
              + " / ".join(f"{positions[fam][i] / math.log(2):.3f}" for i in (0, 7, 31, 127)), flush=True)

    print(f"== vanilla RNN at lr {args.high_lr:g}: clipping on (1.0) and off", flush=True)
    bench_clip = {}
    config = shape_for(LanguageModelTask(base, "rnn"), "rnn", args.params, args.layers)
    for clip in (1.0, 0.0):
        run = fresh_run(f"rnn_clip{clip:g}")
        task = LanguageModelTask(run, "rnn")
        r = train_one(run, "rnn", config, args.budget / 2, clip=clip, lr=args.high_lr, device=args.device,
                      seed=args.seed)
        model = task.build_model(config)
        from genlab.models.weights import load_weights

        load_weights(model, run / "model.safetensors")
        r["grads"] = input_gradients(model, val).tolist()
        r["final_val_bits_per_char"] = r["curve"][-1][1] / math.log(2) if r["curve"] else None
        bench_clip[f"{clip:g}"] = r
        print(f"   clip {clip:g}: {r['steps']} steps, median/max pre-clip grad norm {r['median_grad_norm']:.3g} / "
              f"{r['max_grad_norm']:.3g}, clip rate {r['clip_rate']:.2f}, final val "
              f"{r['final_val_bits_per_char']:.4f} bits/char (fixed windows)", flush=True)

    plot(out, results, positions, grads, bench_clip)
    print("\n| model | params | steps | val bits/char | loss @pos 1 | @8 | @32 | @128 | grad 1 back | 64 back |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for fam, r in results.items():
        pl, g = positions[fam], grads[fam]
        print(f"| {fam} | {r['params']:,} | {r['steps']} | {r['val_bits_per_char']:.4f} | "
              + " | ".join(f"{pl[i] / math.log(2):.3f}" for i in (0, 7, 31, 127))
              + f" | {g[1]:.2e} | {g[64]:.2e} |")
    print(f"plot: {out / 'rnn_family.png'}")
    summary = {
        "benchmark": "rnn_family", "budget_s": args.budget, "params_target": args.params, "device": args.device,
        "val_bits_per_char": {f: round(r["val_bits_per_char"], 4) for f, r in results.items()},
        "params": {f: r["params"] for f, r in results.items()},
        "steps": {f: r["steps"] for f, r in results.items()},
        "bits_at_position": {f: {str(i + 1): round(positions[f][i] / math.log(2), 4) for i in (0, 7, 31, 127)}
                             for f in results},
        "grad_norm_back": {f: {str(t): float(f"{grads[f][t]:.3e}") for t in (1, 16, 64, 127)} for f in results},
        "rnn_clipping": {k: {"median_grad_norm": v["median_grad_norm"], "max_grad_norm": v["max_grad_norm"],
                             "clip_rate": v["clip_rate"], "final_val_bits_per_char": v["final_val_bits_per_char"],
                             "grad_norm_back_64": float(f"{v['grads'][64]:.3e}")} for k, v in bench_clip.items()},
        "plot": str(out / "rnn_family.png"),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
