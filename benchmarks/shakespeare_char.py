"""nanoGPT's CPU "baby Shakespeare" run against genlab's, side by side in one run: loss against wall time.

``--nanogpt DIR`` runs nanoGPT's own ``train.py`` first (a scratch copy of the checkout in DIR; see
``nanogpt_peer.py``): character tokens, block 64, 4 layers, 4 heads, 128 dims, dropout 0, batch 12, AdamW
1e-3 → 1e-4 over 2000 iterations, evaluated on 20 random val batches every 250. Then genlab trains the
same model size on the same data with its own recipe (the ``--preset``, default ``gpt-tiny``; every
value can be overridden below) and both are printed: val loss, wall time, ms/step, CPU seconds, peak
RSS, and the time genlab took to reach nanoGPT's final val loss. Target: half nanoGPT's wall time at
no more than its peak RSS. Without ``--nanogpt`` no peer runs and none is reported: no figure is ever
read from a file.

Data exactly as nanoGPT's ``shakespeare_char``: the first 90 % of the characters train, the last
10 % validate (``int(n * 0.9)`` on the same string, as its prepare.py). Each part is one document in a
genlab token store (so it ends with one ``<eos>``, 1 of its 111,541 val tokens); genlab's char
tokenizer has nanoGPT's 65 characters plus 4 special ids (69 outputs; the specials never occur, so they
only cost genlab). The loss genlab compares is its loop's evaluation: the mean cross-entropy over
``--eval-batches`` × batch random val windows (at least nanoGPT's 20 × 12 = 240 windows), the same fixed
windows every ``--eval-interval`` steps, counted in the wall time. Also reported: the same estimate with
nanoGPT's batch of 12 over 200 batches, and the whole val split.

    python benchmarks/shakespeare_char.py --nanogpt ../nanoGPT         # side by side (a few minutes)
    python benchmarks/shakespeare_char.py --nanogpt ../nanoGPT --threads 1 --nanogpt-iters 500  # a quick look
    python benchmarks/shakespeare_char.py --preset gpt-tiny-classic    # genlab's GPT-2 recipe, no peer

``--gpu-config`` is the same side by side on a GPU with nanoGPT's own GPU run (its config file as it is:
batch 64 × 256, 6 layers, 6 heads, 384 dims, dropout 0.2, bfloat16 autocast, 200 eval batches of 64) and
genlab's ``gpt-small`` preset (or ``--preset gpt-small-fast``) on ``--device cuda`` in bfloat16; ``--compile``
compiles both sides. genlab evaluates 100 batches of 64 windows every ``--eval-interval`` steps: with
20 × 64 fixed windows the estimate sat 0.009 below the whole val split's loss for one seed and 0.014
above it for another (H200 runs, docs/speed.md), enough to decide whether a loss 0.003 apart was
"reached". Peak RSS is reported but the memory target is a CPU one.

    python benchmarks/shakespeare_char.py --gpu-config --compile --nanogpt ../nanoGPT --nanogpt-iters 2000
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
from machine import cpu_model  # a sibling module: benchmarks run as scripts from this folder

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
#: nanoGPT's model size; a preset used here must have it
MODEL_SIZE = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64}
#: nanoGPT's GPU model size (its config/train_shakespeare_char.py as it is)
GPU_MODEL_SIZE = {"n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256}


def build_store(text_path: Path, out: Path) -> dict:
    """A token store with the first 90 % of characters as train and the last 10 % as val (and test)."""
    from genlab.checkpoint import write_json
    from genlab.errors import GenlabError
    from genlab.tokenizers import EOS_ID
    from genlab.tokenizers import train as train_tokenizer
    from genlab.tokens import write_ids

    try:
        text = text_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise GenlabError(f"{text_path} is not UTF-8 text ({exc.reason} at byte {exc.start}): pass "
                          "tinyshakespeare.txt") from None
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


def nanogpt_style_val(model, data: np.ndarray, block: int, batch: int, batches: int, seed: int,
                      device: str = "cpu") -> float:
    """nanoGPT's ``estimate_loss``: mean cross-entropy over ``batches`` random val batches."""
    from torch.nn import functional as F

    from genlab.tokens import random_windows

    rng = np.random.default_rng(seed)
    losses = []
    model.eval()
    with torch.inference_mode():
        for _ in range(batches):
            x, y = random_windows(data, block, batch, rng)
            x, y = x.to(device), y.to(device)
            logits = model(x)
            losses.append(float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))))
    return float(np.mean(losses))


