"""Data-parallel scaling: ``genlab train`` with 1 process and under ``torchrun --nproc-per-node 2``.

The same command and the same global batch (so the same optimisation: the loss curves are compared
too), on the baby-Shakespeare GPT (4 layers, 4 heads, 128 dims, block 64) and the tinyshakespeare
store of ``shakespeare_char.py``. Reported: training tokens/s (median over logged windows, after
warm-up) for 1 process with 1 thread, 1 process with 2 threads (all cores), and 2 processes with
1 thread each (gloo over loopback), and the scaling efficiency
``tokens/s(2 processes) / (2 × tokens/s(1 process, 1 thread))``.

On a 2-core machine this efficiency is low by construction — the two ranks share the cores with the
gradient all-reduce and with everything else running — and one process already uses both cores
through intra-op threads. The point of the run is that the same command works and optimises
identically; the speed-up comes on a machine (or cluster) with a core set or a GPU per rank.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shakespeare_char import DATA, build_store  # noqa: E402  (a sibling benchmark script)


def train(base: Path, out: Path, nproc: int, threads: int, steps: int, batch: int) -> dict:
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(base, out)
    flags = ["train", str(out), "--model", "gpt", "--n-layer", "4", "--n-head", "4", "--n-embd", "128",
             "--block-size", "64", "--dropout", "0", "--batch-size", str(batch), "--lr", "2e-3",
             "--warmup-steps", "20", "--lr-decay-steps", str(steps), "--max-steps", str(steps),
             "--eval-interval", str(steps), "--log-interval", "10", "--threads", str(threads),
             "--device", "cpu", "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    if nproc == 1:
        cmd = [sys.executable, "-m", "genlab", *flags]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "genlab", *flags]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_records = [r for r in records if r["kind"] == "train"]
    steady = [r["tokens_per_s"] for r in train_records[2:]] or [r["tokens_per_s"] for r in train_records]
    return {"tokens_per_s": statistics.median(steady), "wall_s": wall,
            "losses": [r["loss"] for r in train_records],
            "val_loss": next(r["val_loss"] for r in records if r["kind"] == "eval")}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--out", type=Path, default=Path("/tmp/genlab-bench/ddp_scaling"))
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=32, help="global batch (sequences per step)")
    args = p.parse_args()

    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    print(f"load average before the runs: {load} ({os.cpu_count()} cores; other jobs may share them)")
    base = args.out / "store"
    if base.exists():
        shutil.rmtree(base)
    build_store(args.data, base)
    setups = {"1 process × 1 thread": (1, 1), "1 process × 2 threads": (1, 2), "2 processes × 1 thread": (2, 1)}
    results = {}
    for name, (nproc, threads) in setups.items():
        results[name] = train(base, args.out / f"run-{nproc}x{threads}", nproc, threads, args.steps, args.batch_size)
        r = results[name]
        print(f"{name:24s} {r['tokens_per_s']:9,.0f} tokens/s   wall {r['wall_s']:.1f} s (start-up included)   "
              f"val loss {r['val_loss']:.4f}", flush=True)

    one, two = results["1 process × 1 thread"], results["2 processes × 1 thread"]
    diff = max(abs(a - b) for a, b in zip(one["losses"], two["losses"]))
    efficiency = two["tokens_per_s"] / (2 * one["tokens_per_s"])
    speedup_vs_threads = two["tokens_per_s"] / results["1 process × 2 threads"]["tokens_per_s"]
    print(f"scaling efficiency (2 processes vs 2 × one 1-thread process): {efficiency:.0%}; "
          f"vs one process using both cores: {speedup_vs_threads:.2f}×")
    print(f"same optimisation: largest difference between the logged loss curves {diff:.2e} "
          f"(val {one['val_loss']:.5f} vs {two['val_loss']:.5f})")
    print(json.dumps({"tokens_per_s_1proc_1thread": round(one["tokens_per_s"]),
                      "tokens_per_s_1proc_2threads": round(results["1 process × 2 threads"]["tokens_per_s"]),
                      "tokens_per_s_2proc": round(two["tokens_per_s"]), "scaling_efficiency": round(efficiency, 3),
                      "speedup_vs_1proc_2threads": round(speedup_vs_threads, 3), "max_loss_curve_diff": diff,
                      "global_batch": args.batch_size, "steps": args.steps, "load_before": load}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