def plot(records: list[dict], peer: dict | None, path: Path, offset: float, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    evals = [r for r in records if r.get("kind") == "eval"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([offset + r["time"] for r in evals], [r["val_loss"] for r in evals], "o-", ms=3, label="genlab val")
    if peer:
        ax.plot([e["time"] for e in peer["evals"]], [e["val_loss"] for e in peer["evals"]], "s--", ms=4,
                label="nanoGPT train.py val (same run)")
        ax.axhline(peer["val_loss"], color="grey", lw=0.6)
        ax.axvline(peer["wall_s"] / 2, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("wall time (s), start-up and evaluation included")
    ax.set_ylabel("val cross-entropy (nats/char)")
    ax.set_ylim(1.0, 3.5)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def time_to_loss(evals: list[dict], target: float, offset: float) -> float | None:
    """Wall seconds until the first evaluation at or below ``target`` (``offset``: time before training)."""
    for r in evals:
        if r["val_loss"] <= target:
            return offset + r["time"]
    return None


def recipe(args: argparse.Namespace, vocab_size: int, size: dict) -> tuple[dict, dict]:
    """The model config and the training values: the preset's (which must have nanoGPT's ``size``), then
    any flags given here."""
    from genlab.models.gpt import GPTConfig, model_config_dict
    from genlab.models.presets import preset_for

    _, preset = preset_for("gpt", args.preset)
    model = {k: v for k, v in preset["model"].items() if k != "family"}
    wrong = {k: model.get(k) for k, v in size.items() if model.get(k) != v}
    if wrong:
        print(f"--preset {args.preset} is not nanoGPT's model size ({wrong}; needs {size}): pick a preset of that "
              "size, or --gpu-config for the 6-layer one", file=sys.stderr)
        raise SystemExit(2)
    if args.dropout is not None:
        model["dropout"] = args.dropout
    model_cfg = model_config_dict(GPTConfig(vocab_size=vocab_size, **model))
    train = dict(preset["train"])
    for flag, key in (("steps", "max_steps"), ("batch_size", "batch_size"), ("lr", "lr"), ("min_lr", "min_lr"),
                      ("warmup", "warmup_steps"), ("optimizer", "optimizer"), ("eval_interval", "eval_interval"),
                      ("eval_batches", "eval_batches")):
        value = getattr(args, flag)
        if value is not None:
            train[key] = value
    if args.steps is not None:
        train["lr_decay_steps"] = args.steps
    if args.lr is not None and args.min_lr is None:
        train["min_lr"] = args.lr / 10
    return model_cfg, train


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--out", type=Path, default=Path("/tmp/genlab-bench/shakespeare_char"))
    p.add_argument("--nanogpt", type=Path, metavar="DIR", help="a karpathy/nanoGPT checkout: run its train.py too")
    p.add_argument("--nanogpt-iters", type=int, default=2000, help="nanoGPT's --max_iters (and --lr_decay_iters)")
    p.add_argument("--peer-json", type=Path, metavar="FILE",
                   help="with --nanogpt: also save its figures here; without: compare with the figures an "
                        "earlier --nanogpt run saved there on this machine (several genlab recipes, one peer run)")
    p.add_argument("--preset", default=None,
                   help="genlab's recipe (model options and training values); default gpt-tiny, gpt-small on a GPU")
    p.add_argument("--gpu-config", action="store_true",
                   help="nanoGPT's GPU run (6L/6H/384d, batch 64 × 256) on --device cuda, bfloat16")
    p.add_argument("--device", default=None, help="genlab's device (default cpu; cuda with --gpu-config)")
    p.add_argument("--steps", type=int, help="default: the preset's")
    p.add_argument("--dropout", type=float, help="default: the preset's")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--min-lr", type=float, help="default: lr / 10")
    p.add_argument("--warmup", type=int)
    p.add_argument("--optimizer", choices=["adamw", "muon"])
    p.add_argument("--eval-interval", type=int, default=50, help="often enough to see when nanoGPT's loss is reached")
    p.add_argument("--eval-batches", type=int, default=None,
                   help="default: ≥ 240 windows (nanoGPT's 20 × 12); 100 batches with --gpu-config")
    p.add_argument("--threads", type=int, default=None, help="both sides (default: PyTorch's, all cores)")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--dtype", default=None,
                   help="float32 | bfloat16 | auto (a measured probe); default float32, bfloat16 with --gpu-config")
    p.add_argument("--seed", type=int, default=1337)
    args = p.parse_args()
    args.preset = args.preset or ("gpt-small" if args.gpu_config else "gpt-tiny")
    args.device = args.device or ("cuda" if args.gpu_config else "cpu")
    args.dtype = args.dtype or ("bfloat16" if args.gpu_config else "float32")
    size = GPU_MODEL_SIZE if args.gpu_config else MODEL_SIZE
    block = size["block_size"]

    from genlab.training.config import TrainConfig
    from genlab.training.lm_task import LanguageModelTask
    from genlab.training.loop import fit
    from genlab.training.metrics import read_records

    if not args.data.is_file():
        print(f"{args.data} not found (tinyshakespeare.txt)", file=sys.stderr)
        return 2
    threads = args.threads or torch.get_num_threads()
    import tempfile

    cpu = cpu_model()
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            print(f"--device {args.device}: PyTorch sees no CUDA GPU here; leave --gpu-config/--device out",
                  file=sys.stderr)
            return 2
        cpu = f"{torch.cuda.get_device_name()} (host: {cpu})"
    print(f"{cpu}; load average before the run: {load}; {threads} thread(s) on each side")

    peer = None
    if args.nanogpt is not None:
        from nanogpt_peer import BABY_ARGS, GPU_ARGS, check_checkout, run_nanogpt

        problem = check_checkout(args.nanogpt)
        if problem:
            print(problem, file=sys.stderr)
            return 2
        with tempfile.TemporaryDirectory(prefix="nanogpt-") as work:
            config_args = (*GPU_ARGS, f"--compile={args.compile}") if args.gpu_config else BABY_ARGS
            peer = run_nanogpt(args.nanogpt, args.data, Path(work), threads, args.nanogpt_iters, config_args)
        if args.peer_json:
            args.peer_json.write_text(json.dumps({**peer, "machine": cpu, "gpu_config": args.gpu_config}))
    elif args.peer_json:
        if not args.peer_json.is_file():
            print(f"--peer-json {args.peer_json} not found: run once with --nanogpt DIR --peer-json FILE",
                  file=sys.stderr)
            return 2
        try:
            peer = json.loads(args.peer_json.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            print(f"--peer-json {args.peer_json} is not a saved peer run ({exc}); save one with --nanogpt DIR "
                  "--peer-json FILE", file=sys.stderr)
            return 2
        missing = {"val_loss", "wall_s", "cpu_s", "steps", "ms_per_step", "peak_rss_mb", "evals", "batch_size"}
        missing -= set(peer) if isinstance(peer, dict) else set()
        if missing:
            print(f"--peer-json {args.peer_json} lacks {', '.join(sorted(missing))}: save it again with --nanogpt DIR "
                  "--peer-json FILE", file=sys.stderr)
            return 2
        if peer.get("machine") != cpu or peer.get("gpu_config") != args.gpu_config:
            print(f"--peer-json {args.peer_json} was measured on {peer.get('machine')} (gpu_config "
                  f"{peer.get('gpu_config')}), not this run's {cpu} (gpu_config {args.gpu_config})", file=sys.stderr)
            return 2
        print(f"nanoGPT: figures of the earlier run saved in {args.peer_json} on this machine")
    if peer is not None:
        print(f"nanoGPT: val loss {peer['val_loss']:.4f} after {peer['steps']} iterations in {peer['wall_s']:.1f} s "
              f"({peer['ms_per_step']:.1f} ms/iter, {peer['cpu_s']:.0f} CPU s, peak RSS {peer['peak_rss_mb']:.0f} MB)")
    else:
        print("no peer was run: pass --nanogpt DIR (a karpathy/nanoGPT checkout) to run its train.py side by side")

    begun, cpu_begun = time.perf_counter(), time.process_time()
    run = args.out
    if run.exists():
        import shutil

        shutil.rmtree(run)
    meta = build_store(args.data, run)
    print(f"store: {meta['splits']['train']['tokens']:,} train / {meta['splits']['val']['tokens']:,} val tokens; "
          f"{meta['characters_in_vocab']} characters + 4 special ids = vocab {meta['vocab_size']}")
    task = LanguageModelTask(run, "gpt")
    model_cfg, train = recipe(args, meta["vocab_size"], size)
    batch = train["batch_size"]
    micro = batch // train.get("grad_accum", 1)  # the loop's evaluation batches have the micro-batch's rows
    if args.eval_batches is None:
        train["eval_batches"] = 100 if args.gpu_config else max(1, math.ceil(240 / micro))
    cfg = TrainConfig(**{**train, "seed": args.seed, "threads": threads, "compile": args.compile,
                         "dtype": args.dtype, "device": args.device, "log_interval": 10})
    options = {k: model_cfg[k] for k in ("positions", "qk_norm", "activation", "tie_weights", "dropout")}
    print(f"genlab: {cfg.max_steps} steps of {batch}×{block} tokens ({cfg.grad_accum} micro-batches), "
          f"{cfg.optimizer} lr {cfg.lr:g} → {cfg.min_lr:g} "
          f"(warm-up {cfg.warmup_steps}), model {options}, eval every {cfg.eval_interval} steps on "
          f"{cfg.eval_batches}×{micro} windows, threads {threads}, compile {args.compile}, {args.dtype}")
    result = fit(task, cfg, run, model_cfg, progress=True)
    wall = time.perf_counter() - begun
    cpu_s = time.process_time() - cpu_begun
    offset = wall - result.elapsed  # store building, model building: before the loop's clock started
    rss_after_training_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    records = read_records(run / "metrics.jsonl")
    train_steps = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    eval_steps = {r["step"] for r in evals}
    per_step = [1000 * (b["time"] - a["time"]) / (b["step"] - a["step"]) for a, b in zip(train_steps, train_steps[1:])
                if not any(a["step"] < s <= b["step"] for s in eval_steps)]
    ms_per_step = float(np.median(per_step)) if per_step else math.nan

    from genlab.evaluate import perplexity
    from genlab.models.gpt import load as load_gpt

    config = json.loads((run / "config.json").read_text())
    model = load_gpt(run, config, which="latest").to(args.device)
    val = task.store.split("val")
    nano = nanogpt_style_val(model, val, block, 12, 200, seed=args.seed + 1, device=args.device)
    full = perplexity(model, val, window=block, batch_size=64, device=args.device)
    plot_path = run / "loss_vs_wall_time.png"
    plot(records, peer, plot_path, offset,
         f"{'GPU' if args.gpu_config else 'baby'} Shakespeare ({size['n_layer']}L/{size['n_head']}H/"
         f"{size['n_embd']}d, block {block}): loss against wall time")

    reached = time_to_loss(evals, peer["val_loss"], offset) if peer else None
    print()
    print(f"{'':26}{'genlab':>12}{'nanoGPT':>12}")
    rows = [("val loss", f"{result.last_val_loss:.4f}", peer and f"{peer['val_loss']:.4f}"),
            ("wall time (s)", f"{wall:.1f}", peer and f"{peer['wall_s']:.1f}"),
            ("CPU time (s)", f"{cpu_s:.1f}", peer and f"{peer['cpu_s']:.1f}"),
            ("steps × batch", f"{result.steps}×{batch}", peer and f"{peer['steps']}×{peer['batch_size']}"),
            ("ms/step (median)", f"{ms_per_step:.1f}", peer and f"{peer['ms_per_step']:.1f}"),
            ("peak RSS (MB)", f"{rss_after_training_mb:.0f}", peer and f"{peer['peak_rss_mb']:.0f}")]
    for name, mine, theirs in rows:
        print(f"{name:26}{mine:>12}{theirs or '—':>12}")
    print(f"val loss nanoGPT-style (200 batches of 12): {nano:.4f}; whole val split: {full.mean_nll:.4f}")
    ratio = cpu_ratio = None
    if peer:
        if reached is None:
            print(f"genlab did not reach nanoGPT's val loss {peer['val_loss']:.4f} in this run")
        else:
            ratio = reached / peer["wall_s"]
            print(f"genlab reached nanoGPT's final val loss {peer['val_loss']:.4f} after {reached:.1f} s = "
                  f"{ratio:.2f} × nanoGPT's wall time (target ≤ 0.50)")
        cpu_ratio = cpu_s / peer["cpu_s"]
    print(f"plot: {plot_path}")
    target_met = (None if peer is None else reached is not None and ratio <= 0.5
                  and (args.gpu_config or rss_after_training_mb <= peer["peak_rss_mb"]))
    print(json.dumps({"val_loss": round(result.last_val_loss, 4), "val_loss_nanogpt_style": round(nano, 4),
                      "val_loss_full_split": round(full.mean_nll, 4), "wall_s": round(wall, 1),
                      "cpu_s": round(cpu_s, 1), "ratio": None if ratio is None else round(ratio, 3),
                      "cpu_ratio": None if cpu_ratio is None else round(cpu_ratio, 3),
                      "time_to_nanogpt_loss_s": None if reached is None else round(reached, 1),
                      "steps": result.steps,
                      "ms_per_step": round(ms_per_step, 1) if math.isfinite(ms_per_step) else None, "batch_size": batch,
                      "preset": args.preset, "optimizer": cfg.optimizer, "lr": cfg.lr, **options,
                      "threads": threads, "compile": args.compile, "dtype": args.dtype, "device": args.device,
                      "gpu_config": args.gpu_config,
                      "vocab_size": meta["vocab_size"], "peak_rss_mb": round(rss_after_training_mb),
                      "nanogpt_val_loss": peer and peer["val_loss"],
                      "nanogpt_wall_s": peer and round(peer["wall_s"], 1),
                      "nanogpt_cpu_s": peer and round(peer["cpu_s"], 1),
                      "nanogpt_ms_per_step": peer and round(peer["ms_per_step"], 1),
                      "nanogpt_peak_rss_mb": peer and round(peer["peak_rss_mb"]),
                      "target_met": target_met, "cpu": cpu, "load_before": load}))
    return 0


if __name__ == "__main__":
    from genlab.errors import GenlabError

    try:
        sys.exit(main())
    except GenlabError as exc:  # data or a recipe genlab refuses (too short a corpus, say): one line
        print(f"shakespeare_char: {exc}", file=sys.stderr)
        sys.exit(2)
